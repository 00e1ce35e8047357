"""Virtual gates against the simulated QDAC-II: a plan the dry run approves from the values read back after
connect completes with no step, rate or limit violation in the simulator's history; one it refuses is never run.

Random stations (each physical gate's limits, step and rate; the virtual gate's coefficients), random values the
gates were left at by someone else (sometimes outside the new limits: connect refuses those before any write),
random moves across the range the virtual gate can reach (its ends included). The witness is the simulator's history of both channels.
"""

from __future__ import annotations

import pyvisa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qpclab.instruments.connect import connect
from qpclab.instruments.dryrun import DryRunError, dry_run
from qpclab.instruments.gates import GateLimitError
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import default_station_path, parse_station

LAB = default_station_path().parent / "qdac_lab.yaml"
QDAC = "TCPIP0::127.0.0.1::5025::SOCKET"
GATES = ("gate_left", "gate_right")


@st.composite
def cases(draw):
    gates = {}
    for ch, g in enumerate(GATES, start=1):
        lo = draw(st.floats(-2.0, -0.1))
        hi = draw(st.floats(lo + 0.05, 0.3))
        outside = draw(st.integers(0, 5)) == 0  # now and then a little outside the new limits
        start = draw(st.floats(lo - 0.05, hi + 0.05) if outside else st.floats(lo, hi))
        gates[g] = {"channel": ch, "limits": [lo, hi], "step": draw(st.floats(0.01, 0.05)),
                    "rate": draw(st.floats(20.0, 200.0)), "start": start}
    coefficients = {g: draw(st.one_of(st.floats(-2.0, -0.2), st.floats(0.2, 2.0))) for g in GATES}
    # where v goes, as a fraction of the range it can reach from the start (0 and 1: its ends, where a physical
    # gate is at a limit; a little beyond now and then)
    moves = draw(st.lists(st.one_of(st.sampled_from((0.0, 1.0)), st.floats(-0.1, 1.1)), min_size=1, max_size=2))
    return gates, coefficients, moves


def station_for(gates, coefficients):
    data = yaml.safe_load(LAB.read_text())
    st_ = data["station"]
    st_["visa_library"] = f"{LAB}@qpcsim"
    st_["gates"] = {g: {"instrument": "qdac", "channel": d["channel"], "limits": d["limits"], "step": d["step"],
                        "rate": d["rate"], "safe": min(max(0.0, d["limits"][0]), d["limits"][1])}
                    for g, d in gates.items()}
    st_["virtual_gates"] = {"v": coefficients}
    return parse_station(data, "virtual-station.yaml")


@pytest.fixture(scope="module")
def qdac_lab():
    lib = SimVisaLibrary(str(LAB))
    rm = pyvisa.ResourceManager(f"{LAB}@qpcsim")
    bare = rm.open_resource(QDAC, read_termination="\n", write_termination="\n")
    yield lib, bare
    bare.close()
    lib.lab.assert_no_unknown_commands()
    lib.reset()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_virtual_plans_approved_from_the_read_back_values_complete_without_violation(qdac_lab, case):
    lib, bare = qdac_lab
    gates, coefficients, moves = case
    lib.reset()
    held = {}
    for g, d in gates.items():  # someone else left the gates here (the instrument holds what it can represent)
        bare.write(f"sour{d['channel']}:volt {d['start']!r}")
        held[g] = float(bare.query(f"sour{d['channel']}:volt?"))
    station = station_for(gates, coefficients)
    left = {g: list(lib.lab.history[g]) for g in GATES}
    try:
        lab = connect(station, needed={"qdac"})
    except GateLimitError:  # a gate outside its new limits: refused before any write
        assert any(not d["limits"][0] <= held[g] <= d["limits"][1] for g, d in gates.items())
        assert {g: list(lib.lab.history[g]) for g in GATES} == left
        return
    try:
        vg = lab.gates["v"]
        start = {g: lab.gates[g].read() for g in GATES}
        low, high = station.virtual_gates["v"].limits_at(start, station.gates)
        targets = [low + f * (high - low) for f in moves]
        try:
            dry_run(station, [("v", targets)], start=start)
        except DryRunError:
            return  # refused before anything moves: the executor runs nothing
        for target in targets:
            vg.ramp_to(target)  # approved: must complete
        # each physical gate within 1 uV of its exact value (the QDAC-II resolves 0.6 uV; a target at a limit
        # is the limit): the virtual value within sum |c_i| 1 uV / sum c_i^2
        tolerance = sum(abs(c) for c in coefficients.values()) * 1e-6 / sum(c * c for c in coefficients.values())
        assert vg.read() == pytest.approx(targets[-1], abs=tolerance)
    finally:
        lab.close()
    for g in GATES:
        spec = station.gates[g]
        hist = list(lib.lab.history[g])[len(left[g]) - 1:]  # from the value it was left at
        for (t0, a), (t1, b) in zip(hist, hist[1:]):
            assert spec.limits[0] <= b <= spec.limits[1], f"{g}: {b} outside {spec.limits}"
            assert abs(b - a) <= spec.step * (1 + 1e-9) + 1e-12, f"{g}: step {a} -> {b}"
            assert abs(b - a) <= spec.rate * (t1 - t0) * (1 + 1e-2) + 1e-9, f"{g}: rate {a} -> {b}"
