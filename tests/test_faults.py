"""Fault-injection matrix: each fault kind x each procedure on the simulated labs.

Every run either completes correctly (the same data as a run without the fault, within the noise) or stops with a
clear error naming the instrument; in both cases every measured point is on disk (the status line counts them)
and the gate history stays within every limit, step and rate, ending at the safe (or end) values.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from qpclab.cli import main
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import default_station_path, load_station

LABS = default_station_path().parent

# procedure -> (lab file, lock-in name, source name, command-line arguments)
# Not yet in the matrix (issue 7 open): shot-noise and noise-vs-gate (the SR86x/SR785 adapters on the noise lab do
# not survive every fault yet) and hall-sweep (its two lock-ins are read without the overload handling).
PROCEDURES = {
    "staircase": ("qpc_lab.yaml", "lockin", "gate_smu",
                  ["--start", "-1.25", "--stop", "-1.1", "--step", "0.005"]),
    "bias-map": ("qpc_lab.yaml", "lockin", "gate_smu",
                 ["--start", "-1.25", "--stop", "-1.15", "--step", "0.01", "--bias-start", "0", "--bias-stop", "0.5",
                  "--bias-step", "0.5"]),
    "gate-gate-map": ("split_gate_lab.yaml", "lockin", "gate_smu",
                      ["--gate", "gate_left", "--gate2", "gate_right", "--start", "-1.3", "--stop", "-1.2", "--step",
                       "0.01", "--gate2-start", "-1.3", "--gate2-stop", "-1.25", "--gate2-step", "0.05"]),
    "field-map": ("field_lab.yaml", "lockin", "gate_smu",
                  ["--start", "-1.25", "--stop", "-1.15", "--step", "0.01", "--field-start", "0", "--field-stop", "1",
                   "--field-step", "1"]),
    "temperature-map": ("field_lab.yaml", "lockin", "gate_smu",
                        ["--start", "-1.25", "--stop", "-1.15", "--step", "0.01", "--temperature-start", "0.05",
                         "--temperature-stop", "0.1", "--temperature-step", "0.05"]),
}

# fault kind -> (which instrument: "lockin" or "source", extra fault settings, may the run fail?)
FAULTS = {
    # lock-in faults strike after its set-up (~15 messages), in the measurement; source faults during the ramps
    "timeout": ("lockin", {"after": 25, "count": 1}, False),
    "garbage": ("lockin", {"after": 25, "count": 1}, False),
    "truncated": ("lockin", {"after": 25, "count": 1}, False),
    "disconnect": ("source", {"after": 12, "count": 1}, False),  # comes back: the retry carries on
    "disconnect_for_good": ("lockin", {"after": 25, "count": -1}, True),
    "error": ("source", {"after": 12, "count": 1, "code": -350, "message": "Queue overflow"}, True),
    "overload": ("lockin", {"after": 25, "count": 2, "spike_V": 2.0}, False),
    "compliance": ("source", {"after": 12, "load_ohm": 1.0e3}, True),
}

ARGS_ALL = ["--time-constant", "1e-4", "--quiet"]


def station_copy(tmp_path, procedure: str, fault: dict | None) -> str:
    lab, lockin, source, _ = PROCEDURES[procedure]
    data = yaml.safe_load((LABS / lab).read_text())
    sim = data["simulation"]
    if "magnet" in data["station"]:  # a test station: a fast magnet and fridge
        data["station"]["magnet"]["rate_T_per_s"] = 2.0
        sim.setdefault("magnet", {})["max_ramp_rate_A_per_s"] = 40.0
        sim.setdefault("fridge", {})["thermal_time_constant_s"] = 0.02
    for inst in data["station"]["instruments"].values():
        inst["timeout_s"] = 0.3  # a lost reply costs 0.3 s, not 2 s
    if fault is not None:
        sim["faults"] = [fault]
    path = tmp_path / f"{procedure}-{'fault' if fault else 'clean'}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def run(procedure: str, station: str, data_path) -> tuple[int, str]:
    code = main(["run", procedure, "--station", station, "--data", str(data_path)] + PROCEDURES[procedure][3]
                + ARGS_ALL)
    return code, data_path.read_text() if data_path.exists() else ""


def status_line(text: str) -> tuple[str, int]:
    lines = [ln for ln in text.splitlines() if ln.startswith("#Status:")]
    assert lines, "the run has no status line"
    m = re.match(r"#Status: (\w+).*?(\d+) points$", lines[-1])
    return m.group(1), int(m.group(2))


def check_history(lab, station_path: str, failed: bool, dead: str | None) -> None:
    st = load_station(station_path)
    for name, spec in st.outputs().items():
        hist = list(lab.history[name])
        lo, hi = spec.limits
        for (t0, v0), (t1, v1) in zip(hist, hist[1:]):
            assert lo <= v1 <= hi
            assert abs(v1 - v0) <= spec.step * (1 + 1e-6) + 1e-9, f"{name}: step {v0} -> {v1}"
            assert abs(v1 - v0) <= spec.rate * (t1 - t0) * (1 + 1e-2) + 1e-6, f"{name}: rate {v0} -> {v1}"
        if hist and spec.instrument != dead:
            assert hist[-1][1] == (spec.safe if failed else spec.end), f"{name} ended at {hist[-1][1]}"


_reference: dict[str, pd.DataFrame] = {}


def reference(tmp_path_factory, procedure: str) -> pd.DataFrame:
    if procedure not in _reference:
        tmp = tmp_path_factory.mktemp(f"ref-{procedure}")
        station = station_copy(tmp, procedure, None)
        SimVisaLibrary(station).reset()
        code, _ = run(procedure, station, tmp / "ref.csv")
        assert code == 0
        _reference[procedure] = pd.read_csv(tmp / "ref.csv", comment="#")
    return _reference[procedure]


@pytest.mark.parametrize("kind", list(FAULTS))
@pytest.mark.parametrize("procedure", list(PROCEDURES))
def test_fault_matrix(procedure, kind, tmp_path, tmp_path_factory):
    target, settings, may_fail = FAULTS[kind]
    _, lockin, source, _ = PROCEDURES[procedure]
    instrument = lockin if target == "lockin" else source
    if kind == "compliance" and source == "magnet_supply":
        pytest.skip("no gate source in a Hall bar set-up: gate leakage cannot happen")
    fault = {"instrument": instrument, "kind": kind.replace("_for_good", ""), **settings}
    station = station_copy(tmp_path, procedure, fault)
    lib = SimVisaLibrary(station)
    lib.reset()
    code, text = run(procedure, station, tmp_path / "run.csv")
    assert lib.lab.faults.log, "the fault never struck: the matrix would test nothing"
    status, points = status_line(text)
    df = pd.read_csv(tmp_path / "run.csv", comment="#")
    assert len(df) == points  # every measured point is on disk
    dead = instrument if kind == "disconnect_for_good" else None
    if code == 0:
        assert status == "finished"
        ref = reference(tmp_path_factory, procedure)
        assert len(df) == len(ref)
        for column in ("G/G0", "R_xy (ohm)"):
            if column in df:
                scale = 1.0 if column == "G/G0" else 25812.8
                np.testing.assert_allclose(df[column], ref[column], atol=5e-3 * scale)
    else:
        assert may_fail, f"{kind} on {procedure} should have been survived, but the run stopped: {text[-300:]}"
        assert code == 1 and status == "failed"
        assert instrument in text.splitlines()[-1]  # the error names the instrument
    check_history(lib.lab, station, failed=code != 0, dead=dead)
    lib.lab.unknown_commands.clear()
