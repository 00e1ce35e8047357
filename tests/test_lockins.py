"""Lock-ins in their role (SR830, SR860, SR865A) against the simulated lab, the SR865 driver's protocol, and the
unmodified QCoDeS SR830 / SR86x drivers against the twins.

Expectations come from the physics and the manuals: integer conductance plateaus after the circuit's own
correction, the n-stage RC filter's step response, the instrument's limits; never from the code under test.
"""

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from qpclab.analysis.constants import G0
from qpclab.instruments.registry import adapter_factory
from qpclab.instruments.roles import InstrumentError, LockIn
from qpclab.instruments.sources import make_keithley2400
from conftest import manual_clock_lab  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QPC_LAB = ROOT / "sim_configs" / "qpc_lab.yaml"
GATE, LOCKIN = "GPIB0::24::INSTR", "GPIB0::8::INSTR"
LOCKINS = ["sr830", "sr860", "sr865"]


def _lab_with_lockin(tmp_path, driver: str) -> Path:
    """qpc_lab.yaml with its lock-in replaced by ``driver`` (same address, same circuit)."""
    text = QPC_LAB.read_text(encoding="utf-8")
    old = 'lockin: {driver: sr830, address: "GPIB0::8::INSTR"}'
    assert old in text
    path = tmp_path / f"lab_{driver}.yaml"
    path.write_text(text.replace(old, f'lockin: {{driver: {driver}, address: "GPIB0::8::INSTR"}}'), encoding="utf-8")
    return path


@contextmanager
def _lab(tmp_path, driver: str):
    """(lab, clock, gate source, VISA library string) of qpc_lab.yaml with the lock-in ``driver`` (on a ManualClock,
    the gate switched on); fails on unknown commands."""
    with manual_clock_lab(_lab_with_lockin(tmp_path, driver)) as (lab, clock, visa):
        gate = make_keithley2400(GATE, visa, "gate_smu")
        gate.enable()
        yield lab, clock, gate, visa


@pytest.fixture
def lab_rig(tmp_path, request):
    """(lab, clock, gate source, VISA library string) for the lock-in named by the test's parameter."""
    with _lab(tmp_path, request.param) as rig:
        yield rig


@pytest.fixture
def rig(tmp_path, request):
    """(lab, clock, gate source, lock-in adapter) for the lock-in named by the test's parameter."""
    with _lab(tmp_path, request.param) as (lab, clock, gate, visa):
        yield lab, clock, gate, adapter_factory(request.param)(LOCKIN, visa, "lockin")


# ---- the SR865 driver's protocol (SR86x manual: FREQ, FREQINT, PSTF; 2 MHz SR865, 4 MHz SR865A) -------------------
def test_sr865a_sets_a_frequency_beyond_the_sr860_limit():
    from qpclab.instruments.drivers.sr865 import SR865A

    with expected_protocol(SR865A, [("FREQ 3.000000e+06", None), ("FREQ?", "3.000000e+06"),
                                    ("PSTF 1, 2.500000e+06", None), ("FREQINT?", "3.000000e+06")]) as li:
        li.frequency = 3e6
        assert li.frequency == 3e6
        li.frequencypreset2 = 2.5e6
        assert li.internalfrequency == 3e6


def test_sr865_limits_are_refused_not_truncated():
    from pymeasure.instruments.srs import SR860

    from qpclab.instruments.drivers.sr865 import SR865, SR865A

    with expected_protocol(SR865, [("FREQ 2.000000e+06", None)]) as li:
        li.frequency = 2e6
        with pytest.raises(ValueError):
            li.frequency = 3e6  # SR865: 2 MHz
    with expected_protocol(SR865A, []) as li:
        with pytest.raises(ValueError):
            li.frequency = 4.5e6
        with pytest.raises(ValueError):
            li.frequency = 1e-4
    # the reason for the subclass: pymeasure's SR860 silently truncates to its 500 kHz
    with expected_protocol(SR860, [("FREQ 5.000000e+05", None)]) as li:
        li.frequency = 3e6


def test_sr865_inherits_the_sr86x_command_set():
    from qpclab.instruments.drivers.sr865 import SR865

    with expected_protocol(SR865, [("OFLT 12", None), ("SCAL?", "3"), ("OUTP? 0", "1.5e-3"),
                                   ("SNAP? R, THETA", "1.0e-3,45.0")]) as li:
        li.time_constant = 1.0
        assert li.sensitivity == 0.1
        assert li.x == 1.5e-3
        assert li.snap("R", "THETA") == [1.0e-3, 45.0]


# ---- the role matrix ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rig", LOCKINS, indirect=True)
def test_every_lockin_reads_the_staircase(rig):
    lab, clock, gate, li = rig
    assert isinstance(li, LockIn)
    li.excitation_V = 0.1
    li.sensitivity = 1.0
    li.time_constant = 0.01
    li.filter_slope = 24
    wait = li.settle_time(1e-4)
    x = wait / 0.01  # 4 RC stages: a step has e^-x (1 + x + x^2/2 + x^3/6) left after x time constants
    assert math.exp(-x) * (1 + x + x**2 / 2 + x**3 / 6) == pytest.approx(1e-4, rel=1e-3)
    g = []
    gates = np.arange(-1.4, 0.0001, 0.005)
    for v in gates:
        gate.write_voltage(v)
        clock.advance(wait)
        x, _ = li.read_xy()
        g.append(lab.circuit.conductance_G0(x, li.excitation_V))
    g = np.array(g)
    assert abs(g[0]) < 0.01
    for n in range(1, 6):
        assert (np.abs(g - n) < 0.01 * n).sum() >= 5, f"{li.name}: no plateau at {n} G0"
    assert np.all(np.diff(g) > -0.01)


@pytest.mark.parametrize("rig", LOCKINS, indirect=True)
def test_r_and_theta_agree_with_x_and_y(rig):
    lab, clock, gate, li = rig
    li.excitation_V = 0.1
    li.time_constant = 0.1
    gate.write_voltage(-1.15)
    clock.advance(5.0)
    x, y = li.read_xy()
    r, theta = li.read_r_theta()
    assert r == pytest.approx(math.hypot(x, y), rel=1e-3)
    assert abs(theta) < 0.1  # resistive sample: in phase
    assert li.x == pytest.approx(x, rel=1e-3)
    assert li.r == pytest.approx(r, rel=1e-3)
    snap = li.snapshot()
    assert snap["time_constant_s"] == 0.1 and snap["excitation_V"] == pytest.approx(0.1)
    assert snap["filter_slope_dB"] in (6, 12, 18, 24) and snap["sensitivity_V"] > 0


@pytest.mark.parametrize("rig", LOCKINS, indirect=True)
def test_output_follows_the_filter_after_a_gate_step(rig):
    lab, clock, gate, li = rig
    li.excitation_V = 0.1
    for slope, order in ((6, 1), (18, 3)):
        tau = 0.1
        li.time_constant = tau
        li.filter_slope = slope
        gate.write_voltage(-1.4)
        clock.advance(100 * tau)
        before = li.read_xy()[0]
        gate.write_voltage(-1.15)
        clock.advance(tau)
        at_tau = li.read_xy()[0]
        clock.advance(100 * tau)
        after = li.read_xy()[0]
        expected = math.exp(-1) * sum(1 / math.factorial(k) for k in range(order))
        assert (after - at_tau) / (after - before) == pytest.approx(expected, abs=3e-3)


@pytest.mark.parametrize("rig", LOCKINS, indirect=True)
def test_overload_and_auto_range(rig):
    lab, clock, gate, li = rig
    li.excitation_V = 0.1
    li.time_constant = 0.01
    gate.write_voltage(-0.95)  # third plateau: G = 3 G0 -> X = 0.1 V * 1e-4 * 1e8 * G / (1 + G Rs)
    clock.advance(1.0)
    g = 3 * G0
    expected_x = 0.1 * 1e-4 * 1e8 * g / (1 + g * 1500.0)
    li.sensitivity = 0.01
    li.read_xy()
    assert li.overloaded()
    fs = li.auto_range()
    assert fs >= expected_x / 0.8
    smaller = [s for s in li.SENSITIVITIES_V if s < fs]
    assert not smaller or max(smaller) < expected_x / 0.8 * 1.001  # the most sensitive one that holds it
    li.overloaded()
    li.read_xy()
    assert not li.overloaded()
    assert li.read_xy()[0] == pytest.approx(expected_x, rel=0.01)


@pytest.mark.parametrize("rig", ["sr860"], indirect=True)
def test_sr86x_status_bits_are_where_srs_puts_them(rig):
    """SR86x LIA status (SRS): bit 0 channel 1 (X) output overload, 1 channel 2 (Y), 4 input range; the serial
    poll's LIA summary is bit 3 (the SR860 manual's example: ``*SRE 3,1``, then bit 3 of the status byte)."""
    lab, clock, gate, li = rig
    d = li.driver
    li.excitation_V = 0.1
    li.time_constant = 0.01
    gate.write_voltage(-0.95)  # third plateau: X = 0.1 V * 1e-4 * 1e8 * 3 G0 / (1 + 3 G0 * 1500 ohm) = 0.172 V
    clock.advance(1.0)
    d.write("SCAL 3")  # 100 mV full scale: X beyond it, Y (noise only) within it
    d.ask("LIAS?")  # clear what the settings latched
    li.read_xy()
    assert int(d.ask("LIAS?")) == 0b1
    d.write("SCAL 0")  # 1 V full scale
    d.write("IRNG 2")  # 100 mV peak input range: 0.172 V rms is 0.243 V peak
    clock.advance(1.0)
    d.ask("LIAS?")
    d.write("LIAE 16")  # the input-range bit in the LIA summary
    li.read_xy()
    assert int(d.ask("*STB?")) & 0b1000  # LIA summary in serial poll bit 3 while the overload is latched
    assert int(d.ask("LIAS?")) == 0b1_0000
    assert li.overloaded()  # the adapter sees the input overload (still present: latched again)


@pytest.mark.parametrize("rig", LOCKINS, indirect=True)
def test_out_of_range_settings_are_refused_naming_instrument_and_value(rig):
    lab, clock, gate, li = rig
    with pytest.raises(InstrumentError, match=r"lockin.*time constant 1000000\.0"):
        li.time_constant = 1e6
    with pytest.raises(InstrumentError, match=r"lockin.*sensitivity 5\.0"):
        li.sensitivity = 5.0
    with pytest.raises(InstrumentError, match=r"lockin.*filter slope 30"):
        li.filter_slope = 30
    with pytest.raises(InstrumentError, match=r"lockin.*amplitude 7\.5"):
        li.excitation_V = 7.5
    with pytest.raises(InstrumentError, match=r"lockin.*frequency 5000000\.0"):
        li.frequency_Hz = 5e6
    # the instrument's own refusal: an out-of-range index sent directly sets the execution-error bit
    header = "SENS" if li.name and type(li).__name__ == "SR830LockIn" else "SCAL"
    li.driver.write(f"{header} 99")
    assert lab.refused and lab.refused[-1][0] == "lockin"
    with pytest.raises(InstrumentError, match=r"lockin.*execution error"):
        li.check_errors(f"{header} 99")
    li.check_errors("nothing")  # reading *ESR? cleared it


@pytest.mark.parametrize("rig", ["sr865"], indirect=True)
def test_sr865a_reference_goes_to_4_mhz(rig):
    lab, clock, gate, li = rig
    li.frequency_Hz = 3.5e6
    assert li.frequency_Hz == pytest.approx(3.5e6)
    assert li.FREQUENCY_RANGE_HZ[1] == 4e6
    # a station that declares a plain SR865 gets the 2 MHz limit
    plain = adapter_factory("sr865")(LOCKIN, f"{lab.path}@qpcsim", "lockin", model="SR865")
    with pytest.raises(InstrumentError, match=r"lockin.*3000000\.0"):
        plain.frequency_Hz = 3e6


@pytest.mark.parametrize("rig", ["sr860"], indirect=True)
def test_sr860_refuses_what_only_the_sr865_can_do(rig):
    lab, clock, gate, li = rig
    with pytest.raises(InstrumentError, match=r"1000000\.0"):
        li.frequency_Hz = 1e6
    li.driver.write("FREQ 1e6")  # sent raw: the twin refuses it like the SR860
    with pytest.raises(InstrumentError):
        li.check_errors("FREQ 1e6")
    assert li.frequency_Hz == pytest.approx(1000.0)


# ---- QCoDeS, unmodified ---------------------------------------------------------------------------------------------
def _qcodes_reads_the_lab(lab, clock, gate, li, plateau_gate_V: float, plateau: int, time_constant: float,
                          snap) -> None:
    """An unmodified QCoDeS lock-in driver ``li`` sets itself up and reads the plateau at ``plateau_gate_V``
    (X alone and X, Y together through ``snap``); expected G from the plateau number, through the circuit."""
    try:
        li.amplitude(0.1)
        li.time_constant(time_constant)
        li.sensitivity(0.5)
        assert li.time_constant() == time_constant
        assert li.sensitivity() == 0.5
        gate.write_voltage(plateau_gate_V)
        clock.advance(2.0)
        assert lab.circuit.conductance_G0(li.X(), 0.1) == pytest.approx(plateau, abs=0.01 * plateau)
        x, _ = snap(li)
        assert lab.circuit.conductance_G0(x, 0.1) == pytest.approx(plateau, abs=0.01 * plateau)
    finally:
        li.close()
    assert lab.refused == []


@pytest.mark.parametrize("lab_rig", ["sr830"], indirect=True)
def test_qcodes_sr830_reads_the_lab(lab_rig):
    from qcodes.instrument_drivers.stanford_research import SR830

    lab, clock, gate, visa = lab_rig
    li = SR830("qc_sr830", LOCKIN, visalib=visa)
    li.filter_slope(24)
    _qcodes_reads_the_lab(lab, clock, gate, li, -1.15, 1, 0.03, lambda d: d.snap("x", "y"))  # first plateau


@pytest.mark.parametrize("lab_rig", ["sr860"], indirect=True)
def test_qcodes_sr860_reads_the_lab(lab_rig):
    from qcodes.instrument_drivers.stanford_research import SR860

    lab, clock, gate, visa = lab_rig
    li = SR860("qc_sr860", LOCKIN, visalib=visa)
    _qcodes_reads_the_lab(lab, clock, gate, li, -1.05, 2, 0.01, lambda d: d.get_values("X", "Y"))  # second plateau
