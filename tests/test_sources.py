"""Gate sources: our QDAC-II driver's exact command sequences, every source driver through the VoltageSource role
against the simulated lab, and errors as the instruments report them.

Expectations come from the instruments' command references (exact SCPI strings, ranges, error codes) and from the
Landauer formula evaluated here independently (Kemble transmission of a saddle point), never from the simulator.
"""

from __future__ import annotations

import math
import textwrap

import pytest
import pyvisa
from pymeasure.test import expected_protocol

from qpclab.instruments.connect import connect
from qpclab.instruments.drivers.qdac2 import QDac2, parse_error_list
from qpclab.instruments.roles import InstrumentError, VoltageSource
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.sources import QDac2Source
from qpclab.instruments.station import load_station

QDAC_ADDRESS = "TCPIP0::127.0.0.1::5025::SOCKET"
ADDRESSES = {"keithley2400": "GPIB0::24::INSTR", "keithley2450": "GPIB0::18::INSTR",
             "yokogawags200": "GPIB0::1::INSTR", "qdac2": QDAC_ADDRESS}
LOCKIN = "GPIB0::8::INSTR"

# gaas_split_gate preset (sim_configs/samples.yaml): the numbers the analytic staircase below is evaluated with
HW_X, HW_Y, LEVER, V_PINCH, N_MODES = 0.5e-3, 2.0e-3, 0.02, -1.2, 12


def landauer_G0(v_gate: float) -> float:
    """Zero-temperature saddle-point QPC (Buttiker 1990): G/G0 = sum_n 1/(1 + exp(-2 pi eps_n))."""
    total = 0.0
    for n in range(N_MODES):
        eps = (LEVER * (v_gate - V_PINCH) - n * HW_Y) / HW_X
        total += 1.0 / (1.0 + math.exp(-2.0 * math.pi * eps)) if eps > -50 else 0.0
    return total


class ManualClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, dt):
        self.t += dt


# ---- 1. the QDAC-II driver: exact command sequences (QDAC-II SCPI command reference) ---------------------------

def test_qdac2_sets_and_reads_a_channel_level():
    with expected_protocol(QDac2, [("sour3:volt -0.5", None), ("sour3:volt?", "-0.5"),
                                   ("sour24:volt 1.23456789", None), ("sour24:volt:last?", "1.2")]) as q:
        q.ch_3.voltage = -0.5
        assert q.ch_3.voltage == -0.5
        q.ch_24.voltage = 1.23456789  # 25-bit DAC: the level goes out with all its digits
        assert q.ch_24.voltage_last == 1.2


def test_qdac2_refuses_levels_beyond_ten_volts_before_sending():
    with expected_protocol(QDac2, []) as q:
        with pytest.raises(ValueError):
            q.ch_1.voltage = 10.5
        with pytest.raises(ValueError):
            q.ch_1.voltage = -10.01
        with pytest.raises(ValueError):
            q.channel(25)
        with pytest.raises(ValueError):
            q.channel(0)


def test_qdac2_mode_slew_range_filter_and_current():
    with expected_protocol(QDac2, [
        ("sour2:volt:mode fix", None), ("sour2:volt:mode?", "FIX"),
        ("sour2:volt:mode list", None),
        ("sour2:volt:slew 0.5", None), ("sour2:volt:slew?", "0.5"),
        ("sour2:volt:slew inf", None), ("sour2:volt:slew?", "9.9e37"),
        ("sour2:rang low", None), ("sour2:rang?", "LOW"),
        ("sour2:filt dc", None), ("sour2:filt?", "DC"),
        ("sens2:rang high", None),
        ("read2?", "1.5e-12"),
        ("sour2:all:abor", None),
    ]) as q:
        ch = q.channel(2)
        ch.dc_mode = "fixed"
        assert ch.dc_mode == "fixed"
        ch.dc_mode = "list"
        ch.slew_rate = 0.5
        assert ch.slew_rate == 0.5
        ch.slew_rate = math.inf
        assert ch.slew_rate == math.inf  # SCPI's infinity, 9.9E37
        ch.output_range = "low"
        assert ch.output_range == "low"
        ch.output_filter = "dc"
        assert ch.output_filter == "dc"
        ch.current_range = "high"
        assert ch.current == pytest.approx(1.5e-12)
        ch.abort()


def test_qdac2_identity_reset_and_error_queue():
    with expected_protocol(QDac2, [
        ("*IDN?", "QDevil, QDAC-II, 101, 13-1.57"),
        ("*RST", None),
        ("syst:err:coun?", "2"),
        ("syst:err:all?", '-222, "Data out of range", -113, "Undefined header"'),
        ("syst:err:all?", '0, "No error"'),
        ("abor", None),
    ]) as q:
        assert q.id == "QDevil, QDAC-II, 101, 13-1.57"
        q.reset()
        assert q.error_count == 2
        assert q.all_errors() == [(-222, "Data out of range"), (-113, "Undefined header")]
        assert q.all_errors() == []
        q.abort()


def test_error_list_parser_reads_the_scpi_forms():
    assert parse_error_list('0,"No error"') == []
    assert parse_error_list('-222,"Data out of range"') == [(-222, "Data out of range")]
    assert parse_error_list('-109, "Missing parameter", -222, "Data out of range"') == \
        [(-109, "Missing parameter"), (-222, "Data out of range")]


def test_qdac2_channel_adapter_checks_the_error_queue_after_each_write():
    # the exact sequence the role adapter sends: the level, then the whole error queue in one query
    with expected_protocol(QDac2, [("sour5:volt -0.25", None), ("syst:err:all?", '0, "No error"'),
                                   ("sour5:volt?", "-0.25"),
                                   ("sour5:volt 0.1", None), ("syst:err:all?", '-200, "Execution error"')]) as q:
        source = QDac2Source(q, "qdac").channel(5)
        source.write_voltage(-0.25)
        assert source.read_voltage() == -0.25
        with pytest.raises(InstrumentError, match=r"qdac channel 5: .*0\.1 V.*-200 Execution error"):
            source.write_voltage(0.1)


def test_qdac2_adapter_needs_a_channel():
    with expected_protocol(QDac2, []) as q:
        src = QDac2Source(q, "qdac")
        with pytest.raises(ValueError, match="channel"):
            src.channel(None)
        with pytest.raises(ValueError, match="25"):
            src.channel(25)
        assert src.channel(4) is src.channel(4)
        assert isinstance(src.channel(4), VoltageSource)
        with pytest.raises(InstrumentError):
            src.write_voltage(0.0)


# ---- the simulated lab, one file per gate-source driver ---------------------------------------------------------

def _lab_yaml(driver: str, channel: int | None) -> str:
    address = ADDRESSES[driver]
    interface = "TCPIP SOCKET" if address.endswith("SOCKET") else "GPIB INSTR"
    chan = f", channel: {channel}" if channel is not None else ""
    return textwrap.dedent(f"""\
        spec: "1.1"
        devices:
          gate_device:
            eom:
              {interface}: {{q: "\\n", r: "\\n"}}
          sr830:
            eom:
              GPIB INSTR: {{q: "\\n", r: "\\n"}}
        resources:
          {address}: {{device: gate_device}}
          {LOCKIN}: {{device: sr830}}
        station:
          name: gate source {driver}
          visa_library: "@qpcsim"
          instruments:
            gate_src: {{driver: {driver}, address: "{address}"}}
            lockin: {{driver: sr830, address: "{LOCKIN}"}}
          gates:
            gate: {{instrument: gate_src{chan}, limits: [-2.0, 0.3], step: 0.002, rate: 2.0, safe: 0.0}}
          lockin: {{instrument: lockin}}
          circuit:
            excitation_divider: 1.0e-4
            bias_divider: 1.0e-3
            series_resistance_ohm: 1500.0
            preamp_gain_V_per_A: 1.0e8
            preamp_input_noise_A_per_rtHz: 5.0e-15
            lockin_input_noise_V_per_rtHz: 6.0e-9
        simulation:
          sample: {{preset: gaas_split_gate}}
          electron_temperature_K: 0.05
          seed: 7
        """)


def _open(path, clock):
    lib = SimVisaLibrary(str(path))
    lib.lab.clock = clock
    lib.reset()  # the twins take the manual clock
    return lib


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def driver_lab(tmp_path, clock, request):
    """(connected station, simulated lab) for a one-gate lab whose gate hangs on ``request.param``."""
    driver = request.param
    path = tmp_path / f"{driver}_lab.yaml"
    path.write_text(_lab_yaml(driver, 5 if driver == "qdac2" else None), encoding="utf-8")
    lib = _open(path, clock)
    station = load_station(path)
    lab = connect(station)
    yield lab, lib.lab
    lab.close()
    lib.lab.assert_no_unknown_commands()
    lib.reset()


def _conductance(lab, clock) -> float:
    clock.advance(0.2)  # 20 time constants of the lock-in filter: settled
    x, _ = lab.lockin.read_xy()
    return float(lab.station.circuit.conductance_G0(x, lab.lockin.excitation_V))


def _setup_lockin(lab) -> None:
    li = lab.lockin
    li.excitation_V = 0.1
    li.sensitivity = 0.5
    li.time_constant = 0.01
    li.filter_slope = 24


SOURCE_DRIVERS = ["keithley2400", "keithley2450", "yokogawags200", "qdac2"]


# ---- 2. the matrix: every source driver moves the staircase as Landauer says ------------------------------------

@pytest.mark.parametrize("driver_lab", SOURCE_DRIVERS, indirect=True)
def test_every_source_driver_moves_the_staircase(driver_lab, clock):
    lab, sim = driver_lab
    source = lab.gates["gate"].source
    assert isinstance(source, VoltageSource)
    _setup_lockin(lab)
    # a sweep up the staircase: pinched off, the first step's middle, then mid-plateaus 1 ... 5
    points = [-1.4, -1.3, V_PINCH] + [V_PINCH + 0.1 * (n - 1) + 0.05 for n in range(1, 6)]
    measured = []
    for v in points:
        source.write_voltage(v)
        assert source.read_voltage() == pytest.approx(v, abs=1e-9)
        assert sim.outputs["gate"] == pytest.approx(v, abs=1e-9)  # the wiring: this source drives this gate
        measured.append(_conductance(lab, clock))
    g = dict(zip(points, measured))
    assert abs(g[-1.4]) < 0.01 and abs(g[-1.3]) < 0.01  # pinched off
    assert g[V_PINCH] == pytest.approx(landauer_G0(V_PINCH), abs=0.02)  # half the first channel open: 0.5
    assert landauer_G0(V_PINCH) == pytest.approx(0.5, abs=1e-9)
    for n in range(1, 6):
        v = V_PINCH + 0.1 * (n - 1) + 0.05
        assert g[v] == pytest.approx(n, rel=0.01), f"plateau {n} G0 at {v:+.3f} V"
    assert all(b > a - 0.01 for a, b in zip(measured, measured[1:]))  # the staircase rises as the gate opens
    # and back down: closing the gate pinches the QPC off again
    source.write_voltage(-1.4)
    assert abs(_conductance(lab, clock)) < 0.01
    assert sim.refused == []


# ---- 3. errors as the instruments report them --------------------------------------------------------------------

@pytest.mark.parametrize("driver_lab", ["keithley2400"], indirect=True)
def test_keithley2400_beyond_its_fixed_range_is_refused(driver_lab):
    lab, sim = driver_lab
    source = lab.gates["gate"].source
    source.write_voltage(-1.0)
    source.driver.source_voltage_range = 2.0  # manual 2 V range: levels to 2.1 V (2400 manual, source ranges)
    with pytest.raises(InstrumentError, match=r"gate_src: .*-5 V.*-222"):
        source.write_voltage(-5.0)
    assert source.read_voltage() == -1.0 and sim.outputs["gate"] == -1.0
    with pytest.raises(InstrumentError, match=r"gate_src: .*300 V.*driver"):
        source.write_voltage(300.0)  # pymeasure's validator: +-210 V
    sim.refused.clear()


@pytest.mark.parametrize("driver_lab", ["keithley2450"], indirect=True)
def test_keithley2450_refuses_out_of_range_levels_and_limits(driver_lab):
    lab, sim = driver_lab
    source = lab.gates["gate"].source
    source.write_voltage(-1.0)
    with pytest.raises(InstrumentError, match=r"gate_src: .*250 V.*-222"):
        source.write_voltage(250.0)  # beyond 210 V; pymeasure's Keithley2450 does not validate the level
    assert source.read_voltage() == -1.0 and sim.outputs["gate"] == -1.0
    source.driver.source_voltage_range = 2.0  # :SOUR:VOLT:RANG:AUTO 0;:SOUR:VOLT:RANG 2
    with pytest.raises(InstrumentError, match=r"-3 V.*-222"):
        source.write_voltage(-3.0)
    source.driver.write(":SOUR:VOLT:ILIM 1e-12")  # below the 1 nA minimum of the current limit
    assert source.driver.next_error[0] == -222
    assert source.driver.next_error[0] == 0
    sim.refused.clear()


@pytest.mark.parametrize("driver_lab", ["yokogawags200"], indirect=True)
def test_yokogawags200_refuses_levels_beyond_120_percent_of_range(driver_lab):
    lab, sim = driver_lab
    source = lab.gates["gate"].source
    source.write_voltage(-1.0)
    # 10 V range: levels to +-12 V. pymeasure checks only the positive side; the instrument refuses the rest
    with pytest.raises(InstrumentError, match=r"gate_src: .*-15 V.*-222"):
        source.write_voltage(-15.0)
    with pytest.raises(InstrumentError, match=r"gate_src: .*15 V.*driver"):
        source.write_voltage(15.0)
    assert source.read_voltage() == -1.0 and sim.outputs["gate"] == -1.0
    source.driver.write("SOURce:RANGe 40")  # no 40 V range
    assert source.driver.ask(":SYSTem:ERRor?").startswith("-222")
    assert float(source.driver.ask(":SOURce:RANGe?")) == 10.0
    sim.refused.clear()


@pytest.mark.parametrize("driver_lab", ["qdac2"], indirect=True)
def test_qdac2_refuses_levels_beyond_ten_volts(driver_lab):
    lab, sim = driver_lab
    source = lab.gates["gate"].source
    source.write_voltage(-1.0)
    with pytest.raises(InstrumentError, match=r"gate_src channel 5: .*12 V.*driver"):
        source.write_voltage(12.0)
    q = source.driver
    q.write("sour5:volt -10.5")  # straight to the instrument, past the driver's validator
    assert q.all_errors() == [(-222, "Data out of range")]
    assert q.ask("syst:err?") == '0, "No error"'
    assert source.read_voltage() == -1.0 and sim.outputs["gate"] == -1.0
    q.write("sour25:volt 0")  # there is no channel 25
    assert q.all_errors()[0][0] == -114
    sim.refused.clear()


@pytest.mark.parametrize("driver_lab", SOURCE_DRIVERS, indirect=True)
def test_unknown_command_goes_to_the_error_queue(driver_lab):
    lab, sim = driver_lab
    driver = lab.gates["gate"].source.driver
    driver.write(":SOUR:FROBNICATE 1")
    logged = list(sim.unknown_commands)
    sim.unknown_commands.clear()
    assert logged == [("gate_src", "SOUR:FROBNICATE", ["1"])]
    code, _, message = driver.ask("SYST:ERR?").strip().partition(",")
    assert (int(code), message.strip()) == (-113, '"Undefined header"')


# ---- the QDAC-II lab: two gate halves on two channels ---------------------------------------------------------------

@pytest.fixture
def qdac_lab(clock):
    from qpclab import sim_configs
    from pathlib import Path

    path = Path(sim_configs.__file__).resolve().parent / "qdac_lab.yaml"
    lib = _open(path, clock)
    lab = connect(load_station(path))
    yield lab, lib.lab, path
    lab.close()
    lib.lab.assert_no_unknown_commands()
    lib.reset()


def test_qdac_lab_wires_each_channel_to_its_gate_half(qdac_lab, clock):
    lab, sim, _ = qdac_lab
    _setup_lockin(lab)
    left, right = lab.gates["gate_left"].source, lab.gates["gate_right"].source
    assert (left.number, right.number) == (1, 2)
    # each half has half the lever arm (10 meV/V): with the right half at pinch-off, the left alone moves the
    # barrier at half the rate, so a plateau is 0.2 V wide in the left gate
    right.write_voltage(-1.2)
    left.write_voltage(-1.1)
    assert sim.outputs == {"gate_left": -1.1, "gate_right": -1.2, "bias": 0.0}
    assert _conductance(lab, clock) == pytest.approx(1.0, rel=0.01)
    left.write_voltage(-1.4)
    assert abs(_conductance(lab, clock)) < 0.01
    left.write_voltage(-1.1)
    right.write_voltage(-1.1)  # both halves at -1.1 V: the second channel is half open
    assert _conductance(lab, clock) == pytest.approx(1.5, abs=0.02)
    left.write_voltage(-0.9)
    right.write_voltage(-1.2)  # barrier offset 10 meV/V * 0.3 V = 3 meV = 1.5 subband spacings: second plateau
    assert _conductance(lab, clock) == pytest.approx(2.0, rel=0.01)
    # a channel wired to nothing moves no gate
    lab.instruments["qdac"].channel(3).write_voltage(-2.0)
    assert sim.outputs == {"gate_left": -0.9, "gate_right": -1.2, "bias": 0.0}
    # the spare GS200 reaches no sample either
    lab.instruments["spare_source"].enable()
    lab.instruments["spare_source"].write_voltage(5.0)
    assert sim.outputs["gate_left"] == -0.9 and sim.outputs["gate_right"] == -1.2
    # the 2450 on the bias line: sourcing voltage, its current limit set from the station (1 mA)
    bias = lab.bias.source
    assert float(bias.driver.compliance_current) == pytest.approx(1e-3)
    bias.write_voltage(0.5)
    assert sim.outputs["bias"] == 0.5
    assert sim.refused == []


def test_qdac_slew_rate_moves_the_gate_in_lab_time(qdac_lab, clock):
    lab, sim, _ = qdac_lab
    ch = lab.instruments["qdac"].driver.ch_1
    ch.slew_rate = 1.0  # V/s
    ch.voltage = -0.5
    assert ch.voltage == -0.5  # the level set
    assert ch.voltage_last == pytest.approx(0.0)
    clock.advance(0.2)
    assert ch.voltage_last == pytest.approx(-0.2)
    sim.tick()
    assert sim.outputs["gate_left"] == pytest.approx(-0.2)
    clock.advance(1.0)
    sim.tick()
    assert sim.outputs["gate_left"] == pytest.approx(-0.5) and ch.voltage_last == pytest.approx(-0.5)


def test_qdac_channel_enable_keeps_the_present_level(qdac_lab):
    lab, sim, _ = qdac_lab
    src = lab.instruments["qdac"].channel(1)
    src.write_voltage(-0.4)
    src.driver.ch_1.dc_mode = "list"  # a generator mode (not simulated): the output stays where it was
    src.enable()
    assert src.driver.ch_1.dc_mode == "fixed"
    assert src.read_voltage() == pytest.approx(-0.4) and sim.outputs["gate_left"] == pytest.approx(-0.4)


# ---- QCoDeS -------------------------------------------------------------------------------------------------------

def test_qdac_answers_the_qcodes_driver_command_strings(qdac_lab):
    """The strings QCoDeS's QDevil QDAC-II driver (qcodes_contrib_drivers QDAC2.py) sends to connect, set and read
    a channel, replayed through plain pyvisa on the same library string QCoDeS would use."""
    lab, sim, path = qdac_lab
    rm = pyvisa.ResourceManager(f"{path}@qpcsim")
    q = rm.open_resource(QDAC_ADDRESS, read_termination="\n", write_termination="\n")
    manufacturer, model, serial, firmware = [p.strip() for p in q.query("*IDN?").split(",")]
    assert (manufacturer, model) == ("QDevil", "QDAC-II")
    assert int(firmware.split("-")[0]) >= 3
    q.write("sour2:volt:mode fix")
    q.write("sour2:volt -0.3")
    assert float(q.query("sour2:volt?")) == -0.3
    assert sim.outputs["gate_right"] == -0.3
    assert q.query("syst:err:all?") == '0, "No error"'


def test_qcodes_visa_layer_reaches_the_qdac_with_the_lab_library_string(qdac_lab):
    """QCoDeS's own VisaInstrument (device clear, terminator, timeout, IDN, the serial baud-rate poke the QDAC-II
    driver makes on every connection) with the QDAC-II driver's command strings, on ``<lab file>@qpcsim``."""
    from qcodes.instrument import VisaInstrument

    lab, sim, path = qdac_lab

    class QDacLike(VisaInstrument):
        def __init__(self, name, address, **kw):
            super().__init__(name, address, terminator="\n", **kw)
            self.visa_handle.baud_rate = 921600
            self.add_parameter("ch02_V", get_cmd="sour2:volt?", get_parser=float,
                               set_cmd=lambda v: (self.write("sour2:volt:mode fix"), self.write(f"sour2:volt {v}")))

    inst = QDacLike("qdac_like", QDAC_ADDRESS, visalib=f"{path}@qpcsim")
    try:
        assert inst.visabackend == "sim"  # QCoDeS sees a simulated library (class SimVisaLibrary)
        idn = inst.IDN()
        assert (idn["vendor"], idn["model"], idn["firmware"]) == ("QDevil", "QDAC-II", "13-1.57")
        inst.ch02_V(-0.3)
        assert inst.ch02_V() == -0.3
        assert sim.outputs["gate_right"] == -0.3
    finally:
        inst.close()


def test_unmodified_qcodes_qdac2_driver_connects_sets_and_reads(qdac_lab):
    qdac2 = pytest.importorskip("qcodes_contrib_drivers.drivers.QDevil.QDAC2",
                                reason="QCoDeS's QDAC-II driver lives in qcodes-contrib-drivers (not installed)")
    lab, sim, path = qdac_lab
    inst = qdac2.QDac2("qdac_sim", QDAC_ADDRESS, visalib=f"{path}@qpcsim")
    try:
        inst.ch02.dc_constant_V(-0.3)
        assert inst.ch02.dc_constant_V() == pytest.approx(-0.3)
        assert sim.outputs["gate_right"] == pytest.approx(-0.3)
    finally:
        inst.close()


# ---- compliance: a SourceMeter that cannot hold its level ----------------------------------------------------------

def test_keithley2400_in_compliance_becomes_a_current_source(sim_lab, visa_library, monkeypatch):
    from pymeasure.instruments.keithley import Keithley2400

    monkeypatch.setattr(sim_lab.twins_by_name["bias_smu"], "clamp_in_compliance", True)  # off by default for now
    smu = Keithley2400("GPIB0::25::INSTR", visa_library=visa_library)  # qpc_lab's bias SMU: 10 kOhm divider input
    smu.source_mode = "voltage"
    smu.compliance_current = 1.05e-4  # the 2400's power-on compliance
    smu.source_voltage = 2.0  # would drive 200 uA
    smu.enable_source()
    # 2400 manual: in compliance the output is the compliance current into the load, 105 uA * 10 kOhm
    assert sim_lab.outputs["bias"] == pytest.approx(1.05)
    assert smu.source_voltage == 2.0  # the programmed level is kept
    assert int(smu.ask(":SENS:CURR:PROT:TRIP?")) == 1
    smu.compliance_current = 1e-3
    assert sim_lab.outputs["bias"] == pytest.approx(2.0)
    assert int(smu.ask(":SENS:CURR:PROT:TRIP?")) == 0


def test_keithley2450_current_limit_clamps_the_bias(qdac_lab):
    lab, sim, _ = qdac_lab
    bias = lab.bias.source  # 2450 into the 10 kOhm divider, limit 1 mA from the station file
    bias.write_voltage(15.0)
    assert sim.outputs["bias"] == pytest.approx(10.0)  # 1 mA * 10 kOhm
    assert int(bias.driver.ask(":SOUR:VOLT:ILIM:TRIP?")) == 1
    bias.driver.write(":SENS:FUNC 'CURR'")
    assert float(bias.driver.ask(":READ?")) == pytest.approx(1e-3, rel=1e-6)
    bias.write_voltage(0.5)
    assert sim.outputs["bias"] == pytest.approx(0.5)
    assert int(bias.driver.ask(":SOUR:VOLT:ILIM:TRIP?")) == 0


@pytest.mark.parametrize("driver_lab", ["yokogawags200"], indirect=True)
def test_yokogawags200_program_ramp_runs_in_lab_time(driver_lab, clock):
    lab, sim = driver_lab
    yoko = lab.gates["gate"].source.driver
    yoko.source_level = -0.2
    yoko.trigger_ramp_to_level(-1.2, 2.0)  # pymeasure: a one-step program, interval = slope = 2 s, run once
    assert sim.outputs["gate"] == pytest.approx(-0.2)
    clock.advance(0.5)
    sim.tick()
    assert sim.outputs["gate"] == pytest.approx(-0.45)  # a quarter of the way after a quarter of the slope time
    clock.advance(1.0)
    assert yoko.source_level == pytest.approx(-0.95)
    clock.advance(5.0)
    sim.tick()
    assert sim.outputs["gate"] == pytest.approx(-1.2) and yoko.source_level == pytest.approx(-1.2)
    assert sim.refused == []


def test_gs200_adapter_switches_on_at_zero_and_refuses_a_limit_it_cannot_set():
    import warnings

    from pymeasure.instruments.yokogawa import YokogawaGS200

    from qpclab.instruments.sources import YokogawaGS200Source

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with expected_protocol(YokogawaGS200, [
            ("OUTPut:STATe?", "0"),
            ("OUTPut:STATe 0", None),
            (":SOURce:FUNCtion voltage", None),
            ("SOURce:RANGe 10", None), ("SYST:ERR?", '0,"No error"'),
            (":SOURce:RANGe?", "+1.00000E+01"), ("SOURce:LEVel 0", None), ("SYST:ERR?", '0,"No error"'),
            ("SOURce:PROTection:CURRent 0.001", None), ("SYST:ERR?", '0,"No error"'),
            ("OUTPut:STATe 1", None),
        ]) as yoko:
            YokogawaGS200Source(yoko, "yoko", compliance_A=1e-3).enable()
        with expected_protocol(YokogawaGS200, []) as yoko:
            # 1 uA is below the GS200 limiter's 1 mA minimum (pymeasure would truncate it to 1 mA without a word)
            with pytest.raises(InstrumentError, match=r"yoko: current limit 1e-06 A"):
                YokogawaGS200Source(yoko, "yoko", compliance_A=1e-6)


def test_qdac_channel_list_form_addresses_several_channels(qdac_lab):
    lab, sim, _ = qdac_lab
    q = lab.instruments["qdac"].driver
    q.write("sour:volt -0.7,(@1:2)")  # QDAC-II channel list: a range
    assert q.ask("sour:volt? (@1,2,3)") == "-0.7,-0.7,0"
    assert (sim.outputs["gate_left"], sim.outputs["gate_right"]) == (-0.7, -0.7)
    q.write("sour:volt 0.1")  # no channel at all
    assert q.all_errors() == [(-109, "Missing parameter")]
    sim.refused.clear()


def test_keithley2400_quick_write_sends_what_pymeasures_driver_sends():
    """Inside sweeps the 2400 adapter writes levels without pymeasure's property layer: the bytes must be what the
    unmodified driver's ``source_voltage`` sends, and its range (strict -210..210 V) is refused before sending."""
    from pymeasure.adapters import Adapter
    from pymeasure.instruments.keithley import Keithley2400

    from qpclab.instruments.sources import Keithley2400Source

    class Recorder(Adapter):
        def __init__(self):
            super().__init__()
            self.sent = []

        def _write(self, command, **kwargs):
            self.sent.append(command)

    values = [-1.234567891, 0.0, 1e-7, -2.5e-5, 0.30000000000000004, 12.3456789, 209.99999, -210.0]
    driver = Keithley2400(Recorder())
    source = Keithley2400Source(driver, "gate_smu")
    driver.adapter.sent.clear()
    for v in values:
        driver.source_voltage = v
    by_driver, driver.adapter.sent = driver.adapter.sent, []
    for v in values:
        source.write_voltage_fast(v)
    assert driver.adapter.sent == by_driver and len(by_driver) == len(values)
    for bad in (210.001, -300.0, math.nan):
        with pytest.raises(InstrumentError, match="gate_smu"):
            source.write_voltage_fast(bad)
        with pytest.raises(ValueError):
            driver.source_voltage = bad  # the driver refuses the same values
    assert driver.adapter.sent == by_driver  # nothing sent for the refused values


def test_keithley2400_quick_write_goes_straight_to_the_visa_connection(sim_library):
    """On a VISA connection the quick write uses the connection itself (pyvisa), and the simulated 2400 holds the
    level the driver's command sets."""
    from pymeasure.instruments.keithley import Keithley2400

    from qpclab.instruments.sources import Keithley2400Source

    driver = Keithley2400(ADDRESSES["keithley2400"], visa_library=sim_library)
    source = Keithley2400Source(driver, "gate_smu")
    assert source._line is driver.adapter.connection
    driver.source_voltage = -0.5
    source.write_voltage_fast(-0.123456789)
    assert float(driver.ask(":SOUR:VOLT?")) == pytest.approx(-0.123457, abs=1e-9)
