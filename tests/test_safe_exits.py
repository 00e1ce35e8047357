"""Safe exits on the simulated lab, read from the lab's own record of every value each output was set to.

The staircase procedure runs through the headless runner against the simulated lab and is ended every way a run
can end: normally, aborted (stop request, as the window's Abort button does), failed (a lock-in error, a lost gate
source), with a ramp interrupted half-way, and by Ctrl-C (SIGINT once, twice, or a KeyboardInterrupt raised inside
the run). For each, :attr:`SimulatedLab.history` (time, volts of every change at the instruments' outputs) shows:

- no change larger than the output's ``step`` (up to the set-point resolution: pymeasure writes the Keithley
  2400's level with ``%g``, six significant digits, so a value may differ from the planned one by 5e-7 of itself);
- no rate between two consecutive changes above the output's ``rate``;
- no value outside the output's limits;
- the last value is the ``end`` value after a normal end and the ``safe`` value otherwise;

and the data file keeps every point the procedure emitted. The lab file is the packaged one with a gate whose end
value (-0.02 V) differs from its safe value (0 V), so the two exits can be told apart.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from qpclab.instruments.roles import InstrumentError
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import default_station_path, load_station
from qpclab.procedures.runner import run_procedure
from qpclab.procedures.staircase import Staircase

GATE_END = -0.02  # V
BIAS_PRESET = 0.05  # V, set before the run so that the bias must come back too


@pytest.fixture
def station_file(tmp_path) -> Path:
    data = yaml.safe_load(default_station_path().read_text())
    data["station"]["gates"]["gate"]["end"] = GATE_END
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def lab(station_file):
    # hold the library itself: pyvisa keeps libraries in a weak registry, and the procedure's connection must
    # find this very lab (open_lab() alone returns the lab but lets its library be collected)
    library = SimVisaLibrary(str(station_file))
    lab = library.lab
    library.reset()
    # the bias starts away from its safe value (through the safe gates, as a previous run would leave it)
    from qpclab.instruments.connect import connect

    pre = connect(load_station(station_file))
    pre.bias.ramp_to(BIAS_PRESET)
    pre.close()
    yield lab
    lab.assert_no_unknown_commands()
    del library


def staircase(station_file, **kw) -> Staircase:
    p = Staircase()
    p.station_file = str(station_file)
    p.start, p.stop, p.step = -0.1, -0.05, 0.01
    p.time_constant = 1e-4
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def _resolution(a: float, b: float) -> float:
    """Set-point resolution of the %g format pymeasure writes (six significant digits), for two values."""
    return 1e-6 * max(abs(a), abs(b)) + 1e-15


def check_history(history: list[tuple[float, float]], spec) -> list[tuple[float, float]]:
    """Assert the output's record obeys its step, rate and limits; return the changes (time, value)."""
    assert history, f"{spec.name}: no record"
    changes = [history[0]]
    for t, v in history[1:]:
        if v != changes[-1][1]:
            changes.append((t, v))
    lo, hi = spec.limits
    for t, v in changes:
        assert lo <= v <= hi, f"{spec.name}: {v} V outside [{lo}, {hi}] V at t={t}"
    for (t0, v0), (t1, v1) in zip(changes, changes[1:]):
        res = _resolution(v0, v1)
        assert abs(v1 - v0) <= spec.step * (1 + 1e-9) + res, f"{spec.name}: step {v0} -> {v1} V larger than {spec.step}"
        dt = t1 - t0
        assert dt > 0, f"{spec.name}: two changes at the same time {t0}"
        assert (abs(v1 - v0) - res) / dt <= spec.rate * (1 + 1e-9), \
            f"{spec.name}: {v0} -> {v1} V in {dt:.3g} s is faster than {spec.rate} V/s"
    return changes


def check_all(lab, station_file, *, normal_end: bool):
    st = load_station(station_file)
    for name, spec in st.outputs().items():
        changes = check_history(lab.history[name], spec)
        expected = spec.end if normal_end else spec.safe
        assert changes[-1][1] == pytest.approx(expected, abs=1e-12), f"{name} ended at {changes[-1][1]} V"
        assert lab.outputs[name] == pytest.approx(expected, abs=1e-12)
    return st


def data_rows(path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def run(procedure, path, **kw):
    points = []
    result = run_procedure(procedure, path, progress=False, on_point=points.append, **kw)
    return result, points


def test_normal_end_goes_to_end_values_and_records_station(lab, station_file, tmp_path):
    result, points = run(staircase(station_file), tmp_path / "run.csv")
    assert result.status == "finished" and result.points == 6 == len(points)
    check_all(lab, station_file, normal_end=True)
    gate_values = [v for _, v in lab.history["gate"]]
    assert min(gate_values) == pytest.approx(-0.1)  # the sweep really went there
    df = data_rows(result.path)
    assert list(df["Gate (V)"]) == pytest.approx([p["Gate (V)"] for p in points])
    header = "\n".join(line for line in result.path.read_text().splitlines() if line.startswith("#"))
    assert "Station" in header and str(station_file.resolve()) in header


def test_abort_from_stop_event_mid_run(lab, station_file, tmp_path):
    stop = threading.Event()
    points = []

    def on_point(rec):
        points.append(rec)
        if len(points) == 3:
            stop.set()  # what the window's Abort button does

    result = run_procedure(staircase(station_file), tmp_path / "run.csv", progress=False, stop_event=stop,
                           on_point=on_point)
    assert result.status == "aborted" and result.points == 3
    check_all(lab, station_file, normal_end=False)
    assert list(data_rows(result.path)["Gate (V)"]) == pytest.approx([p["Gate (V)"] for p in points])


def test_failure_in_the_lockin_after_three_points(lab, station_file, tmp_path, monkeypatch):
    from qpclab.instruments.lockins import SR830LockIn

    original = SR830LockIn.read_xy_checked  # the procedures read X, Y and the overload status in one message
    calls = {"n": 0}

    def failing(self):
        calls["n"] += 1
        if calls["n"] > 3:
            raise InstrumentError("lockin: no reply (simulated failure)")
        return original(self)

    monkeypatch.setattr(SR830LockIn, "read_xy_checked", failing)
    points = []
    with pytest.raises(InstrumentError, match="simulated failure"):
        run_procedure(staircase(station_file), tmp_path / "run.csv", progress=False, on_point=points.append)
    assert len(points) == 3
    check_all(lab, station_file, normal_end=False)
    assert len(data_rows(tmp_path / "run.csv")) == 3


def test_gate_source_lost_for_one_write_then_back(lab, station_file, tmp_path, monkeypatch):
    """A write that fails (VISA timeout) mid-sweep: the run fails, shutdown reads the gate back and ramps it to
    its safe value from wherever it really is."""
    from qpclab.instruments.sources import Keithley2400Source

    count = {"n": 0}

    def flaky_version(original):
        def flaky(self, volts):
            if self.name == "gate_smu":
                count["n"] += 1
                if count["n"] == 60:
                    raise InstrumentError("gate_smu: VISA timeout (simulated lost instrument)")
            return original(self, volts)
        return flaky

    for method in ("write_voltage", "write_voltage_fast", "write_voltage_watched"):  # checked, quick, watched
        monkeypatch.setattr(Keithley2400Source, method, flaky_version(getattr(Keithley2400Source, method)))
    with pytest.raises(InstrumentError, match="lost instrument"):
        run(staircase(station_file), tmp_path / "run.csv")
    check_all(lab, station_file, normal_end=False)


def test_gate_source_lost_for_good_leaves_gate_and_brings_bias_safe(lab, station_file, tmp_path, monkeypatch,
                                                                      caplog):
    """The gate source stops answering for good: nothing more can move that gate (it stays at the last value it
    reached, within every limit); the bias still goes to its safe value and the failure is logged."""
    from qpclab.instruments.sources import Keithley2400Source

    count = {"n": 0}

    def dead_version(original):
        def dead(self, volts):
            if self.name == "gate_smu":
                count["n"] += 1
                if count["n"] >= 60:
                    raise InstrumentError("gate_smu: no reply (simulated lost instrument)")
            return original(self, volts)
        return dead

    for method in ("write_voltage", "write_voltage_fast", "write_voltage_watched"):  # checked, quick, watched
        monkeypatch.setattr(Keithley2400Source, method, dead_version(getattr(Keithley2400Source, method)))
    with pytest.raises(InstrumentError, match="lost instrument"):
        run(staircase(station_file), tmp_path / "run.csv")
    st = load_station(station_file)
    gate_changes = check_history(lab.history["gate"], st.gates["gate"])
    assert gate_changes[-1][1] != st.gates["gate"].safe  # it could not be moved back ...
    assert len([1 for _, v in lab.history["gate"] if v != 0.0]) == 59  # ... and no write after the loss got through
    bias_changes = check_history(lab.history["bias"], st.bias)
    assert bias_changes[-1][1] == st.bias.safe
    assert "gates not brought to their safe values" in caplog.text


def test_ramp_interrupted_half_way(lab, station_file, tmp_path, monkeypatch):
    """A stop request in the middle of the first, long ramp (0 -> -0.3 V, 150 steps): the ramp stops at a step it
    reached, no point is measured, the gate goes back to its safe value."""
    stop = threading.Event()
    original = lab.set_output

    def watch(name, volts):
        original(name, volts)
        if name == "gate" and len(lab.history["gate"]) == 40:
            stop.set()

    monkeypatch.setattr(lab, "set_output", watch)
    result, points = run(staircase(station_file, start=-0.3, stop=-0.25), tmp_path / "run.csv", stop_event=stop)
    assert result.status == "aborted" and result.points == 0 and points == []
    st = check_all(lab, station_file, normal_end=False)
    deepest = min(v for _, v in lab.history["gate"])
    assert -0.3 < deepest < -0.05  # stopped on the way
    step = st.gates["gate"].step
    assert deepest / step == pytest.approx(round(deepest / step), abs=1e-6)  # at one of the ramp's own steps
    assert len(data_rows(result.path)) == 0


def test_ctrl_c_once_stops_safely(lab, station_file, tmp_path, monkeypatch):
    """SIGINT (Ctrl-C) while the gate is moving: the runner asks the procedure to stop, gates go safe."""
    original = lab.set_output
    sent = []

    def watch(name, volts):
        original(name, volts)
        if name == "gate" and len(lab.history["gate"]) == 70 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(lab, "set_output", watch)
    result, points = run(staircase(station_file), tmp_path / "run.csv")
    assert sent and result.status == "aborted"
    check_all(lab, station_file, normal_end=False)
    assert len(data_rows(result.path)) == result.points == len(points)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the runner put the handler back


def test_ctrl_c_twice_stops_after_the_point_and_goes_safe(lab, station_file, tmp_path, monkeypatch, capsys):
    """Two SIGINTs at once: both mean "stop after this point, then safe" (the second is acknowledged, not obeyed
    by an interruption): every output reaches its safe value without a jump or a too-fast step, no traceback."""
    original = lab.set_output
    sent = []

    def watch(name, volts):
        original(name, volts)
        if name == "gate" and len(lab.history["gate"]) == 70 and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(lab, "set_output", watch)
    result, points = run(staircase(station_file), tmp_path / "run.csv")
    assert sent and result.status == "aborted" and result.error is None
    assert "already stopping" in capsys.readouterr().err
    check_all(lab, station_file, normal_end=False)
    assert len(data_rows(result.path)) == result.points == len(points)


def test_keyboard_interrupt_during_a_reading(lab, station_file, tmp_path, monkeypatch):
    from qpclab.instruments.lockins import SR830LockIn

    original = SR830LockIn.read_xy_checked  # the procedures read X, Y and the overload status in one message
    calls = {"n": 0}

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(SR830LockIn, "read_xy_checked", interrupted)
    result, points = run(staircase(station_file), tmp_path / "run.csv")
    assert result.status == "aborted" and result.points == 3
    check_all(lab, station_file, normal_end=False)
    assert len(data_rows(result.path)) == 3


def test_exception_raised_from_the_gate_ramp_itself(lab, station_file, tmp_path, monkeypatch):
    """A target beyond the gate's limits reached mid-run (a procedure bug that slipped past every check before
    the run) is refused by the gate before any write; the run fails and the gates go safe."""
    from qpclab.instruments.gates import GateLimitError
    from qpclab.procedures import dryrun, executor
    from qpclab.procedures.plan import Line

    original = Staircase.plan

    def plan(self, station):  # 0.5 V: above the gate's high limit 0.3 V
        p = original(self, station)
        p._line = lambda k: Line((), [-0.1, -0.09, -0.08, -0.07, -0.06, 0.5], {"Sweep": k})
        return p

    monkeypatch.setattr(Staircase, "plan", plan)
    for module in (dryrun, executor):  # the bug slips past every check: the dry run's and the executor's
        monkeypatch.setattr(module, "check_limits", lambda *args, **kwargs: [])
    with pytest.raises(GateLimitError, match="outside its limits"):
        run(staircase(station_file), tmp_path / "run.csv")
    check_all(lab, station_file, normal_end=False)
    assert max(v for _, v in lab.history["gate"]) <= 0.0
    assert min(v for _, v in lab.history["gate"]) == pytest.approx(-0.1)


def test_planned_values_beyond_the_limits_are_refused_before_anything_moves(lab, station_file, tmp_path):
    before = {k: list(v) for k, v in lab.history.items()}
    with pytest.raises(ValueError, match="outside its limits"):
        run(staircase(station_file, start=-2.5), tmp_path / "run.csv")
    assert {k: list(v) for k, v in lab.history.items()} == before


@pytest.fixture
def split_lab(tmp_path):
    """The QDAC-II lab (two gate halves on two DAC channels) with the virtual gate ``split`` added, and the
    right half given an end value so normal and abnormal ends differ."""
    source = default_station_path().with_name("qdac_lab.yaml")
    if not source.exists():
        pytest.skip("sim_configs/qdac_lab.yaml not there")
    data = yaml.safe_load(source.read_text())
    data["station"]["virtual_gates"] = {"split": {"gate_left": 1.0, "gate_right": 1.0}}
    data["station"]["gates"]["gate_right"]["end"] = GATE_END
    path = tmp_path / "qdac_split.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    library = SimVisaLibrary(str(path))
    library.reset()
    yield library.lab, path
    library.lab.assert_no_unknown_commands()
    del library


@pytest.mark.parametrize("how", ["finished", "aborted", "failed"])
def test_virtual_gate_sweep_every_exit(split_lab, tmp_path, monkeypatch, how):
    """Staircase sweeping the virtual ``split`` gate: both physical halves obey their envelopes on every exit."""
    lab, path = split_lab
    stop = threading.Event()
    points = []

    def on_point(rec):
        points.append(rec)
        if how == "aborted" and len(points) == 2:
            stop.set()

    if how == "failed":
        from qpclab.instruments.lockins import SR830LockIn

        original = SR830LockIn.read_xy_checked  # the procedures read X, Y and the overload status in one message
        calls = {"n": 0}

        def failing(self):
            calls["n"] += 1
            if calls["n"] > 2:
                raise InstrumentError("lockin: no reply (simulated failure)")
            return original(self)

        monkeypatch.setattr(SR830LockIn, "read_xy_checked", failing)
    proc = staircase(path, gate="split")
    if how == "failed":
        with pytest.raises(InstrumentError):
            run_procedure(proc, tmp_path / "run.csv", progress=False, on_point=points.append)
    else:
        result = run_procedure(proc, tmp_path / "run.csv", progress=False, stop_event=stop, on_point=on_point)
        assert result.status == how
    # the halves moved together: both reached the sweep's start
    for g in ("gate_left", "gate_right"):
        assert min(v for _, v in lab.history[g]) == pytest.approx(-0.1)
    check_all(lab, path, normal_end=how == "finished")
    assert len(data_rows(tmp_path / "run.csv")) == len(points) == (6 if how == "finished" else 2)


# ---- signals: SIGTERM, SIGHUP, Ctrl-C once, twice, and during the safe ramp ------------------------------------


def _signals_at(lab, monkeypatch, when: int, signals: list[tuple[float, int]]):
    """At the ``when``-th gate write, send each (delay s, signal) to this process (delays from a timer thread)."""
    original = lab.set_output
    sent = []

    def watch(name, volts):
        original(name, volts)
        if name == "gate" and len(lab.history["gate"]) == when and not sent:
            sent.append(1)
            for delay, sig in signals:
                if delay == 0:
                    os.kill(os.getpid(), sig)
                else:
                    threading.Timer(delay, os.kill, (os.getpid(), sig)).start()

    monkeypatch.setattr(lab, "set_output", watch)
    return sent


@pytest.mark.parametrize("signals", [
    [(0, signal.SIGTERM)],
    [(0, signal.SIGHUP)],
    [(0, signal.SIGINT), (0.01, signal.SIGINT)],
    [(0, signal.SIGINT), (0.2, signal.SIGINT)],
], ids=["SIGTERM", "SIGHUP", "ctrl-c-twice-10ms", "ctrl-c-twice-200ms"])
def test_signals_stop_after_the_point_and_bring_every_output_safe(signals, lab, station_file, tmp_path,
                                                                  monkeypatch, capsys):
    # 450 writes bring the gate to -0.9 V; at write 470 it sweeps: the safe ramp back takes ~0.4 s at 2 V/s, so
    # even the second signal 200 ms later lands while qpclab still brings the station to safe
    p = staircase(station_file, start=-0.9, stop=-0.05, step=0.005, time_constant=3e-3)
    sent = _signals_at(lab, monkeypatch, 470, signals)
    result, points = run(p, tmp_path / "run.csv")
    time.sleep(max(d for d, _ in signals) + 0.05)  # a late timer signal lands after the run: handlers restored
    assert sent and result.status == "aborted" and result.error is None
    check_all(lab, station_file, normal_end=False)
    text = result.path.read_text()
    assert text.splitlines()[-1].startswith("#Status: aborted")
    assert len(data_rows(result.path)) == result.points == len(points)
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_during_the_safe_ramp_is_acknowledged_and_the_ramp_completes(lab, station_file, tmp_path,
                                                                         monkeypatch, capsys):
    p = staircase(station_file, start=-0.3, stop=-0.05, step=0.005, time_constant=3e-3)
    stop = threading.Event()
    original = lab.set_output
    writes_after_stop = []

    def watch(name, volts):
        original(name, volts)
        if stop.is_set() and name == "gate":
            writes_after_stop.append(volts)
            if len(writes_after_stop) in (2, 3):  # the safe ramp is under way: Ctrl-C, twice
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(lab, "set_output", watch)
    result, _ = run(p, tmp_path / "run.csv", on_progress=lambda done, total: done == 20 and stop.set(),
                    stop_event=stop)
    assert result.status == "aborted" and len(writes_after_stop) > 3
    check_all(lab, station_file, normal_end=False)
    err = capsys.readouterr().err
    assert "the safe ramp is not interrupted" in err and "bringing gate to 0 V" in err and "Traceback" not in err
    assert result.path.read_text().splitlines()[-1].startswith("#Status: aborted")
