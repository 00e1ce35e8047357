"""Safe gates, virtual gates and the dry run.

Fake sources record every value written to them with the time of a fake clock (sleeping advances it), so ramps
run in microseconds and every write is visible. Property tests (hypothesis) drive ramps with random starts,
targets, limits, steps, rates and interruptions; the checks are the station's rules, computed here from the
record: no step above ``step``, no rate above ``rate``, no value outside the limits, nothing written for a refused
target, the ramp ends where asked (or, interrupted, at a step it reached), and ``go_safe`` ends at the safe value.
"""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qpclab.instruments.dryrun import DryRunError, dry_run
from qpclab.instruments.gates import (STEP_TOLERANCE, GateLimitError, RampInterrupted, SafeGate, ramp_plan,
                                      restore_safe_state, safe_state)
from qpclab.instruments.roles import VoltageSource
from qpclab.instruments.station import OutputSpec, load_station, parse_station
from qpclab.instruments.virtual_gates import VirtualGate

REL = 1e-9  # floating-point slack on comparisons of times and steps computed from the record


class FakeClock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        assert dt > 0
        new = self.t + dt
        self.t = new if new > self.t else math.nextafter(self.t, math.inf)


class FakeSource(VoltageSource):
    """Records (time, value) of every write; ``value`` can be changed behind the gate's back."""

    def __init__(self, clock: FakeClock, value: float = 0.0, fail_after: int | None = None):
        self.clock = clock
        self.value = value
        self.writes: list[tuple[float, float]] = []
        self.reads = 0
        self.fail_after = fail_after

    def read_voltage(self) -> float:
        self.reads += 1
        return self.value

    def write_voltage(self, volts: float) -> None:
        if self.fail_after is not None and len(self.writes) >= self.fail_after:
            raise OSError("fake source: lost")
        self.writes.append((self.clock(), volts))
        self.value = volts

    def enable(self) -> None:
        pass


def spec(name="g", limits=(-2.0, 0.3), step=0.01, rate=0.5, safe=0.0, end=None) -> OutputSpec:
    return OutputSpec(name, "src", None, limits, step, rate, safe, safe if end is None else end)


def make_gate(start=0.0, **kw):
    clock = FakeClock()
    src = FakeSource(clock, start)
    return SafeGate(spec(**kw), src, clock=clock, sleep=clock.sleep), src, clock


def assert_record_obeys(record, start, t_start, sp: OutputSpec):
    """The write record (time, value) from a gate at ``start`` (last written at ``t_start``) obeys ``sp``."""
    lo, hi = sp.limits
    prev_t, prev_v = t_start, start
    for t, v in record:
        assert lo <= v <= hi, f"{v} outside {sp.limits}"
        assert abs(v - prev_v) <= sp.step * (1 + STEP_TOLERANCE), f"step {prev_v} -> {v} above {sp.step}"
        # at least |dv| / rate between two writes, up to the clock's own resolution (a few ulp of the time)
        assert t - prev_t >= abs(v - prev_v) / sp.rate * (1 - REL) - 4 * math.ulp(t), f"rate above {sp.rate}"
        prev_t, prev_v = t, v


# ---- plain ramps -----------------------------------------------------------------------------------------------
def test_ramp_plan_equal_steps_within_the_step():
    assert ramp_plan(0.0, 0.0, 0.1) == []
    plan = ramp_plan(0.0, -0.5, 0.002)
    assert len(plan) == 250 and plan[-1] == -0.5
    assert ramp_plan(-0.5, -0.49, 0.002)[-1] == -0.49 and len(ramp_plan(-0.5, -0.49, 0.002)) == 5
    assert ramp_plan(0.0, 0.25, 0.1) == pytest.approx([0.25 / 3, 0.5 / 3, 0.25])
    with pytest.raises(ValueError):
        ramp_plan(0.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        ramp_plan(0.0, math.nan, 0.1)


def test_ramp_from_read_back_value_in_steps_at_rate():
    gate, src, clock = make_gate(start=0.0, step=0.01, rate=0.5)
    src.value = -0.1  # someone moved it by hand: the gate must start from here, not from 0
    t0 = clock()
    assert gate.ramp_to(-0.2) == -0.2
    assert len(src.writes) == 10 and src.writes[0][1] == pytest.approx(-0.11)
    assert_record_obeys(src.writes, -0.1, t0, gate.spec)
    # 0.1 V at 0.5 V/s: 0.2 s in all (the first step waits its full step time too)
    assert clock() - t0 == pytest.approx(0.2, rel=1e-6)


def test_target_outside_limits_refused_before_any_read_or_write():
    gate, src, _ = make_gate(limits=(-1.0, 0.2))
    for bad in (0.3, -1.5, math.nan, math.inf):
        with pytest.raises(GateLimitError):
            gate.ramp_to(bad)
    assert src.writes == [] and src.reads == 0


def test_present_value_outside_limits_or_not_finite_refuses_to_move():
    gate, src, _ = make_gate(start=0.5, limits=(-1.0, 0.2))
    with pytest.raises(GateLimitError, match="present value 0.5 V is outside"):
        gate.ramp_to(0.0)
    src.value = math.nan
    with pytest.raises(GateLimitError, match="reads back nan"):
        gate.ramp_to(0.0)
    assert src.writes == []


def test_interrupted_ramp_stops_at_a_reached_step():
    gate, src, _ = make_gate(start=0.0, step=0.01)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 4

    with pytest.raises(RampInterrupted) as info:
        gate.ramp_to(-0.1, should_stop=stop)
    assert len(src.writes) == 4 and info.value.value == src.value == pytest.approx(-0.04)


def test_write_error_counts_as_a_write_for_the_rate():
    """An exception out of a write (e.g. Ctrl-C after the instrument took the value) still starts the next step's
    rate wait from then."""
    clock = FakeClock()

    class Late(FakeSource):
        def write_voltage(self, volts):
            super().write_voltage(volts)
            raise KeyboardInterrupt

    src = Late(clock, 0.0)
    gate = SafeGate(spec(step=0.01, rate=0.5), src, clock=clock, sleep=clock.sleep)
    with pytest.raises(KeyboardInterrupt):
        gate.ramp_to(-0.1)
    t_write = src.writes[-1][0]
    src.__class__ = FakeSource
    gate.ramp_to(0.0)
    assert src.writes[1][0] - t_write >= 0.01 / 0.5 * (1 - REL)


def test_safe_state_goes_on_past_a_failing_gate_and_reports_it():
    clock = FakeClock()
    good = SafeGate(spec("a", safe=0.0), FakeSource(clock, -0.05), clock=clock, sleep=clock.sleep)
    bad = SafeGate(spec("b", safe=0.0), FakeSource(clock, -0.05, fail_after=0), clock=clock, sleep=clock.sleep)
    failures = safe_state([bad, good])
    assert [name for name, _ in failures] == ["b"] and good.source.value == 0.0


def test_restore_safe_state_end_values_after_normal_exit_safe_values_otherwise():
    clock = FakeClock()
    g = SafeGate(spec("a", safe=0.0, end=-0.03), FakeSource(clock, -0.1), clock=clock, sleep=clock.sleep)
    with restore_safe_state([g]):
        pass
    assert g.source.value == pytest.approx(-0.03)
    with pytest.raises(KeyboardInterrupt):
        with restore_safe_state([g]):
            raise KeyboardInterrupt
    assert g.source.value == 0.0


# ---- property tests --------------------------------------------------------------------------------------------
@st.composite
def ramp_cases(draw):
    lo = draw(st.floats(-10.0, 5.0))
    span = draw(st.floats(1e-3, 10.0))
    hi = lo + span
    assume(hi > lo)
    step = span / draw(st.floats(1.0, 300.0))  # at most ~300 steps across the range: fast
    rate = draw(st.floats(1e-3, 1e3))
    safe = draw(st.floats(lo, hi))
    start = draw(st.floats(lo, hi))
    targets = draw(st.lists(st.floats(lo - span, hi + span, allow_nan=False), min_size=1, max_size=4))
    stops = draw(st.lists(st.one_of(st.none(), st.integers(0, 400)), min_size=len(targets), max_size=len(targets)))
    return lo, hi, step, rate, safe, start, targets, stops


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ramp_cases())
def test_property_random_ramps_never_break_the_envelope(case):
    lo, hi, step, rate, safe, start, targets, stops = case
    sp = OutputSpec("g", "src", None, (lo, hi), step, rate, safe, safe)
    clock = FakeClock()
    src = FakeSource(clock, start)
    gate = SafeGate(sp, src, clock=clock, sleep=clock.sleep)
    t0 = clock()
    for target, stop_after in zip(targets, stops):
        before = len(src.writes)
        here = src.value
        polls = {"n": 0}

        def should_stop():
            polls["n"] += 1
            return stop_after is not None and polls["n"] > stop_after

        if not lo <= target <= hi:
            with pytest.raises(GateLimitError):
                gate.ramp_to(target, should_stop=should_stop)
            assert len(src.writes) == before and src.value == here  # refused before any write
            continue
        try:
            reached = gate.ramp_to(target, should_stop=should_stop)
        except RampInterrupted as exc:
            assert stop_after is not None and len(src.writes) - before == stop_after
            assert exc.value == src.value  # where it is now: a step it reached
            assert exc.value in [here] + [v for _, v in src.writes[before:]]
        else:
            assert reached == target == src.value
    gate.go_safe()
    assert src.value == safe
    assert_record_obeys(src.writes, start, t0, sp)


@st.composite
def virtual_cases(draw):
    n = draw(st.integers(1, 3))
    gates = {}
    for i in range(n):
        lo = draw(st.floats(-3.0, 0.0))
        span = draw(st.floats(0.05, 3.0))
        step = span / draw(st.floats(2.0, 100.0))
        gates[f"g{i}"] = dict(limits=(lo, lo + span), step=step, rate=draw(st.floats(0.01, 10.0)),
                              start=draw(st.floats(lo, lo + span)))
    coeffs = {g: draw(st.one_of(st.floats(-2.0, -0.1), st.floats(0.1, 2.0))) for g in gates}
    targets = draw(st.lists(st.floats(-6.0, 6.0), min_size=1, max_size=3))
    stop_after = draw(st.one_of(st.none(), st.integers(0, 30)))
    return gates, coeffs, targets, stop_after


def _virtual_station(gates, coeffs):
    return parse_station({"station": {
        "instruments": {"dac": {"driver": "qdac2", "address": "TCPIP0::1.2.3.4::5025::SOCKET"}},
        "gates": {g: {"instrument": "dac", "channel": i + 1, "limits": list(d["limits"]), "step": d["step"],
                      "rate": d["rate"], "safe": d["limits"][0]} for i, (g, d) in enumerate(gates.items())},
        "virtual_gates": {"v": coeffs},
    }}, "virtual.yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(virtual_cases())
def test_property_virtual_ramps_obey_every_physical_gate(case):
    gates, coeffs, targets, stop_after = case
    station = _virtual_station(gates, coeffs)
    clock = FakeClock()
    sources = {g: FakeSource(clock, d["start"]) for g, d in gates.items()}
    safe = {g: SafeGate(station.gates[g], sources[g], clock=clock, sleep=clock.sleep) for g in gates}
    vg = VirtualGate(station.virtual_gates["v"], safe)
    t0 = clock()
    for target in targets:
        before = {g: list(s.writes) for g, s in sources.items()}
        here = {g: s.value for g, s in sources.items()}
        wanted = {g: here[g] + c * (target - vg.read()) for g, c in coeffs.items()}
        # a target within floating-point noise of a limit (the virtual arithmetic's rounding) is that limit
        inside = all(station.gates[g].limits[0] - 8 * math.ulp(max(abs(v), 1.0)) <= v
                     <= station.gates[g].limits[1] + 8 * math.ulp(max(abs(v), 1.0)) for g, v in wanted.items())
        polls = {"n": 0}

        def should_stop():
            polls["n"] += 1
            return stop_after is not None and polls["n"] > stop_after

        if not inside:
            with pytest.raises(GateLimitError):
                vg.ramp_to(target, should_stop=should_stop)
            assert {g: s.writes for g, s in sources.items()} == before
            continue
        try:
            vg.ramp_to(target, should_stop=should_stop)
        except RampInterrupted:
            # every physical gate stopped at the same step k of the common plan: the same fraction of its move
            fractions = {(s.value - here[g]) / (wanted[g] - here[g]) for g, s in sources.items()
                         if abs(wanted[g] - here[g]) > 1e-9}
            assert max(fractions, default=0) - min(fractions, default=0) < 1e-6
        else:
            for g, s in sources.items():
                assert s.value == pytest.approx(wanted[g], abs=1e-9)
            assert vg.read() == pytest.approx(target, abs=1e-9)
    for g, s in sources.items():
        assert_record_obeys(s.writes, gates[g]["start"], t0, station.gates[g])


# ---- virtual gates -----------------------------------------------------------------------------------------------
SPLIT_STATION = {"station": {
    "instruments": {"dac": {"driver": "qdac2", "address": "TCPIP0::1.2.3.4::5025::SOCKET"}},
    "gates": {
        "gate_left": {"instrument": "dac", "channel": 1, "limits": [-2.0, 0.3], "step": 0.002, "rate": 0.5, "safe": 0.0},
        "gate_right": {"instrument": "dac", "channel": 2, "limits": [-1.0, 0.3], "step": 0.004, "rate": 2.0,
                       "safe": 0.0},
    },
    "virtual_gates": {"split": {"gate_left": 1.0, "gate_right": 1.0},
                      "asym": {"gate_left": 0.5, "gate_right": -0.5}},
}}


def split_gates(left=0.0, right=0.0):
    station = parse_station(SPLIT_STATION, "split.yaml")
    clock = FakeClock()
    srcs = {"gate_left": FakeSource(clock, left), "gate_right": FakeSource(clock, right)}
    safe = {g: SafeGate(station.gates[g], s, clock=clock, sleep=clock.sleep) for g, s in srcs.items()}
    return station, srcs, safe, clock


def test_virtual_gate_definitions_step_and_rate():
    station = parse_station(SPLIT_STATION, "split.yaml")
    split, asym = station.virtual_gates["split"], station.virtual_gates["asym"]
    assert split.step == 0.002 and split.rate == 0.5  # the slower, finer left gate sets both
    assert asym.step == 0.004 and asym.rate == 1.0  # half of dv on each gate: min(0.002/0.5, 0.004/0.5), 0.5/0.5
    assert split.value_of({"gate_left": -0.2, "gate_right": -0.4}) == pytest.approx(-0.3)  # the mean
    assert asym.value_of({"gate_left": -0.2, "gate_right": -0.4}) == pytest.approx(0.2)  # the difference


def test_virtual_split_sweep_moves_both_halves_and_keeps_their_difference():
    station, srcs, safe, clock = split_gates(left=-0.1, right=-0.2)
    vg = VirtualGate(station.virtual_gates["split"], safe)
    assert vg.read() == pytest.approx(-0.15)
    t0 = clock()
    vg.ramp_to(-0.55)
    assert srcs["gate_left"].value == pytest.approx(-0.5) and srcs["gate_right"].value == pytest.approx(-0.6)
    for g, s in srcs.items():
        assert_record_obeys(s.writes, {"gate_left": -0.1, "gate_right": -0.2}[g], t0, station.gates[g])
    # 0.4 V on the left at 0.5 V/s sets the pace: 0.8 s; 200 common steps of 2 mV
    assert clock() - t0 == pytest.approx(0.8, rel=1e-6)
    assert len(srcs["gate_left"].writes) == len(srcs["gate_right"].writes) == 200


def test_virtual_gate_refuses_before_any_write_naming_the_physical_gate():
    station, srcs, safe, _ = split_gates()
    vg = VirtualGate(station.virtual_gates["split"], safe)
    with pytest.raises(GateLimitError, match=r"gate_right: -1.5 V is outside its limits \[-1, 0.3\] V") as info:
        vg.ramp_to(-1.5)  # fine for the left gate (-2 V limit), not for the right one (-1 V)
    assert "split can go from -1 to 0.3 V" in str(info.value)
    assert srcs["gate_left"].writes == [] and srcs["gate_right"].writes == []
    with pytest.raises(GateLimitError):
        vg.check(math.nan)


def test_virtual_asymmetry_axis():
    station, srcs, safe, _ = split_gates(left=-0.3, right=-0.3)
    vg = VirtualGate(station.virtual_gates["asym"], safe)
    assert vg.read() == pytest.approx(0.0)
    vg.ramp_to(0.1)
    assert srcs["gate_left"].value == pytest.approx(-0.25) and srcs["gate_right"].value == pytest.approx(-0.35)
    assert vg.read() == pytest.approx(0.1)


def test_virtual_gates_on_the_simulated_qdac_lab(tmp_path):
    """The QDAC-II lab with ``split`` and ``asym`` added: connect() puts them among the lab's gates, sweeping
    ``split`` moves both QDAC channels (as the lab's own record shows), and safe_state moves each physical gate
    once."""
    from qpclab.instruments.connect import connect
    from qpclab.instruments.sim.backend import SimVisaLibrary
    from qpclab.instruments.station import default_station_path

    source = default_station_path().with_name("qdac_lab.yaml")
    if not source.exists():
        pytest.skip("sim_configs/qdac_lab.yaml not there")
    data = yaml.safe_load(source.read_text())
    data["station"]["virtual_gates"] = {"split": {"gate_left": 1.0, "gate_right": 1.0},
                                        "asym": {"gate_left": 0.5, "gate_right": -0.5}}
    path = tmp_path / "qdac_split.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    library = SimVisaLibrary(str(path))
    library.reset()
    lab = library.lab
    station = load_station(path)
    conn = connect(station)
    try:
        assert isinstance(conn.gates["split"], VirtualGate)
        assert [g.name for g in conn.outputs()] == ["gate_left", "gate_right", "bias"]
        conn.gates["split"].ramp_to(-0.05)
        conn.gates["asym"].ramp_to(0.02)
        assert lab.outputs["gate_left"] == pytest.approx(-0.04) and lab.outputs["gate_right"] == pytest.approx(-0.06)
        assert conn.gates["split"].read() == pytest.approx(-0.05)
        assert not safe_state(conn.outputs())
    finally:
        conn.close()
    for g in ("gate_left", "gate_right"):
        hist = lab.history[g]
        sp = station.gates[g]
        changes = [hist[0]] + [(t, v) for (t, v), (_, p) in zip(hist[1:], hist) if v != p]
        for (t0, v0), (t1, v1) in zip(changes, changes[1:]):
            assert abs(v1 - v0) <= sp.step * (1 + 1e-6) and abs(v1 - v0) / (t1 - t0) <= sp.rate * (1 + 1e-6)
        assert changes[-1][1] == 0.0
    lab.assert_no_unknown_commands()
    del library


# ---- dry run -----------------------------------------------------------------------------------------------------
def test_dry_run_of_a_staircase():
    from qpclab.procedures.staircase import Staircase

    station = load_station()  # the packaged lab: gate limits [-2, 0.3] V, step 2 mV, rate 2 V/s, end 0 V
    p = Staircase()
    p.start, p.stop, p.step, p.direction = -0.5, 0.0, 0.01, "up and down"
    plan = p.plan(station)
    report = dry_run(station, [("gate", plan.line(k).values) for k in range(plan.n_lines)])
    text = str(report)
    assert "102 planned values" in text
    plan = report.outputs["gate"]
    # 0 -> -0.5 (250 steps), up (50 x 5), down (50 x 5): 750 steps, 1.5 V at 2 V/s; back to 0 V: 250 steps, 0.25 s
    assert (plan.start, plan.low, plan.high, plan.steps) == (0.0, -0.5, 0.0, 750)
    assert plan.ramp_s == pytest.approx(0.75) and plan.end_steps == 250 and plan.end_s == pytest.approx(0.25)
    assert report.ramp_s == pytest.approx(1.0)
    assert "gate: start 0 V (its safe value; not read), range [-0.5, 0] V, 750 steps" in text


def test_dry_run_refuses_listing_every_broken_value():
    station = load_station()
    with pytest.raises(DryRunError) as info:
        dry_run(station, [("gate", [-0.1, 0.5, -2.5]), ("bias", [5.0]), ("nonsense", [0.0]),
                          ("gate", [math.nan])])
    problems = info.value.problems
    assert len(problems) == 5
    assert "move 0 (gate) point 1: gate: 0.5 V is outside its limits [-2, 0.3] V" in problems
    assert "move 0 (gate) point 2: gate: -2.5 V is outside its limits [-2, 0.3] V" in problems
    assert "move 1 (bias) point 0: bias: 5 V is outside its limits [-4, 4] V" in problems
    assert any("'nonsense' is not an output" in p for p in problems)
    assert any("nan" in p for p in problems)


def test_dry_run_with_a_virtual_gate_tracks_the_physical_gates():
    station = parse_station(SPLIT_STATION, "split.yaml")
    report = dry_run(station, [("gate_right", [-0.2]), ("split", [-0.5, -0.6])])
    # right to -0.2 (50 steps of 4 mV, 0.1 s); split from -0.1 to -0.5 moves both by -0.4 V (200 common steps,
    # set by the left's 2 mV; 0.8 s at the left's 0.5 V/s); to -0.6: 50 more steps, 0.2 s
    assert report.outputs["split"].start == pytest.approx(-0.1)
    assert report.outputs["split"].steps == 250
    assert report.outputs["gate_left"].low == pytest.approx(-0.5)
    assert report.outputs["gate_right"].low == pytest.approx(-0.7)
    assert report.outputs["gate_right"].steps == 50 + 250
    # back to the end values 0 V: left 0.5 V at 0.5 V/s, right 0.7 V at 2 V/s
    assert report.ramp_s == pytest.approx(0.1 + 0.8 + 0.2 + 1.0 + 0.35)
    with pytest.raises(DryRunError, match=r"split = -1.2 V would take gate_right: -1.3 V is outside its limits"):
        dry_run(station, [("gate_right", [-0.2]), ("split", [-1.2])])


def test_dry_run_start_from_read_back_values_and_refuses_a_start_outside_limits():
    station = parse_station(SPLIT_STATION, "split.yaml")
    report = dry_run(station, [("split", [0.0])], start={"gate_left": -0.2, "gate_right": -0.2})
    assert report.outputs["split"].start == pytest.approx(-0.2) and report.outputs["split"].start_known
    with pytest.raises(DryRunError, match="start: gate_right: -1.5 V is outside"):
        dry_run(station, [("split", [0.0])], start={"gate_left": -0.2, "gate_right": -1.5})


# ---- sweeps: one read-back per sweep, verified ------------------------------------------------------------------
def test_sweep_reads_back_once_then_verifies_and_stops_if_something_else_moved_the_gate():
    from qpclab.instruments.gates import GateLimitError, SafeGate
    from qpclab.instruments.station import OutputSpec

    class Source(VoltageSource):
        def __init__(self):
            self.v, self.reads, self.writes = 0.0, 0, []

        def read_voltage(self):
            self.reads += 1
            return self.v

        def write_voltage(self, v):
            self.v = v
            self.writes.append(v)

        def enable(self):
            pass

    t = [0.0]
    src = Source()
    spec = OutputSpec("g", "inst", None, (-1.0, 1.0), 0.01, 1e6, 0.0, 0.0)
    gate = SafeGate(spec, src, clock=lambda: t[0], sleep=lambda dt: t.__setitem__(0, t[0] + dt))
    with gate.sweeping():
        for k in range(1, 51):
            gate.ramp_to(-0.01 * k)
    assert src.reads == 1 and len(src.writes) == 50  # one read-back for the whole sweep
    with pytest.raises(GateLimitError, match="something else moved it"):
        with gate.sweeping():
            src.v = -0.2  # another program moves the gate behind qpclab's back
            t[0] += 2 * gate.VERIFY_INTERVAL_S
            gate.ramp_to(-0.49)
    assert src.writes[-1] == -0.5  # refused before any write
    gate.ramp_to(-0.19)  # outside a sweep every move reads back again
    assert src.reads == 4


def test_sweep_verification_accepts_the_instruments_own_rounding():
    """Instruments keep what they can represent (pymeasure writes '%g': 6 digits): a long sweep whose read-backs
    differ from the written floats in the 7th digit goes on; the next step starts from the read-back value."""
    from qpclab.instruments.gates import SafeGate
    from qpclab.instruments.station import OutputSpec

    class Rounding(VoltageSource):
        def __init__(self):
            self.v = 0.0

        def read_voltage(self):
            return self.v

        def write_voltage(self, v):
            self.v = float(f"{v:g}")

        def enable(self):
            pass

    t = [0.0]
    src = Rounding()
    spec = OutputSpec("g", "inst", None, (-2.0, 1.0), 0.01, 1e6, 0.0, 0.0)
    gate = SafeGate(spec, src, clock=lambda: t[0], sleep=lambda dt: t.__setitem__(0, t[0] + dt))
    values = [-1.4 + 1.2 * k / 9999 for k in range(10000)]
    with gate.sweeping():
        for v in values:
            t[0] += 0.01  # 100 s of sweep: a hundred verifications
            gate.ramp_to(v)
    assert src.v == pytest.approx(values[-1], abs=1e-5)


@given(start=st.floats(-1.9, 0.2), target=st.floats(-1.9, 0.2), step=st.floats(1e-5, 0.05))
@settings(max_examples=300, deadline=None)
def test_quantised_ramp_steps_never_exceed_the_step(start, target, step):
    """pymeasure's Keithley 2400 writes 6 significant digits: 10 uV resolution above 1 V. Planning with the values
    the instrument will hold keeps every real step within the gate's step (unquantised plans could exceed it)."""
    from qpclab.instruments.gates import ramp_plan

    def q(v):
        return float(f"{v:g}")

    def resolution(v):  # the spacing of 6 significant digits, computed here from the definition
        return 0.0 if v == 0 else 10.0 ** (math.floor(math.log10(abs(v))) - 5)

    start = q(start)
    # one step (or none) needs no planning; more than one is refused when rounding could enlarge a step
    if abs(q(target) - start) > step and step < 2 * max(resolution(start), resolution(q(target))):
        with pytest.raises(ValueError, match="resolution"):
            ramp_plan(start, target, step, q, resolution)
        return
    plan = ramp_plan(start, target, step, q, resolution)
    values = [start] + plan
    assert all(abs(b - a) <= step * (1 + 1e-9) for a, b in zip(values, values[1:]))
    assert all(q(v) == v for v in plan) and (not plan or plan[-1] == q(target))


def test_ramp_planning_is_linear_in_the_number_of_steps():
    """A step just above twice the resolution, where the first (exact) plan rounds to steps too large: the plan is
    made at most twice (n from the step, then from the step less the resolution), no search over n."""
    from qpclab.instruments.gates import ramp_plan

    calls = {"n": 0}

    def q(v):  # 6 significant digits, counting the calls
        calls["n"] += 1
        return float(f"{v:g}")

    def resolution(v):
        return 10.0 ** (math.floor(math.log10(abs(v))) - 5) if v else 0.0

    step = 2.5e-5  # 10 uV resolution from 1 V to 2 V
    plan = ramp_plan(-1.0, -2.0, step, q, resolution)
    values = [-1.0] + plan
    assert all(abs(b - a) <= step * (1 + 1e-9) for a, b in zip(values, values[1:]))
    n_exact = math.ceil(1.0 / step)
    n_shrunk = math.ceil(1.0 / (step - 1e-5))
    assert len(plan) in (n_exact, n_shrunk)
    assert calls["n"] <= 1 + n_exact + n_shrunk  # the target, then at most two plans


def test_a_step_finer_than_twice_the_resolution_is_refused_by_the_planner():
    from qpclab.instruments.gates import ramp_plan

    with pytest.raises(ValueError, match="finer than twice the instrument's resolution 1e-05 V"):
        ramp_plan(-1.0, -1.1, 1.5e-5, lambda v: float(f"{v:g}"), lambda v: 1e-5)
