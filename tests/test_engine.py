"""The engine: every procedure is a plan run by one executor writing one kind of file (issue: measurement engine).

Witnesses: the simulated lab's record of every output value, the files on disk (read as a user reads them), and
exact arithmetic of the planned grids."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qpclab.cli import main
from qpclab.instruments.station import default_station_path
from qpclab.procedures import PROCEDURES, procedure_class
from qpclab.procedures.writer import complete_rows, run_status

FAST = ["--quiet", "--time-constant", "1e-4"]
LABS = default_station_path().parent


def _qpclab(*argv):
    return [sys.executable, "-m", "qpclab", *argv]


def test_every_procedure_declares_a_plan_and_has_no_loop_of_its_own():
    from qpclab.procedures.base import QPCProcedure

    for name in PROCEDURES:
        cls = procedure_class(name)
        for klass in cls.__mro__:
            if klass is QPCProcedure:
                break
            assert not {"measure", "execute", "emit"} & set(vars(klass)), f"{name}: {klass.__name__} loops itself"
        assert "plan" in {a for k in cls.__mro__ for a in vars(k) if k is not QPCProcedure}


def test_noise_procedures_record_what_the_instruments_hold(tmp_path, monkeypatch):
    """The Keithley 2400 holds 6 significant digits: a parked gate at -1.2345678 V and a bias grid that it cannot
    hold exactly must appear in the file as the values the simulated instruments were set to."""
    from qpclab.instruments.sim.backend import SimVisaLibrary

    lab_file = LABS / "noise_lab.yaml"
    library = SimVisaLibrary(str(lab_file))
    library.reset()
    data = tmp_path / "noise.csv"
    code = main(["run", "shot-noise", "--station", str(lab_file), "--gate-value", "-1.2345678",
                 "--measure-reference", "false", "--bias-start", "0.1234567", "--bias-stop", "0.2469134",
                 "--bias-step", "0.0617283", "--averages", "2", "--data", str(data), *FAST])
    assert code == 0
    df = pd.read_csv(data, comment="#")
    history = library.lab.history
    assert set(df["Gate (V)"]) <= {v for _, v in history["gate"]} and len(set(df["Gate (V)"])) == 1
    assert df["Gate (V)"].iloc[0] != -1.2345678 and abs(df["Gate (V)"].iloc[0] + 1.2345678) < 1e-5
    assert set(df["Bias (V)"]) <= {v for _, v in history["bias"]} and len(df) == 3
    library.lab.assert_no_unknown_commands()


# ---- resume: the stored plan, exactly ----------------------------------------------------------------------------

STEP = 0.00028433323860458813


def test_killed_staircase_resumes_to_exactly_the_planned_grid(tmp_path):
    data = tmp_path / "stair.csv"
    argv = ["run", "staircase", "--start", "-1.3", "--stop", "-0.8", "--step", repr(STEP), "--time-constant",
            "1e-4", "--quiet", "--data", str(data)]
    proc = subprocess.Popen(_qpclab(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (data.exists() and complete_rows(data) >= 800):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = complete_rows(data)
    assert 800 <= killed_at < 1759 and run_status(data) is None

    done = subprocess.run(_qpclab("resume", str(data), "--quiet"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert run_status(data) == "finished"
    df = pd.read_csv(data, comment="#")
    # the grid: round(0.5 / STEP) = 1758 steps of exactly 0.5/1758 V, 1759 points, computed here independently
    n = round(0.5 / STEP)
    planned = np.array([-1.3 + 0.5 * k / n for k in range(n)] + [-0.8])
    assert len(df) == n + 1 == 1759
    # the Keithley holds 6 significant digits: every row within half a digit of its planned point, in order
    assert np.all(np.abs(df["Gate (V)"].to_numpy() - planned) <= 5e-6 * np.abs(planned))
    t = df["Time (s)"].to_numpy()
    assert np.all(np.diff(t) > 0)  # the time column continues across the resume
    text = data.read_text()
    assert text.count("#Resumed:") == 1 and f"after {killed_at} points" in text


def _forged(tmp_path, procedure_line: str, plan_name: str) -> Path:
    path = tmp_path / "forged.csv"
    path.write_text(f"#Procedure: <{procedure_line}>\n"
                    f'#Plan: {{"format": 1, "procedure": "{plan_name}", "parameters": {{}}, "points": 3}}\n'
                    "#Data:\nGate (V),X (V)\n-1.0,0.0\n")
    return path


@pytest.mark.parametrize("procedure_line, plan_name, message", [
    ("os.abort", "os.abort", "unknown procedure"),
    ("this.X", "this", "unknown procedure"),
    ("qpclab.procedures.maps.BiasMap", "staircase", "contradicts itself"),
])
def test_resume_refuses_a_file_naming_another_procedure_and_imports_nothing(tmp_path, capsys, procedure_line,
                                                                            plan_name, message):
    before = set(sys.modules)
    assert main(["resume", str(_forged(tmp_path, procedure_line, plan_name)), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert "this" not in set(sys.modules) - before


# ---- I/O errors stop the run like an abort ------------------------------------------------------------------------


def test_disk_full_in_mid_run_stops_safely_and_keeps_every_whole_row(tmp_path, sim_library, monkeypatch, capsys):
    import qpclab.procedures.writer as writer

    data = tmp_path / "stair.csv"
    real_write = os.write
    calls = {"rows": 0}

    def write(fd, payload):  # the disk fills up after 30 rows, in the middle of a line
        if payload.count(b"\n") == 1 and not payload.startswith(b"#"):
            calls["rows"] += 1
            if calls["rows"] > 30:
                real_write(fd, payload[: len(payload) // 2])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, payload)

    monkeypatch.setattr(writer.os, "write", write)
    code = main(["run", "staircase", "--start", "-1.3", "--stop", "-1.0", "--step", "0.002", "--data", str(data),
                 *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and "No space left on device" in err[-1] and "Traceback" not in "\n".join(err)
    assert data.read_bytes().endswith(b"\n")  # no partial last line
    df = pd.read_csv(data, comment="#")
    assert len(df) == 30 and df.notna().all().all()
    lab = sim_library.lab
    for name, spec in lab.station.outputs().items():
        assert lab.history[name][-1][1] == spec.safe  # every output at its safe value


def test_file_size_limit_from_the_command_line(tmp_path):
    data = tmp_path / "stair.csv"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))

    done = subprocess.run(_qpclab("run", "staircase", "--start", "-1.3", "--stop", "-1.0", "--step", "0.002",
                                  "--data", str(data), *FAST), capture_output=True, text=True, timeout=120,
                          preexec_fn=limit)
    assert done.returncode != 0
    assert "File too large" in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr
    assert data.read_bytes().endswith(b"\n") and data.stat().st_size <= 12_000
    df = pd.read_csv(data, comment="#")
    assert 0 < len(df) < 151 and df.notna().all().all()


# ---- the dry run walks the same plan --------------------------------------------------------------------------


@pytest.mark.parametrize("argv, option", [
    (["staircase", "--time-constant", "-1"], "--time-constant"),
    (["staircase", "--step", "1e-320"], "--step"),
    (["bias-map", "--bias-step", "0"], "--bias-step"),
    (["staircase", "--repeats", "0"], "--repeats"),
    (["staircase", "--filter-slope", "7"], "--filter-slope"),
])
def test_dry_run_refuses_out_of_range_parameters_naming_the_option(argv, option, capsys, sim_library):
    assert main(["run", *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["staircase", "--repeats", "1000000000000"],
    ["staircase", "--step", "1e-6", "--repeats", "10000", "--direction", "up and down"],
    ["bias-map", "--step", "1e-6", "--bias-step", "1e-6"],
])
def test_huge_plans_are_answered_at_once_with_bounded_memory(argv, capsys):
    tracemalloc.start()
    t0 = time.perf_counter()
    code = main(["run", *argv, "--dry-run"])
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out = capsys.readouterr()
    print(f"{argv}: answered in {seconds:.3f} s, peak {peak / 1e6:.1f} MB")
    assert code == 2 and ("more than qpclab runs" in out.err or "--repeats" in out.err)
    assert peak < 20e6


# time constants of a few ms: the settling (what a fridge run spends its time on) dominates the software overhead,
# which on a loaded shared machine can grow tenfold; the bias map at 10 ms, as the simulator's self-consistent
# solve of a biased QPC costs it several ms per point that no real instrument spends
@pytest.mark.parametrize("argv", [
    ["staircase", "--start", "-1.4", "--stop", "-0.9", "--step", "0.006", "--time-constant", "0.003"],
    ["bias-map", "--start", "-1.3", "--stop", "-1.0", "--step", "0.03", "--bias-start", "-0.5", "--bias-stop",
     "0.5", "--bias-step", "0.5", "--time-constant", "0.01"],
    ["field-map", "FAST_FIELD", "--start", "-1.3", "--stop", "-1.2", "--step", "0.01", "--field-start", "0",
     "--field-stop", "0.3", "--field-step", "0.1", "--time-constant", "0.003"],
    ["temperature-map", "FAST_FIELD", "--start", "-1.3", "--stop", "-1.2", "--step", "0.01",
     "--temperature-start", "0.05", "--temperature-stop", "0.15", "--temperature-step", "0.05",
     "--time-constant", "0.003"],
], ids=["staircase", "bias-map", "field-map", "temperature-map"])
def test_dry_run_estimate_is_within_a_quarter_of_the_run_time(argv, tmp_path, capsys):
    """On the packaged labs (the field and temperature maps on fast_field_lab.yaml: a 2 T/s magnet and a mixing
    chamber that settles in 0.2 s, stated in its station section)."""
    from qpclab.instruments.sim.backend import SimVisaLibrary
    from qpclab.procedures.runner import prepare, run_procedure

    station = LABS / ("fast_field_lab.yaml" if "FAST_FIELD" in argv else "qpc_lab.yaml")
    library = SimVisaLibrary(str(station))
    library.reset()
    name, *options = [a for a in argv if a != "FAST_FIELD"]
    values = dict(zip(options[::2], options[1::2]))
    proc = procedure_class(name)()
    proc.set_values(station_file=str(station), **{k[2:].replace("-", "_"): float(v) for k, v in values.items()})
    _, _, report = prepare(proc)
    result = run_procedure(proc, tmp_path / "run.csv", progress=False)
    ratio = report.estimate_s / result.seconds
    print(f"{name}: estimated {report.estimate_s:.2f} s, ran {result.seconds:.2f} s, ratio {ratio:.3f}")
    assert result.status == "finished"
    assert 0.75 <= ratio <= 1.25
    del library


# ---- one writer for every front end ----------------------------------------------------------------------------


def test_python_api_runs_and_stops_in_the_background(tmp_path, sim_library):
    import qpclab

    run = qpclab.run("staircase", start=-1.3, stop=-1.2, step=0.005, time_constant=1e-4, data=tmp_path / "a.csv",
                     progress=False)
    assert run.status == "finished" and run.points == 21 and len(run.data) == 21
    assert run_status(run.path) == "finished"
    with pytest.raises(ValueError, match="--time-constant"):
        qpclab.run("staircase", time_constant=-1, data=tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()

    handle = qpclab.start("staircase", start=-1.4, stop=0.0, step=0.002, time_constant=0.003,
                          data=tmp_path / "b.csv")
    while handle.progress[0] < 10:
        time.sleep(0.01)
    handle.stop()
    stopped = handle.wait(timeout=60)
    assert stopped.status == "aborted" and 10 <= stopped.points < 701
    assert run_status(stopped.path) == "aborted" and len(stopped.data) == stopped.points
    lab = sim_library.lab
    assert lab.history["gate"][-1][1] == lab.station.gates["gate"].safe


def test_a_decimal_grid_is_written_as_the_decimals_it_is(tmp_path, capsys):
    """0.01 V steps from -1.0 V: the planned virtual-gate values are -0.99, -0.98... (binary arithmetic alone makes
    -0.9400000000000001 of the seventh); the QDAC lab's virtual gate records the planned value it reached."""
    from qpclab.instruments.sim.backend import SimVisaLibrary

    library = SimVisaLibrary(str(LABS / "qdac_lab.yaml"))
    library.reset()
    data = tmp_path / "split.csv"
    assert main(["run", "staircase", "--station", "qdac", "--gate", "split", "--start", "-1.0", "--stop", "-0.9",
                 "--step", "0.01", "--data", str(data), *FAST]) == 0
    cells = [line.split(",")[0] for line in data.read_text().splitlines() if line and not line.startswith("#")]
    assert cells[1:] == [f"{-1.0 + k / 100:.2f}".replace("-1.00", "-1.0").replace("-0.90", "-0.9") for k in range(11)]
    assert -1.0 + (-0.9 - -1.0) * 6 / 10 != -0.94  # what the grid would hold without decimals
    del library


def test_a_labs_repr_shows_its_state_without_talking_to_the_instruments(sim_library, monkeypatch):
    from qpclab.instruments.connect import connect
    from qpclab.instruments.station import load_station

    lab = connect(load_station())
    try:
        lab.gates["gate"].ramp_to(-0.01)
        sent = []
        original = type(sim_library).write
        monkeypatch.setattr(type(sim_library), "write", lambda self, s, d: sent.append(d) or original(self, s, d))
        text = repr(lab)
        assert not sent  # a repr does not talk on the bus
        assert "gate_smu: keithley2400 at GPIB0::24::INSTR" in text and "lockin: sr830 at GPIB0::8::INSTR" in text
        assert "<SafeGate gate on gate_smu: -0.01 V" in text and "limits [-2, 0.3] V" in text
        assert sim_library.lab.history["gate"][-1][1] == -0.01
        monkeypatch.undo()
    finally:
        lab.gates["gate"].ramp_to(0.0)
        lab.close()
