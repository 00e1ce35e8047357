"""Suspenders (issue 13): a run pauses while the fridge, the magnet or the lock-in cannot be trusted, re-measures.

Witnesses: the simulated lab (when a fault struck, every output's record), an independent calculation of the
mixing chamber's relaxation, and the file read as a user reads it (qpclab's loader and pandas)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qpclab.analysis.io import load_run
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import StationError, default_station_path, load_station
from qpclab.procedures.executor import RunControl
from qpclab.procedures.runner import prepare, run_procedure
from qpclab.procedures.staircase import Staircase
from qpclab.procedures.writer import row_points, run_status

from test_safe_exits import check_all

FIELD_LAB = default_station_path().parent / "field_lab.yaml"
START, STOP, STEP = -1.0, -0.7, 0.01  # 31 points
TAU_S = 0.3  # the test fridge's thermal time constant (the real one: 30 s)
SETTLE_S = 0.3
REMEASURE = 3


def lab_file(tmp_path: Path, suspenders: dict, faults: list, name: str = "lab.yaml") -> Path:
    data = yaml.safe_load(FIELD_LAB.read_text(encoding="utf-8"))
    data["station"]["suspenders"] = suspenders
    data["simulation"]["faults"] = faults
    data["simulation"]["fridge"]["thermal_time_constant_s"] = TAU_S
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def base(**kw) -> dict:
    return {"settle_s": SETTLE_S, "remeasure": REMEASURE, "max_s": 30.0, **kw}


def staircase(path: Path) -> Staircase:
    p = Staircase()
    p.station_file = str(path)
    p.start, p.stop, p.step, p.time_constant = START, STOP, STEP, 1e-4
    return p


@pytest.fixture
def sim(request):
    libs = []

    def make(path: Path):
        lib = SimVisaLibrary(str(path))
        lib.reset()
        libs.append(lib)
        return lib.lab

    yield make
    for lib in libs:
        lib.lab.assert_no_unknown_commands()
        lib.reset()


def comments(path: Path, name: str) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln.startswith(f"#{name}:")]


def planned() -> np.ndarray:
    n = round(abs(STOP - START) / STEP)
    return np.array([START + (STOP - START) * k / n for k in range(n)] + [STOP])


def first_set(history, value: float, after: float = -math.inf) -> float:
    """The lab time at which the output first held ``value`` (to the 6 digits the source holds) after ``after``."""
    return next(t for t, v in history if t >= after and abs(v - value) <= 1e-6 * abs(value) + 1e-12)


def check_suspended_run(lab, station: Path, path: Path, fault_time: float) -> tuple[int, float]:
    """The common witnesses; returns (the re-measured first point, when the gate moved again after the pause)."""
    text = path.read_text().splitlines()
    (suspended,) = comments(path, "Suspended")
    (over,) = comments(path, "Suspension over")
    redo = int(suspended.rsplit(" ", 1)[1])
    assert over.endswith(f"plan point {redo}")
    # rows before the pause, and when the simulator set their gate values
    k = text.index(suspended)
    body = [ln for ln in text[:k] if ln and not ln.startswith("#")][1:]
    before = [float(ln.split(",")[0]) for ln in body]
    gate = lab.history["gate"]
    swept = first_set(gate, START)  # the ramp from 0 V to the start is over: the sweep goes one way to the pause
    after_fault = [v for v in before if first_set(gate, v, swept) > fault_time]
    assert len(after_fault) <= 1, f"{len(after_fault)} points measured after the fault before the pause"
    assert redo <= len(before) - REMEASURE
    # the rows after the pause start at the named point: the very gate values of the plan, measured again
    rows = [ln for ln in text[k:] if ln and not ln.startswith("#")]
    again = [float(ln.split(",")[0]) for ln in rows[: len(before) - redo]]
    assert again == pytest.approx(list(planned()[redo:len(before)]), abs=1e-6)
    # when the measurement went on: the gate reached the first re-measured value after the last point before
    back_at = first_set(gate, planned()[redo], first_set(gate, before[-1], swept))
    # every planned point once in the loaded data, in plan order; pandas sees every row
    run = load_run(path)
    assert list(run.data["Gate (V)"]) == pytest.approx(list(planned()), abs=1e-6)
    assert len(pd.read_csv(path, comment="#")) == len(planned()) + len(before) - redo
    assert run_status(path) == "finished"
    check_all(lab, station, normal_end=True)
    return redo, back_at


def test_mixing_chamber_excursion_pauses_within_a_point_and_resumes_after_cooling(tmp_path, sim):
    peak, ceiling, resume = 0.5, 0.1, 0.03
    path = lab_file(tmp_path, base(mixing_chamber={"ceiling_K": ceiling, "resume_K": resume, "every_s": 0}),
                    [{"instrument": "fridge_ls372", "kind": "warm_up", "after": 25, "peak_K": peak}])
    lab = sim(path)
    events = []
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False,
                           control=RunControl(on_event=events.append))
    assert result.status == "finished"
    (fault,) = [e for e in lab.faults.log if e[2] == "warm_up"]
    redo, moved_at = check_suspended_run(lab, path, result.path, fault[0])
    # independently: the mixing chamber relaxes from the peak toward base with TAU_S; below `resume` from t_cool
    base_K = 0.010
    t_cool = fault[0] + TAU_S * math.log((peak - base_K) / (resume - base_K))
    assert moved_at >= t_cool + SETTLE_S - 0.01
    (suspended,) = comments(result.path, "Suspended")
    assert "mixing chamber" in suspended and " K: above 0.1 K" in suspended
    assert [e.split(":")[0] for e in events] == ["Suspended", "Suspension over"]


def test_magnet_quench_suspends_until_the_field_holds_again(tmp_path, sim):
    from qpclab.instruments.connect import connect

    path = lab_file(tmp_path, base(magnet={"tolerance_T": 1e-3, "every_s": 0}, mixing_chamber=False),
                    [{"instrument": "magnet_supply", "kind": "quench", "after": 60, "reramp_after_s": 0.2}])
    lab = sim(path)
    pre = connect(load_station(path), needed={"magnet_supply"})
    pre.magnet.ramp_to(0.005)
    pre.magnet.wait_until_holding()
    pre.close()
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False)
    assert result.status == "finished"
    (fault,) = [e for e in lab.faults.log if e[2] == "quench"]
    _, moved_at = check_suspended_run(lab, path, result.path, fault[0])
    # the operator resets the quench 0.2 s later; the supply ramps back at the station's 0.01 T/s; then settling
    assert moved_at >= fault[0] + 0.2 + 0.005 / 0.01 + SETTLE_S - 0.01
    (suspended,) = comments(result.path, "Suspended")
    assert "magnet 0 T" in suspended
    assert lab.field_T == pytest.approx(0.005)


def test_lockin_reference_unlock_suspends_and_resumes(tmp_path, sim):
    path = lab_file(tmp_path, base(lockin_reference={"every_s": 0}, mixing_chamber=False, hold={"gate": -0.3}),
                    [{"instrument": "lockin", "kind": "unlock", "match": "LIAS? 3", "after": 15, "seconds": 0.5}])
    lab = sim(path)
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False)
    assert result.status == "finished"
    (fault,) = [e for e in lab.faults.log if e[2] == "unlock"]
    redo, moved_at = check_suspended_run(lab, path, result.path, fault[0])
    assert moved_at >= fault[0] + 0.5 + SETTLE_S
    assert "unlocked: main" in comments(result.path, "Suspended")[0]
    # held at -0.3 V while suspended (reached by SafeGate's ramp: check_all), back before measuring again
    assert [t for t, v in lab.history["gate"] if v == -0.3 and fault[0] < t < moved_at]


NEVER_CLEARS = {"ceiling_K": 0.1, "resume_K": 0.005, "every_s": 0}  # below the fridge's 10 mK base
WARM_UP = [{"instrument": "fridge_ls372", "kind": "warm_up", "after": 25, "peak_K": 0.5}]


def test_a_suspension_longer_than_the_maximum_ends_the_run_safely(tmp_path, sim):
    """With a hold value: the gate ramps (SafeGate's steps and rate) to it, and the run ends at the safe values."""
    path = lab_file(tmp_path, base(mixing_chamber=NEVER_CLEARS, max_s=0.5, hold={"gate": -0.3}), WARM_UP)
    lab = sim(path)
    events = []
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False,
                           control=RunControl(on_event=events.append))
    assert result.status == "aborted"
    check_all(lab, path, normal_end=False)  # every change within step, rate and limits; ends at the safe value
    assert -0.3 in [v for _, v in lab.history["gate"]]
    status = comments(result.path, "Status")
    assert len(status) == 1 and status[0].startswith("#Status: aborted (SuspensionTimeout: suspended longer than "
                                                     "0.5 s: mixing chamber")
    assert comments(result.path, "Suspended") and not comments(result.path, "Suspension over")
    assert events[-1].startswith("Aborted: suspended longer than 0.5 s")


def _run_in_thread(path: Path, data: Path, control: RunControl):
    import threading

    out = {}
    thread = threading.Thread(target=lambda: out.update(result=run_procedure(staircase(path), data, progress=False,
                                                                              control=control)))
    thread.start()
    deadline = time.monotonic() + 60
    while control.phase != "suspended" and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert control.phase == "suspended" and control.suspended.startswith("suspended: mixing chamber")
    return thread, out


def test_a_stop_request_ends_a_suspension_and_the_run_safely(tmp_path, sim):
    path = lab_file(tmp_path, base(mixing_chamber=NEVER_CLEARS), WARM_UP)
    lab = sim(path)
    control = RunControl(on_event=lambda line: None)
    thread, out = _run_in_thread(path, tmp_path / "run.csv", control)
    control.stop()  # what Ctrl-C, the window's Abort and RunHandle.stop() do
    thread.join(60)
    assert out["result"].status == "aborted"
    assert run_status(out["result"].path) == "aborted"
    check_all(lab, path, normal_end=False)


def test_the_user_resumes_a_suspension_and_the_condition_stays_off(tmp_path, sim):
    path = lab_file(tmp_path, base(mixing_chamber=NEVER_CLEARS), WARM_UP)
    lab = sim(path)
    control = RunControl(on_event=lambda line: None)
    thread, out = _run_in_thread(path, tmp_path / "run.csv", control)
    control.resume()  # the window's Resume
    thread.join(60)
    assert out["result"].status == "finished"
    (over,) = comments(out["result"].path, "Suspension over")
    assert "resumed by the user; off for the rest of the run: mixing chamber" in over
    assert list(load_run(out["result"].path).data["Gate (V)"]) == pytest.approx(list(planned()), abs=1e-6)
    check_all(lab, path, normal_end=True)


def test_sigkill_during_a_suspension_leaves_a_file_that_resume_completes(tmp_path, sim):
    path = lab_file(tmp_path, base(mixing_chamber=NEVER_CLEARS), WARM_UP)
    data = tmp_path / "run.csv"
    proc = subprocess.Popen([sys.executable, "-m", "qpclab", "run", "staircase", "--station", str(path),
                             "--start", str(START), "--stop", str(STOP), "--step", str(STEP), "--time-constant",
                             "1e-4", "--quiet", "--data", str(data)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (data.exists() and comments(data, "Suspended")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert b"qpclab: Suspended: " in proc.stderr.read()  # the command line prints each event
    (suspended,) = comments(data, "Suspended")
    redo = int(suspended.rsplit(" ", 1)[1])
    rows_before = len(pd.read_csv(data, comment="#"))
    assert redo < rows_before and run_status(data) is None
    # the fridge is cold again (the lab file without its fault); `qpclab resume` completes the plan
    assert lab_file(tmp_path, base(mixing_chamber=NEVER_CLEARS), []) == path
    lab = sim(path)
    from qpclab.cli import main

    assert main(["resume", str(data), "--quiet"]) == 0
    assert run_status(data) == "finished"
    text = data.read_text().splitlines()
    assert text[-1].endswith(f", {len(planned())} points")
    (resumed,) = [ln for ln in text if ln.startswith("#Resumed:")]
    assert resumed.endswith(f"after {redo} points")  # counted in plan points: the re-measure starts there
    points, end = row_points(text)
    assert end == len(planned()) and sorted(set(points)) == list(range(len(planned())))
    assert list(load_run(data).data["Gate (V)"]) == pytest.approx(list(planned()), abs=1e-6)
    check_all(lab, path, normal_end=True)


def test_the_dry_run_lists_the_active_suspenders_and_bad_settings_are_refused_before_anything_opens(tmp_path):
    def report(suspenders):
        path = lab_file(tmp_path, suspenders, [], name=f"lab{len(list(tmp_path.iterdir()))}.yaml")
        return prepare(staircase(path))[2].text()

    default = report({})  # a station with a thermometer: the mixing-chamber ceiling, relative to the start
    assert "suspender mixing chamber: above twice the start temperature" in default
    text = report(base(mixing_chamber={"ceiling_K": 0.1, "resume_K": 0.05, "every_s": 2}, lockin_reference={},
                       magnet={"tolerance_T": 0.002}, hold={"gate": -0.3},
                       readings={"still": {"instrument": "fridge_ls372", "query": "RDGK? 5", "above": 1.2}}))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("suspender ")]
    assert len(lines) == 5  # four conditions, then what a trip does
    assert "above 0.1 K (resumes at or below 0.05 K), checked every 2 s" in lines[0]
    assert "gate to -0.3 V" in lines[-1] and f"last {REMEASURE} point(s)" in lines[-1]
    assert "suspender" not in report({"mixing_chamber": False})
    for bad, key in (({"mixing_chamber": {"ceiling_K": 0.1, "resume_K": 0.2}}, "mixing_chamber.resume_K"),
                     ({"hold": {"gate": 5.0}}, "hold.gate"), ({"settle": 3}, "station.suspenders"),
                     ({"readings": {"x": {"instrument": "nope", "query": "A?", "above": 1}}}, "instrument"),
                     ({"remeasure": -1}, "remeasure")):
        with pytest.raises(StationError, match=key):
            report(bad)


def test_the_window_shows_a_suspended_run_with_its_reason_and_resumes_it(tmp_path, sim):
    from qpclab.gui import build_window
    from pymeasure.display.Qt import QtWidgets
    from conftest import wait_until

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    path = lab_file(tmp_path, base(mixing_chamber=NEVER_CLEARS), WARM_UP)
    lab = sim(path)
    window = build_window("staircase", station_file=str(path), directory=str(tmp_path))
    for name, value in (("start", START), ("stop", STOP), ("step", STEP), ("time_constant", 1e-4)):
        getattr(window.inputs, name).setValue(value)
    assert not window.resume_button.isEnabled()
    window.queue_button.click()
    wait_until(app, lambda: window.resume_button.isEnabled(), 60)
    assert window.statusBar().currentMessage().startswith("suspended: mixing chamber")
    window.resume_button.click()
    wait_until(app, lambda: not window.manager.is_running(), 60)
    data = window.manager.experiments[0].data_filename
    assert run_status(data) == "finished" and "resumed by the user" in comments(Path(data), "Suspension over")[0]
    assert not window.resume_button.isEnabled() and window.statusBar().currentMessage() == ""
    check_all(lab, path, normal_end=True)
    window.close()


def test_an_overload_auto_ranging_cannot_cure_suspends_when_configured(tmp_path, sim):
    """A pickup spike beyond every full scale for 60 lock-in messages: auto-ranging gives up (it ended the run
    before); with ``overload: true`` the run waits until the lock-in reads without overload, then re-measures."""
    spike = [{"instrument": "lockin", "kind": "overload", "match": "SNAP", "after": 15, "count": 60, "spike_V": 2.0}]
    path = lab_file(tmp_path, base(overload=True, mixing_chamber=False), spike)
    lab = sim(path)
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False)
    assert result.status == "finished"
    (suspended,) = comments(result.path, "Suspended")
    assert "overload that auto-ranging cannot cure" in suspended
    assert "(overload cleared)" in comments(result.path, "Suspension over")[0]
    assert list(load_run(result.path).data["Gate (V)"]) == pytest.approx(list(planned()), abs=1e-6)
    check_all(lab, path, normal_end=True)
    # without it, the same spike ends the run (station safe) as before
    path = lab_file(tmp_path, base(mixing_chamber=False), spike, name="no_overload.yaml")
    lab = sim(path)
    with pytest.raises(Exception, match="auto-ranging cannot cure"):
        run_procedure(staircase(path), tmp_path / "run2.csv", progress=False)
    check_all(lab, path, normal_end=False)


def test_a_user_defined_reading_suspends_with_its_own_limits(tmp_path, sim):
    """Any query against a limit: here the Lake Shore's mixing-chamber channel, read as text by qpclab."""
    reading = {"instrument": "fridge_ls372", "query": "RDGK? 6", "above": 0.1, "resume_above": 0.03, "every_s": 0}
    path = lab_file(tmp_path, base(readings={"mc": reading}, mixing_chamber=False), WARM_UP)
    lab = sim(path)
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False)
    (fault,) = [e for e in lab.faults.log if e[2] == "warm_up"]
    _, moved_at = check_suspended_run(lab, path, result.path, fault[0])
    assert moved_at >= fault[0] + TAU_S * math.log((0.5 - 0.010) / (0.03 - 0.010)) + SETTLE_S - 0.01
    assert "mc " in comments(result.path, "Suspended")[0] and "'RDGK? 6' above 0.1" in comments(result.path,
                                                                                                 "Suspended")[0]
