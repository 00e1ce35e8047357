"""Buffered sweeps (issue 18): the fast gate's line as a QDAC-II DC list, the SR830 sampling on its trigger output,
one buffer read per line. Safety is read from the simulator's history of the output; physics is compared with
the stepped mode of the same map."""

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis import event as note_case

from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.source_lists import ListRefused
from qpclab.instruments.station import StationError, default_station_path, load_station, parse_station, read_yaml
from qpclab.procedures.base import ParameterError
from qpclab.procedures.executor import RunControl
from qpclab.procedures.maps import GateGateMap
from qpclab.procedures.runner import complete_rows, run_procedure, run_status
from qpclab.procedures.staircase import Staircase

QDAC_LAB = default_station_path().parent / "qdac_lab.yaml"
GATE_LEFT = "gate_left: {instrument: qdac, channel: 1, limits: [-2.0, 0.3], step: 0.002, rate: 2.0, safe: 0.0}"


def _lab(tmp_path: Path, gate_left: str | None = None, lockin: str = "sr830") -> Path:
    """The packaged QDAC-II lab (trigger cable qdac.trig_out_1 -> lockin.trig_in) with the lock-in's model and
    gate_left's spec replaced; by default both gates ramp at 20 V/s so that the ramps from the safe values do not
    dominate the tests' time."""
    text = QDAC_LAB.read_text(encoding="utf-8")
    assert GATE_LEFT in text and text.count("rate: 2.0, safe: 0.0}") == 2
    text = text.replace(GATE_LEFT, gate_left or GATE_LEFT.replace("rate: 2.0", "rate: 20.0"))
    text = text.replace("gate_right: {instrument: qdac, channel: 2, limits: [-2.0, 0.3], step: 0.002, rate: 2.0",
                        "gate_right: {instrument: qdac, channel: 2, limits: [-2.0, 0.3], step: 0.002, rate: 20.0")
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace("sr830", lockin), encoding="utf-8")
    return path


@pytest.fixture(params=["sr830"])
def lab_file(tmp_path, request):
    path = _lab(tmp_path, lockin=request.param)
    lib = SimVisaLibrary(str(path))
    lib.reset()
    yield path, lib.lab
    lib.lab.assert_no_unknown_commands()


def _map(lab_path: Path, mode: str, **values) -> GateGateMap:
    proc = GateGateMap()
    options = dict(station_file=str(lab_path), gate="gate_left", gate2="gate_right", start=-1.26, stop=-1.2,
                   step=0.002, gate2_start=-1.24, gate2_stop=-1.2, gate2_step=0.02, time_constant=1e-3, mode=mode)
    options.update(values)
    proc.set_values(**options)
    return proc


# ---- the station's trigger cables and the mode's choice -------------------------------------------------------------

def test_station_triggers_are_read_and_a_bad_cable_is_one_line(tmp_path):
    station = load_station(QDAC_LAB)
    (cable,) = station.triggers
    assert (cable.source, cable.output, cable.target, cable.input) == ("qdac", "trig_out_1", "lockin", "trig_in")
    data = read_yaml(QDAC_LAB.read_text(encoding="utf-8"), QDAC_LAB)
    for bad, words in (([{"from": "qdac.trig_out_1"}], "expected {from"),
                       ([{"from": "qdac", "to": "lockin.trig_in"}], "not <instrument>.<port>"),
                       ([{"from": "dac.trig_out_1", "to": "lockin.trig_in"}], "'dac' is not one of"),
                       ({"from": "qdac.trig_out_1"}, "expected a list")):
        data["station"]["triggers"] = bad
        with pytest.raises(StationError, match="station.triggers") as err:
            parse_station(data, QDAC_LAB)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_auto_picks_buffered_where_the_station_allows_it_and_says_why_not(tmp_path):
    qdac = load_station(QDAC_LAB)
    proc = _map(QDAC_LAB, "auto")
    assert proc.plan(qdac).buffered is not None
    assert proc.mode_note.startswith("buffered")
    # a virtual gate has no list of its own; the Keithley 2400 of the default lab returns to its bias level
    proc = _map(QDAC_LAB, "auto", gate="split", gate2="asym", start=-1.2, stop=-1.1, gate2_start=0.0,
                gate2_stop=0.0)
    assert proc.plan(qdac).buffered is None and "virtual gate" in proc.mode_note
    stair = Staircase()
    stair.set_values(station_file=str(default_station_path()), mode="auto")
    assert stair.plan(load_station(default_station_path())).buffered is None
    assert "returns to its bias level" in stair.mode_note
    # a line longer than the SR830's buffer (16383 points)
    proc = _map(QDAC_LAB, "auto", start=-1.3, stop=-1.1, step=1e-5)
    assert proc.plan(qdac).buffered is None and "longer than" in proc.mode_note and "(16383)" in proc.mode_note
    # without the cable: auto is stepped (the reason names the missing cable); buffered is refused in one line
    text = QDAC_LAB.read_text(encoding="utf-8").replace("- {from: qdac.trig_out_1, to: lockin.trig_in}", "")
    uncabled = tmp_path / "uncabled.yaml"
    uncabled.write_text(text.replace("  triggers:", "  triggers: []"), encoding="utf-8")
    station = load_station(uncabled)
    proc = _map(uncabled, "auto")
    assert proc.plan(station).buffered is None and "no trigger cable from qdac to lockin.trig_in" in proc.mode_note
    with pytest.raises(ParameterError, match="no trigger cable") as err:
        _map(uncabled, "buffered").check(station)
    assert "\n" not in str(err.value)
    # a cable from a trigger output the QDAC-II does not have (its rear outputs are 1 ... 5): stepped, saying so
    for port in ("trig_out_7", "trig_out_x"):
        miswired = tmp_path / f"{port}.yaml"
        miswired.write_text(QDAC_LAB.read_text(encoding="utf-8").replace("qdac.trig_out_1", f"qdac.{port}"),
                            encoding="utf-8")
        proc = _map(miswired, "auto")
        assert proc.plan(load_station(miswired)).buffered is None
        assert f"no trigger output '{port}'" in proc.mode_note


def test_auto_prints_its_choice_in_one_line(capsys):
    from qpclab.cli import main

    assert main(["run", "staircase", "--mode", "auto", "--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sweep mode:")]
    assert lines == ["sweep mode: stepped (auto: gate is on gate_smu: the Keithley 2400 returns to its bias level "
                     "after a source list (a jump of the whole line))"]
    assert main(["run", "gate-gate-map", "--station", str(QDAC_LAB), "--mode", "auto", "--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sweep mode:")]
    assert lines == ["sweep mode: buffered (qdac list on gate_left, trig_out_1 -> lockin.trig_in)"]


def test_a_list_that_breaks_a_safety_rule_is_refused_before_anything_moves(lab_file, tmp_path):
    path, lab = lab_file
    with pytest.raises(ListRefused, match=r"list step -1\.26 -> -1\.256 V at level 1 is larger than its step "
                                          r"0\.002 V") as err:
        run_procedure(_map(path, "buffered", step=0.004), tmp_path / "refused.csv", progress=False,
                      catalogue=tmp_path / "catalogue.sqlite")
    assert "\n" not in str(err.value)
    for name, out in load_station(path).outputs().items():  # nothing moved: every output only ever at its safe value
        assert {v for _, v in lab.history[name]} <= {out.safe}, name


# ---- physics: buffered and stepped maps of the same device ----------------------------------------------------------

@pytest.mark.parametrize("lab_file", ["sr830", "sr860"], indirect=True)
def test_buffered_and_stepped_maps_agree_within_the_noise(lab_file, tmp_path):
    """The same map across the first riser, stepped and buffered (SR830 buffer; SR860 capture): every point agrees within the lock-in's noise
    (5 sigma, from the circuit's noise density and the filter's bandwidth) and the settling tolerance both modes
    declare (1e-3 of the step from the previous point). The riser moves X by far more than that between
    neighbours, so a shifted or mislabelled point would fail."""
    from qpclab.instruments.lockin_filter import enbw_Hz

    path, lab = lab_file
    frames = {}
    for mode in ("stepped", "buffered"):
        lab.reset()
        data = tmp_path / f"{mode}.csv"
        result = run_procedure(_map(path, mode, start=-1.24, stop=-1.16, gate2_start=-1.22), data, progress=False,
                               catalogue=tmp_path / "catalogue.sqlite")
        assert result.status == "finished", result.error
        frames[mode] = pd.read_csv(data, comment="#")
    stepped, buffered = frames["stepped"], frames["buffered"]
    assert list(stepped.columns) == list(buffered.columns)
    for column in ("Gate (V)", "Gate 2 (V)", "Line"):
        assert np.array_equal(stepped[column].to_numpy(), buffered[column].to_numpy())
    sigma = lab.lockin_noise_V_per_rtHz() * math.sqrt(enbw_Hz(1e-3, 4))
    x_s, x_b = stepped["X (V)"].to_numpy(), buffered["X (V)"].to_numpy()
    previous = np.concatenate([[x_s[0]], x_s[:-1]])
    allowed = 5 * math.sqrt(2) * sigma + 1e-3 * np.abs(x_s - previous)
    assert np.all(np.abs(x_b - x_s) <= allowed)
    assert np.max(np.abs(np.diff(x_s))) > 100 * allowed.max()  # a riser: neighbours differ far beyond the bound
    times = buffered["Time (s)"].to_numpy()
    assert np.all(np.diff(times) > 0)


# ---- safety: random limits, steps, rates, and a stop in mid-line -----------------------------------------------------

def _violations(history, lo, hi, step, rate):
    out = []
    for (t0, v0), (t1, v1) in zip(history, history[1:]):
        if not lo <= v1 <= hi:
            out.append(f"{v1} outside [{lo}, {hi}]")
        if abs(v1 - v0) > step * (1 + 1e-9) + 1e-12:
            out.append(f"step {v0} -> {v1}")
        if v1 != v0 and (t1 - t0) * rate < abs(v1 - v0) * (1 - 1e-6) - 1e-12:
            out.append(f"rate {v0} -> {v1} in {t1 - t0:g} s")
    return out


class StopInList(RunControl):
    """Stops the run ``at`` (a fraction) of the way through the first list: the buffered line's wait for it."""

    def __init__(self, at: float | None):
        super().__init__()
        self.at, self.stopped_in_list = at, False

    def wait(self, seconds: float) -> None:
        if self.at is not None and not self.stopped_in_list:
            time.sleep(self.at * seconds)
            self.stopped_in_list = True
            self.stop()
        super().wait(seconds)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lo=st.floats(-0.4, -0.1), hi=st.floats(0.02, 0.2), step=st.floats(0.002, 0.02), rate=st.floats(1.0, 5.0),
       where=st.floats(-0.05, 1.05), n=st.integers(2, 20), spacing=st.floats(0.3, 1.2),
       stop_at=st.one_of(st.none(), st.floats(0.05, 0.95)))
def test_buffered_lines_never_break_a_limit_step_or_rate(tmp_path_factory, lo, hi, step, rate, where, n, spacing,
                                                         stop_at):
    """Random gate limits, steps and rates, random lines (a few starting beyond the limits, some with steps up to
    1.2 times the gate's: refused), half of them stopped part of the way through the list: the simulator's history of the gate never shows a
    value outside the limits, a change larger than the step or faster than the rate, and the gate ends at its safe
    value."""
    tmp = tmp_path_factory.mktemp("prop")
    spec = f"gate_left: {{instrument: qdac, channel: 1, limits: [{lo!r}, {hi!r}], step: {step!r}, rate: {rate!r}, safe: 0.0}}"
    path = _lab(tmp, spec)
    lib = SimVisaLibrary(str(path))
    lib.reset()
    lab = lib.lab
    proc = Staircase()
    start = lo + where * (hi - lo)
    stop = start + (-1 if where > 0.5 else 1) * n * spacing * step  # toward the middle (some lines overshoot)
    beyond = not (lo <= start <= hi and lo <= stop <= hi)  # must be refused before anything opens
    too_coarse = spacing > 1 + 1e-6  # a step larger than the gate's: must be refused (between: either)
    refused = None
    try:
        proc.set_values(station_file=str(path), gate="gate_left", start=start, stop=stop, step=spacing * step,
                        time_constant=3e-4, mode="buffered")
        control = StopInList(stop_at)
        result = run_procedure(proc, tmp / "stair.csv", progress=False, control=control,
                               catalogue=tmp / "catalogue.sqlite")
        assert result.status == ("finished" if stop_at is None or not control.stopped_in_list else "aborted")
        note_case(result.status)
    except ListRefused as exc:  # a step larger than the gate's: refused before the line moves
        assert "larger than its step" in str(exc)
        refused = "step"
        note_case("refused: step")
    except ParameterError as exc:  # start or stop beyond the limits: refused before anything opens
        assert "limits" in str(exc)
        refused = "limits"
        note_case("refused: limits")
    # refused exactly when a rule says so: a check that refused every list would leave nothing to test
    assert (refused == "limits") == beyond
    if not beyond:
        assert (refused == "step") == too_coarse or 1 - 1e-6 <= spacing <= 1 + 1e-6
    for name, out in load_station(path).outputs().items():  # every output's history, the drawn gate's by its draw
        limits, out_step, out_rate = ((lo, hi), step, rate) if name == "gate_left" else (out.limits, out.step, out.rate)
        history = lab.history[name]
        assert _violations(history, *limits, out_step, out_rate) == [], name
        if history:
            assert history[-1][1] == out.safe, name
    lab.assert_no_unknown_commands()


# ---- a crash loses at most the line being measured ------------------------------------------------------------------

def test_sigkill_in_mid_map_keeps_every_completed_line_and_resume_continues_at_the_next(tmp_path):
    n_fast, n_slow = 41, 6
    path = _lab(tmp_path)
    data = tmp_path / "map.csv"
    argv = [sys.executable, "-m", "qpclab", "run", "gate-gate-map", "--station", str(path), "--mode", "buffered",
            "--gate", "gate_left", "--gate2", "gate_right", "--start", "-1.28", "--stop", "-1.2", "--step",
            "0.002", "--gate2-start", "-1.3", "--gate2-stop", "-1.2", "--gate2-step", "0.02", "--time-constant",
            "0.001", "--quiet", "--data", str(data)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (data.exists() and complete_rows(data) >= 2 * n_fast):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    rows_at_kill = complete_rows(data)
    assert 2 * n_fast <= rows_at_kill < n_fast * n_slow
    assert run_status(data) is None
    kept = pd.read_csv(data, comment="#")
    completed = rows_at_kill // n_fast
    for k in range(completed):  # every completed line whole on disk
        assert len(kept[kept["Line"] == k]) == n_fast

    done = subprocess.run([sys.executable, "-m", "qpclab", "resume", str(data), "--quiet"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert run_status(data) == "finished"
    df = pd.read_csv(data, comment="#")
    assert len(df) == n_fast * n_slow
    grid = df.groupby(["Line", "Gate (V)"]).size()
    assert len(grid) == n_fast * n_slow and (grid == 1).all()
    whole = completed * n_fast  # the completed lines on disk stay exactly as they were written
    pd.testing.assert_frame_equal(df.iloc[:whole], kept.iloc[:whole])


def test_an_overload_in_a_buffered_line_measures_it_again_one_sensitivity_coarser(lab_file, tmp_path):
    """Down the first risers at a 20 mV full scale the lock-in overloads at the line's start (X reaches ~0.3 V at
    -1.14 V; at the end, pinched off, nothing is left to see): the line is measured again one sensitivity coarser
    (the SR830's 1-2-5 table: 50, 100, 200, 500 mV) until it does not overload, each change noted in the file, and
    the rows kept are the unsaturated ones (the SR830 saturates at 1.09 full scale)."""
    path, lab = lab_file
    stair = Staircase()
    stair.set_values(station_file=str(path), gate="gate_left", start=-1.14, stop=-1.24, step=0.002,
                     time_constant=1e-3, sensitivity=0.02, mode="buffered")
    data = tmp_path / "stair.csv"
    result = run_procedure(stair, data, progress=False, catalogue=tmp_path / "catalogue.sqlite")
    assert result.status == "finished"
    notes = [line for line in data.read_text().splitlines() if line.startswith("#Auto-range")]
    assert [n.split("sensitivity now ")[1].split(";")[0] for n in notes] == ["0.05 V", "0.1 V", "0.2 V", "0.5 V"]
    df = pd.read_csv(data, comment="#")
    assert len(df) == 51 and 1.09 * 0.2 < df["X (V)"].max() < 0.5


# ---- the contracts' command sequences (QDAC-II command reference, SR830 manual) ---------------------------------------

def test_qdac2_list_contract_sends_the_command_references_sequence():
    from pymeasure.test import expected_protocol

    from qpclab.instruments.drivers.qdac2 import QDac2
    from qpclab.instruments.source_lists import QDac2List
    from qpclab.instruments.sources import QDac2Source

    no_error = ("syst:err:all?", '0, "No error"')
    with expected_protocol(QDac2, [
        ("outp:trig2:sour int13", None), ("sour3:list:tmod auto", None), ("sour3:list:coun 1", None),
        ("sour3:dc:init:cont 0", None), ("sour3:dc:trig:sour int14", None), ("sour3:dc:mark:send 13", None),
        no_error,
        ("sour3:list:volt -1,-0.998,-0.996", None), ("sour3:list:dwel 0.013", None), ("sour3:volt:mode list", None),
        ("sour3:dc:init", None), no_error,
        ("tint 14", None),
        ("sour3:all:abor", None),
        ("sour3:volt:last?", "-0.998"), ("sour3:volt -0.998", None), ("sour3:volt:mode fix", None), no_error,
    ]) as driver:
        qdac_list = QDac2List(QDac2Source(driver).channel(3), output=2)
        qdac_list.prepare()
        qdac_list.upload([-1.0, -0.998, -0.996], 0.013)
        qdac_list.start()
        qdac_list.abort()
        qdac_list.finish()


def test_sr830_buffer_contract_sends_the_manuals_sequence():
    import struct

    from pymeasure.instruments.srs import SR830
    from pymeasure.test import expected_protocol

    from qpclab.instruments.lockins import SR830LockIn
    from qpclab.instruments.source_lists import SR830Buffer

    xs, ys = [0.01, 0.02, 0.03], [-1e-4, 0.0, 1e-4]
    with expected_protocol(SR830, [
        ("PAUS;REST", None), ("DDEF 1,0,0;DDEF 2,0,0;SRAT 14;SEND 0;TSTR 0", None), ("*ESR?", "0"),
        ("REST;LIAS?;STRT", "0"),
        ("SPTS?", "3"),
        ("TRCB? 1,0,3", struct.pack("<3f", *xs)), ("TRCB? 2,0,3", struct.pack("<3f", *ys)),
        ("LIAS?", "4"), ("SENS?", "26"),
    ]) as driver:
        buffer = SR830Buffer(SR830LockIn(driver))
        buffer.prepare()
        buffer.arm(3)
        assert buffer.count() == 3
        x, y, overloaded = buffer.read(3)
    assert x == pytest.approx(xs, rel=1e-6) and y == pytest.approx(ys, abs=1e-9) and overloaded  # LIAS bit 2
