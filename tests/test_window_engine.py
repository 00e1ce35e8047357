"""The window runs qpclab's executor and writer: `qpclab gui --station FILE` for every procedure, refusals at queue
time shown in the window, and a full disk in mid-run stopping the run with the station safe and the file whole."""

from __future__ import annotations

import errno
import os

import pandas as pd
import pytest
from pymeasure.display.Qt import QtWidgets
from pymeasure.experiment import Procedure

from conftest import wait_until
from qpclab.gui import build_window
from qpclab.instruments.station import default_station_path
from qpclab.live import LiveCurve, LiveLines, LiveMap
from qpclab.procedures import PROCEDURES
from qpclab.procedures.writer import run_status
from qpclab.windows import live_data_for

LABS = default_station_path().parent
#: a packaged lab that has what each procedure needs
LAB_FOR = {"staircase": "qpc_lab", "gate-gate-map": "split_gate_lab", "bias-map": "qpc_lab",
           "field-map": "field_lab", "temperature-map": "field_lab", "shot-noise": "noise_lab",
           "noise-vs-gate": "noise_lab", "hall-sweep": "hall_lab", "tune": "qpc_lab"}


@pytest.mark.parametrize("name", list(PROCEDURES))
def test_gui_with_a_station_file_builds_and_checks_every_procedure(name, qapp, tmp_path):
    """`qpclab gui --station FILE`: the window opens with the file in its input and queues a checked run of the
    procedure's plan (here refused on purpose by a start beyond the limits: nothing is queued, the reason shows)."""
    station = str(LABS / f"{LAB_FOR[name]}.yaml")
    window = build_window(name, station_file=station, directory=str(tmp_path))
    assert window.inputs.station_file.parameter.value == station
    proc = window.make_procedure()
    first_float = next(a for a, p in proc.parameter_objects().items() if getattr(p, "units", None) in ("V", "T", "K")
                       and a.endswith("start"))
    proc.set_values(**{first_float: 1.0e6})
    window.queue(procedure=proc)
    assert not window.manager.experiments.queue  # refused when queued
    assert "not queued" in window.statusBar().currentMessage() and "outside" in window.statusBar().currentMessage()
    assert not list(tmp_path.iterdir())  # no file for a refused run
    window.close()


def test_window_run_with_a_full_disk_stops_safely_and_shows_the_error(qapp, tmp_path, sim_library, monkeypatch):
    import qpclab.procedures.writer as writer

    real_write = os.write
    rows = {"n": 0}

    def write(fd, payload):  # the disk fills up after 25 rows: nothing more gets written, status line included
        if payload.count(b"\n") == 1 and not payload.startswith(b"#"):
            rows["n"] += 1
        if rows["n"] > 25:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, payload)

    monkeypatch.setattr(writer.os, "write", write)
    window = build_window("staircase", directory=str(tmp_path))
    window.show()
    proc = window.make_procedure()
    proc.set_values(start=-1.3, stop=-1.0, step=0.002, time_constant=1e-4)
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: proc.status == Procedure.FAILED and not window.manager.is_running())
    assert "No space left on device" in window.statusBar().currentMessage()
    df = pd.read_csv(experiment.data_filename, comment="#")
    assert len(df) == 25 and df.notna().all().all()
    assert run_status(experiment.data_filename) is None  # the status line could not be written either
    lab = sim_library.lab
    for name, spec in lab.station.outputs().items():
        assert lab.history[name][-1][1] == spec.safe
    window.close()


#: inputs set before queueing in the laptop-screen test (shot noise: no pinch-off reference, few averages)
QUICK_INPUTS = {"gate-gate-map": {}, "shot-noise": {"measure_reference": False, "averages": 2}}


@pytest.mark.parametrize("name", ["gate-gate-map", "shot-noise"])  # the longest parameter lists
def test_window_fits_a_laptop_screen_and_runs_and_aborts(name, qapp, tmp_path, sim_library):
    from pymeasure.display.Qt import QtCore

    window = build_window(name, station_file=str(LABS / f"{LAB_FOR[name]}.yaml"), directory=str(tmp_path))
    window.resize(1366, 768)
    window.show()
    qapp.processEvents()
    assert window.width() <= 1366 and window.height() <= 768
    screen = window.rect()
    for button in (window.queue_button, window.abort_button):
        corner = button.mapTo(window, QtCore.QPoint(0, 0))
        box = QtCore.QRect(corner, button.size())
        assert screen.contains(box) and button.isVisible(), f"{button.text()} is off the screen: {box}"
    assert window.inputs.findChildren(QtWidgets.QScrollArea)  # the parameter panel scrolls
    for attr, value in QUICK_INPUTS[name].items():  # typed into the panel: a first point within seconds
        getattr(window.inputs, attr).setValue(value)
    window.queue_button.click()
    wait_until(qapp, window.manager.is_running, 30)
    experiment = window.manager.experiments[0]
    # shown: the run is in the browser, and its points are drawn in every plot (on the plots' own timer)
    assert window.browser.topLevelItemCount() == 1
    items = [item for item in experiment.curve_list if item is not None]  # the log tab has no plot item
    assert items
    wait_until(qapp, lambda: all(_drawn(item) > 0 for item in items), 60)
    assert not any(item.scattered for item in items if isinstance(item, LiveMap))  # a grid run: on its grid
    assert window.manager.is_running()
    window.abort_button.click()
    wait_until(qapp, lambda: not window.manager.is_running(), 120)
    assert run_status(experiment.data_filename) == "aborted"
    window.close()


def _drawn(item) -> int:
    """Points (or map pixels) a live plot item shows."""
    if isinstance(item, LiveMap):
        return item.filled()
    if isinstance(item, LiveLines):
        return sum(line.displayed_points() for line in item.lines)
    assert isinstance(item, LiveCurve), type(item)
    return item.displayed_points()


def _layout(path) -> list[str]:
    """The file's structure: header keys, the column line, the status word (values left out)."""
    out = []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#Status:"):
            out.append("#Status: " + line.split()[1])
        elif line.startswith("#"):
            out.append(line.split(":", 1)[0])
        elif not out or not out[-1].startswith("columns"):
            out.append("columns " + line.strip())
    return out


def test_command_line_window_and_python_write_the_same_file(qapp, tmp_path, sim_library):
    import qpclab
    from qpclab.cli import main

    params = dict(start=-1.3, stop=-1.25, step=0.01, time_constant=1e-4)
    assert main(["run", "staircase", "--start", "-1.3", "--stop", "-1.25", "--step", "0.01", "--time-constant",
                 "1e-4", "--quiet", "--data", str(tmp_path / "cli.csv")]) == 0
    api = qpclab.run("staircase", data=tmp_path / "api.csv", progress=False, **params)
    window = build_window("staircase", directory=str(tmp_path / "window"))
    proc = window.make_procedure()
    proc.set_values(**params)
    window.queue(procedure=proc)
    wait_until(qapp, lambda: proc.status == Procedure.FINISHED and not window.manager.is_running())
    from_window = window.manager.experiments[0].data_filename
    window.close()
    layouts = [_layout(p) for p in (tmp_path / "cli.csv", api.path, from_window)]
    assert layouts[0] == layouts[1] == layouts[2]
    assert layouts[0][:3] == ["#Procedure", "#Plan", "#Parameters"] and layouts[0][-1] == "#Status: finished"
    frames = [pd.read_csv(p, comment="#") for p in (tmp_path / "cli.csv", api.path, from_window)]
    assert all(list(f["Gate (V)"]) == list(frames[0]["Gate (V)"]) for f in frames)


def test_a_command_line_run_is_refused_while_the_window_runs_on_the_station(qapp, tmp_path, sim_library):
    """Two clients on one station: the window's run holds it; `qpclab run` from a terminal (another process) is
    refused naming the holder, and the window's run goes on undisturbed (no step violation in its history)."""
    import subprocess
    import sys

    window = build_window("staircase", directory=str(tmp_path))
    proc = window.make_procedure()
    proc.set_values(start=-1.4, stop=0.0, step=0.002, time_constant=3e-3)  # ~25 s if not stopped
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: len(live_data_for(experiment.results)) >= 5)
    other = subprocess.run([sys.executable, "-m", "qpclab", "run", "staircase", "--quiet", "--data",
                            str(tmp_path / "second.csv")], capture_output=True, text=True, timeout=120)
    window.abort()
    wait_until(qapp, lambda: not window.manager.is_running(), 60)
    window.close()
    assert other.returncode != 0 and f"PID {os.getpid()}" in other.stderr and "Traceback" not in other.stderr
    assert not (tmp_path / "second.csv").exists()
    spec = sim_library.lab.station.gates["gate"]
    history = list(sim_library.lab.history["gate"])
    assert all(abs(b - a) <= spec.step * (1 + 1e-6) for (_, a), (_, b) in zip(history, history[1:]))
    assert history[-1][1] == spec.safe
