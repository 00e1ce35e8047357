"""Gate leakage: a source driven into compliance stops the move at once, and no point taken in compliance is kept.

The simulated lab's ``compliance`` fault drops the load a source drives to ``load_ohm`` (a leaking gate). Its
Keithley 2400 then holds the output at compliance current x load (the output is clamped, as on the instrument),
and the simulator's history records every level the sample saw: the witness here. The limit (1e-4 A) and the load
(1 kOhm) put the clamp at 0.1 V; every history entry at the clamp is a write made in compliance.
"""

from __future__ import annotations

import pytest
import yaml

from qpclab.instruments.connect import connect
from qpclab.instruments.roles import ComplianceError, InstrumentError, MAX_ERROR_READS
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import load_station

LIMIT_A = 1e-4
LOAD_OHM = 1e3
CLAMP_V = LIMIT_A * LOAD_OHM  # where the leaking gate's output is held: 0.1 V


def lab_file(tmp_path, lab_path, faults, gate_compliance=LIMIT_A, bias_compliance=1e-3):
    data = yaml.safe_load(lab_path.read_text())
    st = data["station"]
    st["gates"]["gate"]["compliance_A"] = gate_compliance
    st["bias"]["compliance_A"] = bias_compliance
    data["simulation"]["faults"] = faults
    path = tmp_path / "leaky_lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    lib = SimVisaLibrary(str(path))
    lib.reset()
    return path, lib


def assert_history_obeys(lab, station) -> None:
    for name, spec in station.outputs().items():
        hist = list(lab.history[name])
        for (t0, v0), (t1, v1) in zip(hist, hist[1:]):
            assert spec.limits[0] <= v1 <= spec.limits[1]
            assert abs(v1 - v0) <= spec.step * (1 + 1e-6) + 1e-9, f"{name}: step {v0} -> {v1}"
            assert abs(v1 - v0) <= spec.rate * (t1 - t0) * (1 + 1e-2) + 1e-6, f"{name}: rate {v0} -> {v1}"


def writes_in_compliance(values) -> int:
    return sum(1 for v in values if abs(v) >= CLAMP_V * (1 - 1e-9))


def test_a_leak_during_a_ramp_stops_the_gate_at_the_write_that_found_it(tmp_path, lab_path):
    path, lib = lab_file(tmp_path, lab_path, [{"instrument": "gate_smu", "kind": "compliance", "after": 0,
                                               "load_ohm": LOAD_OHM}])
    station = load_station(path)
    lab = connect(station)
    try:
        gate = lab.gates["gate"]
        start = len(lib.lab.history["gate"])
        with pytest.raises(ComplianceError, match="gate \\(gate_smu\\): current compliance") as exc:
            gate.ramp_to(-0.5)  # 250 steps of 2 mV; the leak holds the output from -0.1 V on
        during = [v for _, v in list(lib.lab.history["gate"])[start:]]
        assert writes_in_compliance(during) <= 2  # the write that tripped, at most one more
        assert min(during) > -CLAMP_V - gate.spec.step  # it never went on toward -0.5 V
        assert exc.value.limit_A == LIMIT_A
        with pytest.raises(ComplianceError):  # a tripped gate refuses every move but the one to safe
            gate.ramp_to(-0.2)
        assert len(lib.lab.history["gate"]) == start + len(during)
        gate.go_safe(end=True)  # after a trip: to the safe value, not the end value
        assert lib.lab.history["gate"][-1][1] == station.gates["gate"].safe
        assert_history_obeys(lib.lab, station)
    finally:
        lab.close()


def test_a_leak_during_a_sweep_is_never_recorded(tmp_path, lab_path):
    """The executor's loop at instrument level: move, read, check_compliance, record. The bias source starts
    leaking in the middle of the sweep (at its 9th compliance query: connect asks twice, the bias ramp twice, then
    one per point); the point read then is not recorded, nothing moves after the check, and every output ends at
    its safe value."""
    path, lib = lab_file(tmp_path, lab_path, [{"instrument": "bias_smu", "kind": "compliance", "after": 8,
                                               "match": "TRIP", "load_ohm": 10.0}])
    station = load_station(path)
    lab = connect(station)
    try:
        lab.bias.ramp_to(0.02)  # 2 mA into 10 ohm once the leak starts: over the 1 mA limit
        bias_messages_before_sweep = lib.lab.faults.faults[0].seen
        assert bias_messages_before_sweep < 8, "the leak must start inside the sweep for this test to mean much"
        rows = []
        gate = lab.gates["gate"]
        values = [-0.002 * k for k in range(1, 40)]
        with pytest.raises(ComplianceError, match="bias"):
            with gate.sweeping():
                for v in values:
                    gate.ramp_to(v)
                    x, y = lab.lockin.read_xy()
                    lab.check_compliance()
                    rows.append((lib.lab.now(), v, x))
        struck_at = lib.lab.faults.log[0][0]
        assert rows and all(t < struck_at for t, _, _ in rows)  # every recorded point precedes the leak
        assert len(rows) < len(values)
        gate_writes_after = [v for t, v in lib.lab.history["gate"] if t > struck_at]
        assert gate_writes_after == []  # the check stopped the sweep before the next move
        for out in lab.outputs():
            out.go_safe()
        for name, spec in station.outputs().items():
            assert lib.lab.history[name][-1][1] == spec.safe
        assert_history_obeys(lib.lab, station)
    finally:
        lab.close()


def test_check_compliance_asks_each_source_instrument_once(tmp_path, lab_path):
    """The per-point check is one short query per source instrument with a compliance state (no error queue)."""
    path, lib = lab_file(tmp_path, lab_path, [])
    for twin in lib.lab.twins_by_name.values():
        twin.record_history = True
    lab = connect(load_station(path))
    try:
        before = {n: len(t.history) for n, t in lib.lab.twins_by_name.items()}
        lab.check_compliance()
        sent = {n: [m for _, m in t.history[before[n]:]] for n, t in lib.lab.twins_by_name.items()}
        assert sent == {"gate_smu": [":SENS:CURR:PROT:TRIP?"], "bias_smu": [":SENS:CURR:PROT:TRIP?"], "lockin": []}
    finally:
        lab.close()


def test_an_error_queue_that_never_empties_is_an_instrument_failure(tmp_path, lab_path):
    """Each SYST:ERR? adds an entry (the fault): the drain gives up after MAX_ERROR_READS reads with a message,
    where pymeasure's check_errors would loop for ever; the gate still goes to its safe value."""
    # from the 3rd SYST:ERR? on (connect reads the queue twice, both empty)
    path, lib = lab_file(tmp_path, lab_path, [{"instrument": "gate_smu", "kind": "error", "after": 2, "count": -1,
                                               "match": "SYST:ERR", "code": -350, "message": "Queue overflow"}])
    lab = connect(load_station(path))
    try:
        fault = lib.lab.faults.faults[0]
        gate = lab.gates["gate"]
        before = fault.struck
        with pytest.raises(InstrumentError, match="error queue does not empty.*instrument failure"):
            gate.ramp_to(-0.01)
        # bounded: the first step's drain reads once (empty, then the fault adds an entry), the second gives up
        assert fault.struck - before == 1 + MAX_ERROR_READS
        gate.go_safe()
        assert lib.lab.history["gate"][-1][1] == 0.0
    finally:
        lab.close()


def test_a_gate_leak_during_a_sweep_checked_per_point(tmp_path, lab_path):
    """The sweep points write the level alone (sweeping(checked_per_point=True)); the gate starts leaking at its
    40th level write: the check after that point's reading stops the sweep before the point is recorded and
    before any further write."""
    path, lib = lab_file(tmp_path, lab_path, [{"instrument": "gate_smu", "kind": "compliance", "after": 40,
                                               "match": ":SOURCE:VOLTAGE -", "load_ohm": LOAD_OHM}])
    for twin in lib.lab.twins_by_name.values():
        twin.record_history = True
    station = load_station(path)
    lab = connect(station)
    try:
        gate = lab.gates["gate"]
        gate.ramp_to(-0.09)  # 45 level writes of 2 mV: the leak holds from -0.1 V, not reached yet
        rows = []
        values = [-0.09 - 0.002 * k for k in range(1, 40)]  # one step each
        mark = len(lib.lab.twins_by_name["gate_smu"].history)
        with pytest.raises(ComplianceError, match="gate \\(gate_smu\\)"):
            with gate.sweeping(checked_per_point=True):
                for v in values:
                    gate.ramp_to(v)
                    lab.lockin.read_xy()
                    lab.check_compliance()
                    rows.append(v)
        sent = [m for _, m in lib.lab.twins_by_name["gate_smu"].history[mark:]]
        levels = [m for m in sent if m.startswith(":SOURCE:VOLTAGE -")]
        assert all(";" not in m for m in levels)  # the level alone: the check is the caller's, per point
        assert all(abs(v) < CLAMP_V for v in rows)  # no recorded point at or beyond the clamp
        assert len(levels) == len(rows) + 1  # the point that tripped was not recorded, nothing written after it
        assert writes_in_compliance([v for _, v in lib.lab.history["gate"]]) == 1
        gate.go_safe()
        assert lib.lab.history["gate"][-1][1] == 0.0
        assert_history_obeys(lib.lab, station)
    finally:
        lab.close()


def test_a_leak_in_mid_run_stops_the_run_before_the_point_is_recorded(tmp_path, lab_path):
    """End to end through the executor: the gate starts leaking in the middle of a staircase beyond the clamp (at
    its 170th compliance query: connect, the 150 watched steps of the ramp to -0.3 V, then one check per point).
    The run fails naming the gate, no row read after the leak started is in the file, the gate moves only toward
    its safe value after it, and every output ends at its safe value."""
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    path, lib = lab_file(tmp_path, lab_path, [{"instrument": "gate_smu", "kind": "compliance", "after": 170,
                                               "match": "TRIP", "load_ohm": LOAD_OHM}])
    station = load_station(path)
    p = Staircase()
    p.set_values(station_file=str(path), start=-0.3, stop=-0.25, step=0.002, time_constant=1e-4)
    data = tmp_path / "run.csv"
    with pytest.raises(ComplianceError, match="gate"):
        run_procedure(p, data, progress=False)
    struck_at = lib.lab.faults.log[0][0]
    rows = [line for line in data.read_text().splitlines() if line and not line.startswith("#")][1:]
    assert 0 < len(rows) < 26  # the leak came in the middle of the sweep
    # the rows are the points written before the leak started, except the last: its reading found the leak
    written_before = [v for t, v in lib.lab.history["gate"] if t <= struck_at]
    assert [float(r.split(",")[0]) for r in rows] == written_before[-len(rows) - 1:-1]
    gate_after = [v for t, v in lib.lab.history["gate"] if t > struck_at]
    assert all(abs(b) <= abs(a) + 1e-12 for a, b in zip(gate_after, gate_after[1:]))  # only toward safe (0 V)
    for name, spec in station.outputs().items():
        assert lib.lab.history[name][-1][1] == spec.safe
    # steps and rates: every change qpclab made (after the leak the gate's output is the clamp, which the leak
    # sets, not a step: -0.266 V programmed, 0.1 V held)
    lib.lab.history["gate"] = [(t, v) for t, v in lib.lab.history["gate"] if t <= struck_at]
    assert_history_obeys(lib.lab, station)
    assert data.read_text().splitlines()[-1].startswith("#Status: failed (ComplianceError")
