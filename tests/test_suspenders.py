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


def first_set(history, value: float) -> float:
    """The lab time at which the output first held ``value`` (to the 6 digits the source holds)."""
    return next(t for t, v in history if abs(v - value) <= 1e-6 * abs(value) + 1e-12)


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
    after_fault = [v for v in before if first_set(lab.history["gate"], v) > fault_time]
    assert len(after_fault) <= 1, f"{len(after_fault)} points measured after the fault before the pause"
    assert redo <= len(before) - REMEASURE
    # the rows after the pause start at the named point: the very gate values of the plan, measured again
    rows = [ln for ln in text[k:] if ln and not ln.startswith("#")]
    again = [float(ln.split(",")[0]) for ln in rows[: len(before) - redo]]
    assert again == pytest.approx(list(planned()[redo:len(before)]), abs=1e-6)
    # the gate did not move while suspended: nothing between the last point before the pause and the first after
    gate = lab.history["gate"]
    t_last = max(t for t, v in gate if abs(v - before[-1]) < 1e-9)
    moved = [t for t, v in gate if t > t_last and abs(v - before[-1]) > 1e-9]
    # every planned point once in the loaded data, in plan order; pandas sees every row
    run = load_run(path)
    assert list(run.data["Gate (V)"]) == pytest.approx(list(planned()), abs=1e-6)
    assert len(pd.read_csv(path, comment="#")) == len(planned()) + len(before) - redo
    assert run_status(path) == "finished"
    check_all(lab, station, normal_end=True)
    return redo, moved[0]


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
    path = lab_file(tmp_path, base(lockin_reference={"every_s": 0}, mixing_chamber=False),
                    [{"instrument": "lockin", "kind": "unlock", "match": "LIAS? 3", "after": 15, "seconds": 0.5}])
    lab = sim(path)
    result = run_procedure(staircase(path), tmp_path / "run.csv", progress=False)
    assert result.status == "finished"
    (fault,) = [e for e in lab.faults.log if e[2] == "unlock"]
    redo, moved_at = check_suspended_run(lab, path, result.path, fault[0])
    assert moved_at >= fault[0] + 0.5 + SETTLE_S
    assert "unlocked: main" in comments(result.path, "Suspended")[0]
