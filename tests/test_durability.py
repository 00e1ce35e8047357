"""A measurement is never lost: every point on disk as measured, a hard kill leaves a parseable file marked
incomplete, and a resume completes the map into the same file without re-measuring what is there."""

import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from qpclab.procedures.runner import complete_rows, run_status

MAP_ARGS = ["bias-map", "--start", "-1.3", "--stop", "-0.9", "--step", "0.01", "--bias-start", "-1.0",
            "--bias-stop", "1.0", "--bias-step", "0.5", "--time-constant", "0.003", "--quiet"]
N_FAST, N_SLOW = 41, 5


def _qpclab(*argv, **kw):
    return [sys.executable, "-m", "qpclab", *argv]


def test_sigkill_keeps_every_point_and_resume_completes_the_map(tmp_path):
    data = tmp_path / "map.csv"
    proc = subprocess.Popen(_qpclab("run", *MAP_ARGS, "--data", str(data)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    # wait until part of the map is on disk, then kill hard
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if data.exists() and complete_rows(data) >= 60:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    rows_at_kill = complete_rows(data)
    assert 60 <= rows_at_kill < N_FAST * N_SLOW
    assert run_status(data) is None  # no status line: marked incomplete
    df = pd.read_csv(data, comment="#", on_bad_lines="skip")
    assert len(df) >= rows_at_kill - 1 and df.notna().all().all()

    done = subprocess.run(_qpclab("resume", str(data), "--quiet"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert run_status(data) == "finished"
    df = pd.read_csv(data, comment="#")
    assert len(df) == N_FAST * N_SLOW  # every grid point exactly once
    grid = df.groupby(["Bias (V)", "Gate (V)"]).size()
    assert len(grid) == N_FAST * N_SLOW and (grid == 1).all()
    # the resumed half is the same physics as the first half: at zero bias, the staircase rises monotonically
    zero = df[np.isclose(df["Bias (V)"], 0.0)].sort_values("Gate (V)")["G/G0"].to_numpy()
    assert np.all(np.diff(zero) > -0.01)


def test_finished_run_is_marked_and_cannot_be_resumed(tmp_path, sim_library):
    from qpclab.cli import main

    data = tmp_path / "stair.csv"
    assert main(["run", "staircase", "--start", "-1.3", "--stop", "-1.2", "--step", "0.01", "--time-constant",
                 "1e-4", "--quiet", "--data", str(data)]) == 0
    assert run_status(data) == "finished"
    assert main(["resume", str(data), "--quiet"]) == 2


def test_each_point_is_on_disk_in_pymeasures_format_before_the_next_starts(tmp_path, sim_library):
    """The runner's fast line formatting writes what pymeasure's ``Results.format`` writes (the conductances, derived
    from X, with 12 significant digits), and each line is in the file (not in a buffer of qpclab's) when the
    procedure goes on to the next point."""
    from pymeasure.experiment import Results

    from qpclab.analysis.constants import G0
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    data = tmp_path / "stair.csv"
    p = Staircase()
    p.start, p.stop, p.step, p.time_constant = -1.3, -1.2, 0.01, 1e-4
    on_disk = []

    def on_point(record):  # called after the runner wrote the point: read the file as another process would
        with open(data, "rb") as fh:
            on_disk.append(fh.read().decode().splitlines()[-1])

    run_procedure(p, data, progress=False, on_point=on_point)
    results = Results(p, str(tmp_path / "unused.csv"))
    lines = [ln for ln in data.read_text().splitlines() if ln and not ln.startswith("#")][1:]
    assert len(lines) == len(on_disk) == 11
    assert on_disk == lines
    columns = p.DATA_COLUMNS
    derived = ("G (S)", "G/G0")
    # the qpc_lab circuit: 0.1 V sine out, divider 1e-4, preamp 1e8 V/A, 1500 ohm in series
    full_scale = 0.1 * 1e-4 * 1e8
    for line in lines:
        text = dict(zip(columns, line.split(",")))
        record = {c: (int(v) if c == "Sweep" else float(v)) for c, v in text.items()}
        for c in columns:
            if c not in derived:
                assert results.format({**record, c: record[c]}).split(",")[columns.index(c)] == text[c]
            else:
                assert len(text[c].lstrip("-").split("e")[0].replace(".", "").lstrip("0")) <= 12
        x = record["X (V)"]
        assert record["G (S)"] == pytest.approx(x / (full_scale - 1500.0 * x), rel=1e-11)
        assert record["G/G0"] == pytest.approx(record["G (S)"] / G0, rel=1e-11)
