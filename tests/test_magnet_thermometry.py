"""Magnet supply (AMI 430, pymeasure's driver) and fridge thermometry (Lake Shore 372, our driver) through their
roles against the simulated field lab, plus the 372 driver's exact command sequences.

Expectations come from the manuals (command syntax, STATE? codes, error codes), from the Landauer physics
computed independently here (Zeeman-split e^2/h plateaus; the thermally smeared step width by direct numerical
integration of the Fermi window over the Kemble transmission), never from the code under test.
"""

import math

import numpy as np
import pytest
import pyvisa
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.srs import SR830
from pymeasure.test import expected_protocol

from qpclab.analysis.constants import K_B_EV, MU_B_EV
from qpclab.instruments.drivers.lakeshore372 import LakeShore372, LakeShore372Error
from qpclab.instruments.magnets import AMI430Magnet, make_ami430
from qpclab.instruments.roles import InstrumentError, Magnet, Thermometer
from qpclab.instruments.station import load_station
from qpclab.instruments.thermometry import LakeShore372Thermometer, make_lakeshore372

from conftest import SIM_CONFIGS, ManualClock

GATE, LOCKIN = "GPIB0::24::INSTR", "GPIB0::8::INSTR"
MAGNET, FRIDGE = "TCPIP0::127.0.0.1::7180::SOCKET", "GPIB0::12::INSTR"


# ---- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def lab_path():
    return SIM_CONFIGS / "field_lab.yaml"


@pytest.fixture
def station(lab_path):
    return load_station(lab_path)


@pytest.fixture
def clock(sim_lab):
    c = ManualClock()
    sim_lab.clock = c
    sim_lab.reset()
    yield c


@pytest.fixture
def magnet(visa_library, station, clock):
    m = make_ami430(MAGNET, visa_library, "magnet_supply", limits_T=station.magnet.limits_T,
                    rate_T_per_s=station.magnet.rate_T_per_s)
    yield m
    m.driver.adapter.close()


@pytest.fixture
def fridge(visa_library, station, clock):
    th = make_lakeshore372(FRIDGE, visa_library, "fridge_ls372", channel=station.thermometer.channel,
                           limits_K=station.thermometer.limits_K)
    yield th
    th.driver.adapter.close()


def qpc_instruments(visa_library):
    smu = Keithley2400(GATE, visa_library=visa_library)
    li = SR830(LOCKIN, visa_library=visa_library)
    smu.source_mode = "voltage"
    smu.source_voltage = 0.0
    smu.compliance_current = 1e-6
    smu.enable_source()
    li.sine_voltage = 0.1
    li.sensitivity = 0.5
    li.time_constant = 0.01
    li.filter_slope = 24
    return smu, li


def gate_sweep(smu, li, circuit, clock, gates):
    g = []
    for v in gates:
        smu.source_voltage = float(v)
        clock.advance(0.2)  # 20 time constants
        g.append(circuit.conductance_G0(li.x, li.sine_voltage))
    return np.array(g)


def wait_holding(m, clock, dt=1.0, limit_s=5000.0):
    t = 0.0
    while not m.is_holding():
        clock.advance(dt)
        t += dt
        assert t < limit_s, f"magnet not holding after {limit_s} s: {m.state_name()}"


# ---- the Lake Shore 372 driver: exact command sequences (Model 372 manual, section 6.6.1) ---------------------
def test_ls372_readings_protocol():
    with expected_protocol(LakeShore372, [("RDGK? 6", "+1.2345E-02"), ("RDGR? 6", "+2.3456E+04"),
                                          ("RDGST? 6", "000"), ("RDGST? 6", "144"), ("RDGK? A", "+0.0000E+00"),
                                          ("*IDN?", "LSCI,MODEL372,LSA2B4C/LSA2B4D,1.4")]) as ls:
        assert ls.ch_6.kelvin == pytest.approx(0.012345)
        assert ls.ch_6.resistance == pytest.approx(23456.0)
        assert ls.ch_6.status_flags == []
        assert ls.ch_6.status_flags == ["R. OVER", "T. UNDER"]  # 144 = 16 + 128
        assert ls.input("A").kelvin == 0.0
        assert ls.id.startswith("LSCI,MODEL372")


def test_ls372_control_protocol():
    with expected_protocol(LakeShore372, [
        ("OUTMODE 0,5,6,1,0,0,0", None), ("*ESR?", "0"),
        ("OUTMODE? 0", "5,6,1,0,0,0"),
        ("RANGE 0,5", None), ("*ESR?", "0"),
        ("RANGE? 0", "5"),
        ("SETP 0,0.1", None), ("*ESR?", "0"),
        ("SETP? 0", "+1.0000E-01"),
        ("PID 0,10,20,0", None), ("*ESR?", "0"),
        ("PID? 0", "10,20,0"),
        ("RAMP 0,1,0.5", None), ("*ESR?", "0"),
        ("RAMPST? 0", "1"),
        ("SCAN 6,0", None), ("*ESR?", "0"),
        ("SCAN?", "06,0"),
        ("INSET 6,1,10,3,21,1", None), ("*ESR?", "0"),
        ("INSET? 6", "1,10,3,21,1"),
    ]) as ls:
        ls.sample_heater.output_mode = ("closed_loop", 6, True, 0, 0, 0)
        assert ls.sample_heater.output_mode == ["5", "6", "1", "0", "0", "0"]
        ls.sample_heater.range = 5
        assert ls.sample_heater.range == 5
        ls.sample_heater.setpoint = 0.1
        assert ls.sample_heater.setpoint == pytest.approx(0.1)
        ls.sample_heater.pid = (10, 20, 0)
        assert ls.sample_heater.pid == [10, 20, 0]
        ls.sample_heater.ramp = (True, 0.5)
        assert ls.sample_heater.ramping is True
        ls.scanner = (6, False)
        assert ls.scanner == [6, 0]
        ls.ch_6.setup = (True, 10, 3, 21, 1)
        assert ls.ch_6.setup == [1, 10, 3, 21, 1]


def test_ls372_refused_setting_raises_from_the_event_status_register():
    # a negative set point: the 372 ignores it and sets the execution-error bit (16) of *ESR
    with expected_protocol(LakeShore372, [("SETP 0,-0.1", None), ("*ESR?", "16")]) as ls:
        with pytest.raises(LakeShore372Error, match="execution error"):
            ls.sample_heater.setpoint = -0.1
    # values outside the manual's ranges are refused by the driver before anything is sent
    with expected_protocol(LakeShore372, []) as ls:
        with pytest.raises(ValueError):
            ls.sample_heater.range = 9
        with pytest.raises(ValueError):
            ls.sample_heater.pid = (10, 20, 3000)
        with pytest.raises(ValueError):
            ls.input(17)


# ---- the twins through raw VISA: the manuals' replies and refusals --------------------------------------------
def test_ami430_twin_greets_and_refuses_a_target_beyond_the_current_limit(sim_lab, visa_library, clock):
    rm = pyvisa.ResourceManager(visa_library)
    inst = rm.open_resource(MAGNET, read_termination="\r\n", write_termination="\r\n")
    assert inst.read() == "American Magnetics Model 430 IP Interface"
    assert inst.read() == "Hello."
    assert inst.query("*IDN?").startswith("AMERICAN MAGNETICS INC.,MODEL 430")
    inst.write("CONFIGURE:FIELD:UNITS 1")
    assert inst.query("FIELD:UNITS?") == "1"
    inst.write("CONF:FIELD:TARG 2.5")
    assert float(inst.query("FIELD:TARGET?")) == pytest.approx(2.5)
    assert float(inst.query("CURR:TARG?")) == pytest.approx(25.0)  # coil constant 0.1 T/A
    inst.write("CONF:FIELD:TARG 12.5")  # current limit 120 A x 0.1 T/A = 12 T
    assert inst.query("SYST:ERR?") == '-105,"Out of range"'
    assert float(inst.query("FIELD:TARG?")) == pytest.approx(2.5)  # unchanged
    assert inst.query("SYST:ERR?") == '0,"No error"'
    inst.write("CONF:FIELD:UNITS 0")  # kilogauss
    assert float(inst.query("FIELD:TARG?")) == pytest.approx(25.0)
    assert float(inst.query("COIL?")) == pytest.approx(1.0)  # kG/A
    assert inst.query("STATE?") == "3"  # PAUSED at power-on
    inst.close()


def test_ls372_twin_ignores_a_negative_set_point_and_flags_an_execution_error(sim_lab, visa_library, clock):
    rm = pyvisa.ResourceManager(visa_library)
    inst = rm.open_resource(FRIDGE, read_termination="\r\n", write_termination="\r\n")
    assert inst.query("*IDN?").startswith("LSCI,MODEL372")
    inst.write("SETP 0,0.2")
    assert inst.query("*ESR?") == "0"
    inst.write("SETP 0,-0.1")
    assert inst.query("*ESR?") == "16"
    assert float(inst.query("SETP? 0")) == pytest.approx(0.2)
    assert inst.query("*ESR?") == "0"  # reading clears it
    inst.write("RANGE 0,9")
    assert inst.query("*ESR?") == "16"
    assert inst.query("RANGE? 0") == "0"
    inst.close()


# ---- the magnet through its role ----------------------------------------------------------------------------
def test_magnet_role_ramps_at_its_rate_and_reports_ramping_then_holding(sim_lab, magnet, clock):
    assert isinstance(magnet, Magnet)
    assert magnet.read_field() == 0.0
    rate = 0.01
    magnet.ramp_to(2.0, rate)
    assert magnet.state() == 1 and magnet.state_name() == "RAMPING"
    assert not magnet.is_holding()
    t, b = [], []
    for _ in range(10):
        clock.advance(15.0)
        t.append(clock.t)
        b.append(magnet.read_field())
        assert sim_lab.field_T == pytest.approx(b[-1])  # the sample sees the field
    slope = np.polyfit(t, b, 1)[0]
    assert slope == pytest.approx(rate, rel=1e-6)
    assert magnet.state_name() == "RAMPING"
    clock.advance(200.0 - 150.0 + 1.0)
    assert magnet.is_holding() and magnet.state() == 2
    assert magnet.read_field() == pytest.approx(2.0, abs=1e-9)
    assert magnet.ramp_rate_T_per_s() == pytest.approx(rate)
    # back down at half the rate: the slope follows
    magnet.ramp_to(1.0, rate / 2)
    clock.advance(20.0)
    assert magnet.read_field() == pytest.approx(2.0 - 20.0 * rate / 2)


def test_magnet_refuses_fields_and_rates_beyond_the_limits(sim_lab, magnet, visa_library, clock):
    with pytest.raises(InstrumentError, match=r"magnet_supply.*12\.5 T.*limits"):
        magnet.ramp_to(12.5)
    with pytest.raises(InstrumentError, match=r"magnet_supply.*0\.02 T/s"):
        magnet.ramp_to(1.0, 0.02)  # the station allows 0.01 T/s
    with pytest.raises(InstrumentError, match="not a finite number"):
        magnet.ramp_to(float("nan"))
    assert magnet.state_name() == "PAUSED" and magnet.read_field() == 0.0  # nothing was started
    # without station limits, the supply's own limits hold: 12 T from coil constant x current limit ...
    bare = AMI430Magnet(magnet.driver, "bare_magnet")
    with pytest.raises(InstrumentError, match=r"bare_magnet.*13 T.*supply's limit 12 T"):
        bare.ramp_to(13.0)
    # ... and a rate above the supply's largest (0.5 A/s = 0.05 T/s) is refused by the instrument itself
    with pytest.raises(InstrumentError, match=r'bare_magnet: ramp rate 0\.1 T/s refused by the supply: -105'):
        bare.ramp_to(1.0, 0.1)
    assert magnet.state_name() == "PAUSED"


# ---- the thermometer through its role -----------------------------------------------------------------------
def test_thermometer_relaxes_to_the_set_point_with_its_time_constant(sim_lab, fridge, clock):
    assert isinstance(fridge, Thermometer)
    base = fridge.read_temperature()
    assert base == pytest.approx(0.010, rel=0.01)  # base temperature, 0.1% reading noise
    # electrons saturate above the mixing chamber at base: T_e = (T_mc^5 + T_sat^5)^(1/5), T_sat = 20 mK
    assert sim_lab.temperature_K == pytest.approx((0.010**5 + 0.020**5) ** 0.2, rel=1e-6)
    fridge.set_setpoint(0.5)
    assert fridge.setpoint == pytest.approx(0.5)
    assert fridge.heater_range == 5 and fridge.heater_range_A == pytest.approx(3.16e-3)
    tau = 30.0
    clock.advance(tau)
    expected = 0.5 + (0.010 - 0.5) * math.exp(-1.0)  # first order: one time constant
    assert fridge.read_temperature() == pytest.approx(expected, rel=0.005)
    clock.advance(10 * tau)
    assert fridge.read_temperature() == pytest.approx(0.5, rel=0.005)
    assert sim_lab.temperature_K == pytest.approx(0.5, rel=1e-4)  # far above T_sat the electrons follow
    fridge.heater_off()
    clock.advance(20 * tau)
    assert fridge.read_temperature() == pytest.approx(0.010, rel=0.01)


def test_thermometer_refuses_set_points_outside_the_limits(sim_lab, fridge, clock):
    with pytest.raises(InstrumentError, match=r"fridge_ls372.*-0\.1 K.*limits"):
        fridge.set_setpoint(-0.1)
    with pytest.raises(InstrumentError, match=r"fridge_ls372.*2 K.*limits"):
        fridge.set_setpoint(2.0)
    # without station limits the 372 itself refuses (execution error) and nothing changes
    bare = LakeShore372Thermometer(fridge.driver, "bare_ls372", channel=6)
    bare.set_setpoint(0.3)
    with pytest.raises(InstrumentError, match=r"bare_ls372: set point -0\.1 K refused: .*execution error"):
        bare.set_setpoint(-0.1)
    with pytest.raises(InstrumentError, match=r"bare_ls372: set point 50 K refused"):
        bare.set_setpoint(50)  # above the sensor curve's 40 K limit
    assert bare.setpoint == pytest.approx(0.3)


# ---- physics through the instruments -------------------------------------------------------------------------
def test_in_plane_field_splits_the_steps_into_e2_over_h_plateaus(sim_lab, magnet, visa_library, clock):
    smu, li = qpc_instruments(visa_library)
    circuit = sim_lab.circuit
    gates = np.arange(-1.32, -0.98, 0.002)
    g0 = gate_sweep(smu, li, circuit, clock, gates)
    # the field that resolves the spin splitting: |g| mu_B B well above the step width hw_x / 2 pi
    b = 10.0
    sample = sim_lab.sample
    zeeman = abs(sample.g_factor) * MU_B_EV * b
    assert zeeman > 8 * sample.hw_x_eV / (2 * math.pi)
    magnet.ramp_to(b)
    wait_holding(magnet, clock, dt=10.0)
    assert sim_lab.field_T == pytest.approx(b)
    gb = gate_sweep(smu, li, circuit, clock, gates)

    def flattest(g, lo, hi):
        slope = np.abs(np.gradient(g, gates))
        window = (g > lo) & (g < hi)
        i = np.flatnonzero(window)[np.argmin(slope[window])]
        return g[i], slope[i], slope.max()

    for level in (0.5, 1.5):
        value, slope, steepest = flattest(gb, level - 0.25, level + 0.25)
        assert value == pytest.approx(level, rel=0.02), f"no plateau at {level} G0 in field"
        # flat: the two spin-split risers' tails leave a slope ~2 x 2 pi exp(-pi E_Z / hw_x) of the riser's (7%)
        assert slope < 0.1 * steepest
        # at zero field the same window holds only a riser, no plateau
        value0, slope0, steepest0 = flattest(g0, level - 0.25, level + 0.25)
        assert slope0 > 0.5 * steepest0
        assert abs(value0 - level) > 0.1
    for level in (1.0, 2.0):  # the integer plateaus survive
        value, slope, steepest = flattest(gb, level - 0.25, level + 0.25)
        assert value == pytest.approx(level, rel=0.02)


def _ten_ninety_width_eV(hw_x_eV, temperature_K):
    """10-90% width (eV, in barrier offset) of a thermally smeared saddle step, by direct numerical integration
    of the Fermi window -f'(E) against the Kemble transmission 1/(1 + exp(-2 pi (x + E)/hw_x))."""
    from scipy.optimize import brentq

    kt = K_B_EV * temperature_K
    e = np.linspace(-40 * kt, 40 * kt, 20001)
    w = 1.0 / (4.0 * kt * np.cosh(e / (2.0 * kt)) ** 2)
    w /= np.trapezoid(w, e)

    def g(x):
        return np.trapezoid(w / (1.0 + np.exp(-2.0 * math.pi * (x + e) / hw_x_eV)), e)

    span = 20 * (kt + hw_x_eV)
    return brentq(lambda x: g(x) - 0.9, -span, span) - brentq(lambda x: g(x) - 0.1, -span, span)


def _measured_width_V(gates, g):
    """10-90% width of the first step (0 -> 1 G0) in gate voltage, linear interpolation (g rising)."""
    assert np.all(np.diff(g) > -1e-3) and g[0] < 0.01 and 0.99 < g[-1] < 1.01
    return np.interp(0.9, g, gates) - np.interp(0.1, g, gates)


def test_temperature_broadens_the_steps_as_the_fermi_window_says(sim_lab, fridge, visa_library, clock):
    smu, li = qpc_instruments(visa_library)
    circuit = sim_lab.circuit
    sample = sim_lab.sample
    lever = sample.lever_arms_eV_per_V["gate"]
    gates = np.arange(-1.30, -1.14, 0.0005)  # the first step, up to mid-plateau
    widths = {}
    for setpoint in (None, 1.0):
        if setpoint is not None:
            fridge.set_setpoint(setpoint)
            clock.advance(15 * 30.0)  # 15 thermal time constants
            assert fridge.read_temperature() == pytest.approx(setpoint, rel=0.005)
        t_mc = fridge.read_temperature()
        t_e = (t_mc**5 + 0.020**5) ** 0.2  # the lab file's electron saturation (documented model)
        g = gate_sweep(smu, li, circuit, clock, gates)
        widths[setpoint] = _measured_width_V(gates, g)
        expected = _ten_ninety_width_eV(sample.hw_x_eV, t_e) / lever
        assert widths[setpoint] == pytest.approx(expected, rel=0.01)
        # and the rough estimate of physics.md: 2 ln 9 sqrt((hw_x/2pi)^2 + (kT)^2), within about 6%
        rough = 2 * math.log(9) * math.hypot(sample.hw_x_eV / (2 * math.pi), K_B_EV * t_e) / lever
        assert widths[setpoint] == pytest.approx(rough, rel=0.08)
    assert widths[1.0] > 1.3 * widths[None]


def test_connect_builds_the_magnet_and_thermometer_roles(sim_lab, station, clock):
    from qpclab.instruments.connect import connect

    lab = connect(station, needed={"magnet_supply", "fridge_ls372"})
    try:
        assert isinstance(lab.magnet, AMI430Magnet) and isinstance(lab.thermometer, LakeShore372Thermometer)
        lab.magnet.configure(station.magnet.limits_T, station.magnet.rate_T_per_s)
        lab.thermometer.configure(station.thermometer.channel, station.thermometer.limits_K)
        snap = lab.snapshot()
        assert snap["magnet_supply"]["state"] == "PAUSED"
        assert snap["fridge_ls372"]["channel"] == 6
    finally:
        lab.close()


def test_persistent_switch_is_heated_before_the_ramp_and_holds_the_field_when_cold(sim_lab, magnet, clock):
    magnet.driver.write("CONF:PS 1")  # a magnet with a persistent switch (heat and cool times 20 s)
    assert magnet.has_switch() and not magnet.switch_heated()
    magnet.ramp_to(0.5, 0.01)
    assert magnet.state_name() == "HEATING SWITCH"
    clock.advance(10.0)
    assert magnet.read_field() == 0.0  # nothing moves while the switch warms up
    clock.advance(10.0 + 25.0)  # heated after 20 s, then 25 s of ramping
    assert magnet.switch_heated() and magnet.state_name() == "RAMPING"
    assert magnet.read_field() == pytest.approx(0.25, abs=1e-9)
    wait_holding(magnet, clock)
    magnet.cool_switch()
    assert magnet.state_name() == "COOLING SWITCH"
    clock.advance(21.0)
    assert not magnet.switch_heated() and magnet.state_name() == "HOLDING"
    magnet.zero()  # the supply ramps down; the magnet is persistent and keeps its field
    clock.advance(100.0)
    assert magnet.state_name() == "AT ZERO"
    assert float(magnet.driver.supply_current) == 0.0
    assert magnet.read_field() == pytest.approx(0.5) and sim_lab.field_T == pytest.approx(0.5)


def test_qcodes_ami430_driver_ramps_the_simulated_magnet(sim_lab, visa_library, clock):
    from qcodes.instrument_drivers.american_magnetics import AMIModel430

    m = AMIModel430("qc_ami430_field_lab", MAGNET, visalib=visa_library, terminator="\r\n")
    try:
        m.field_units("tesla")
        m.ramp_rate_units("seconds")
        assert m.field() == 0.0 and m.ramping_state() == "paused"
        assert m.field_limit() == pytest.approx(12.0)
        m.ramp_rate(0.005)  # below QCoDeS's default software limit of 0.06 A/s (0.006 T/s here)
        m.set_field(0.1, block=False)
        assert m.ramping_state() == "ramping"
        clock.advance(10.0)
        assert m.field() == pytest.approx(0.05)
        clock.advance(11.0)
        assert m.ramping_state() == "holding" and sim_lab.field_T == pytest.approx(0.1)
    finally:
        m.close()


def test_ami430_twin_ramps_each_segment_at_its_own_rate(sim_lab, visa_library, clock):
    rm = pyvisa.ResourceManager(visa_library)
    inst = rm.open_resource(MAGNET, read_termination="\r\n", write_termination="\r\n")
    inst.read(), inst.read()  # greeting
    inst.write("CONF:RAMP:RATE:UNITS 0;:CONF:RAMP:RATE:SEG 2")
    inst.write("CONF:RAMP:RATE:CURR 1,0.1,10")  # 0.1 A/s below 10 A
    inst.write("CONF:RAMP:RATE:CURR 2,0.05,120")  # 0.05 A/s above
    assert inst.query("RAMP:RATE:CURR:2?") == "0.05,120"
    inst.write("CONF:CURR:TARG 20;:RAMP")
    clock.advance(150.0)  # 100 s to 10 A, then 50 s at 0.05 A/s
    assert float(inst.query("CURR:MAG?")) == pytest.approx(12.5)
    clock.advance(150.0)
    assert inst.query("STATE?") == "2"
    inst.write("ZERO")
    clock.advance(100.0)  # down through segment 2 at 0.05 A/s
    assert float(inst.query("CURR:SUPP?")) == pytest.approx(15.0)
    clock.advance(100.0 + 50.0)  # the rest of segment 2, then 5 A of segment 1 at 0.1 A/s
    assert float(inst.query("CURR:SUPP?")) == pytest.approx(5.0)
    assert inst.query("STATE?") == "6"  # ZEROING
    clock.advance(60.0)
    assert inst.query("STATE?") == "8" and float(inst.query("FIELD:MAG?")) == 0.0  # AT ZERO
    assert inst.query("SYST:ERR?") == '0,"No error"'
    inst.close()
