"""Noise analysers (SR785, Keysight X-series) in their role against the simulated shot-noise lab, and their
drivers' exact command sequences.

Expectations are independent of the code under test: the zero-bias reading is Johnson-Nyquist noise of the
network the amplifier sees (4 k T Re Z, plus the amplifier's own e_n^2, times gain^2); the excess noise at finite
bias is the Blanter-Buttiker closed form for the QPC's transmissions at that gate, carried to the amplifier output
by the resistive divider; the scatter of an N-average follows chi-square statistics (1/sqrt(N)).
"""

import math
from pathlib import Path

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from qpclab.analysis.constants import G0, K_B
from qpclab.analysis.landauer import blanter_buttiker_noise
from qpclab.instruments.noise_analysers import (
    KeysightXSANoiseAnalyser, SR785NoiseAnalyser, dbm_per_hz_to_v2_per_hz, v2_per_hz_to_dbm_per_hz,
)
from qpclab.instruments.registry import adapter_factory
from qpclab.instruments.roles import InstrumentError, NoiseAnalyser
from qpclab.instruments.sources import make_keithley2400
from conftest import manual_clock_lab  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOISE_LAB = ROOT / "sim_configs" / "noise_lab.yaml"
GATE, BIAS, LOCKIN, FFT, XSA = ("GPIB0::24::INSTR", "GPIB0::25::INSTR", "GPIB0::4::INSTR", "GPIB0::10::INSTR",
                                "GPIB0::18::INSTR")
#: analyser name -> (driver, address, centre Hz, span Hz)
ANALYSERS = {"sr785": ("sr785", FFT, 50e3, 12.8e3), "keysight_xsa": ("keysight_xsa", XSA, 2e6, 1e6)}
RISER_GATE = -1.2  # lowest channel half open
PLATEAU_GATE = -1.15  # first plateau
BIAS_SOURCE_V = 0.05  # 50 uV after the 1:1000 divider


@pytest.fixture
def noise_rig(request):
    """(lab, clock, gate, bias, analyser adapter) on noise_lab.yaml; fails on unknown commands."""
    driver, address, center, span = ANALYSERS[request.param]
    with manual_clock_lab(NOISE_LAB) as (lab, clock, visa):
        gate = make_keithley2400(GATE, visa, "gate_smu")
        bias = make_keithley2400(BIAS, visa, "bias_smu")
        gate.enable()
        bias.enable()
        analyser = adapter_factory(driver)(address, visa, "analyser")
        analyser.sleep = clock.advance
        analyser.center, analyser.span = center, span
        yield lab, clock, gate, bias, analyser


def _expected(lab, gate_V: float):
    """Independent expectations at a gate: (G in S, Johnson PSD at the amplifier output, excess PSD at the bias)."""
    from qpclab.instruments.sim.lab import load_sample

    c = lab.circuit
    sample = load_sample({"preset": "gaas_split_gate"})
    temperature = 0.05
    g = float(sample.conductance({"gate": gate_V}, temperature))
    t_n = sample.transmissions({"gate": gate_V}, 0.0, 0.0)
    rq, rs, rl = 1.0 / g, c.series_resistance_ohm, c.noise_load_resistance_ohm
    gain2 = c.noise_amplifier_gain ** 2
    # Nyquist: a passive network at one temperature has 4 k T Re Z across its terminals; Z = R_L || (R_q + R_s)
    z = 1.0 / (1.0 / rl + 1.0 / (rq + rs))
    johnson = gain2 * (4 * K_B * temperature * z + c.noise_amplifier_input_noise_V_per_rtHz ** 2)
    v_qpc = c.bias_divider * BIAS_SOURCE_V * rq / (rq + rs)
    excess_i = blanter_buttiker_noise(t_n, v_qpc, temperature) - blanter_buttiker_noise(t_n, 0.0, temperature)
    excess_v = gain2 * excess_i * (rl * rq / (rq + rs + rl)) ** 2  # current noise of the QPC into the divider
    return g, johnson, excess_v


# ---- drivers: exact command sequences from the manuals ------------------------------------------------------------
def test_sr785_driver_commands():
    from qpclab.instruments.drivers.sr785 import SR785

    with expected_protocol(SR785, [
        ("FSPN 2,12800", None), ("FSPN? 0", "12800"),
        ("FCTR 2,50000", None), ("FLIN 2,3", None), ("FLIN? 0", "3"),
        ("FAVG 2,1", None), ("FAVM 2,2", None), ("FAVT 2,0", None), ("FAVN 2,100", None), ("FAVN? 0", "100"),
        ("FWIN 2,2", None), ("VIEW 2,0", None), ("UNPK 2,2", None), ("UNDB 2,0", None), ("PSDU 2,1", None),
        ("UNIT? 0", "Vrms/\u221aHz"), ("STRT", None), ("DSPS? 1", "1"), ("NAVG? 0", "100"),
        ("DSPY? 0", "1.0e-7,2.0e-7"), ("DSPY? 0,5", "3.0e-7"), ("DBIN? 0,5", "50.0"),
        ("MBIN 0,5", None), ("MRKX? 0", "50.0"), ("MRKY? 0", "3.0e-7"),
        ("I1RG?", "-30,0"), ("I1RG -20", None), ("A1RG 1", None), ("*ESR?", "16"),
    ]) as fft:
        fft.span = 12800
        assert fft.span == 12800
        fft.center_frequency = 50e3
        fft.resolution_lines = 800
        assert fft.resolution_lines == 800
        fft.averaging_enabled = True
        fft.average_mode = "rms"
        fft.average_type = "linear"
        fft.averages = 100
        assert fft.averages == 100
        fft.window = "hanning"
        fft.view = "log magnitude"
        fft.peak_units = "rms"
        fft.db_units = False
        fft.psd_units = True
        assert fft.units == "Vrms/\u221aHz"
        fft.start()
        assert fft.average_complete(0)
        assert fft.averages_done == 100
        assert fft.read_display(0) == [1.0e-7, 2.0e-7]
        assert fft.read_bin(0, 5) == 3.0e-7
        assert fft.bin_frequency(0, 5) == 50.0
        fft.set_marker_bin(0, 5)
        assert fft.marker(0) == (50.0, 3.0e-7)
        assert fft.input_range_dBV == -30
        fft.input_range_dBV = -20
        fft.auto_range = True
        assert fft.standard_event_status() == 16


def test_sr785_driver_refuses_out_of_range_before_sending():
    from qpclab.instruments.drivers.sr785 import SR785

    with expected_protocol(SR785, []) as fft:
        for attr, value in (("span", 200e3), ("averages", 1), ("averages", 40000), ("input_range_dBV", 40),
                            ("resolution_lines", 300)):
            with pytest.raises(ValueError):
                setattr(fft, attr, value)


def test_sr785_adapter_configure_sequence():
    from qpclab.instruments.drivers.sr785 import SR785

    with expected_protocol(SR785, [
        ("MEAS 2,0", None), ("VIEW 2,0", None), ("UNPK 2,2", None), ("UNDB 2,0", None), ("PSDU 2,1", None),
        ("FWIN 2,2", None), ("FBAS 2,1", None), ("FSPN 2,12800", None), ("FCTR 2,50000", None),
        ("FAVM 2,2", None), ("FAVT 2,0", None), ("FAVN 2,64", None), ("FAVG 2,1", None), ("A1RG 1", None),
        ("*ESR?", "0"), ("FCTR? 0", "50000"), ("FSPN? 0", "12800"),
    ]) as fft:
        SR785NoiseAnalyser(fft, "fft").configure(50e3, 12.8e3, 64)


def test_sr785_adapter_measure_sequence():
    from qpclab.instruments.drivers.sr785 import SR785

    with expected_protocol(SR785, [
        ("DSPS? 1", "0"), ("STRT", None), ("FLIN? 0", "3"), ("FSPN? 0", "12800"), ("DSPS? 1", "0"),
        ("DSPS? 1", "1"), ("DSPY? 0", "1.0e-7,3.0e-7"), ("FSTR? 0", "43600"), ("FSPN? 0", "12800"),
    ]) as fft:
        an = SR785NoiseAnalyser(fft, "fft")
        an.averages = 10
        slept = []
        an.sleep = slept.append
        assert an.measure_psd() == pytest.approx((1e-14 + 9e-14) / 2)  # (Vrms/rtHz)^2, averaged over the band
        assert slept[0] == pytest.approx(10 * 800 / 12800)  # N records of lines/span each


def test_keysight_xsa_adapter_sequence():
    from qpclab.instruments.drivers.keysight_xsa import KeysightXSA

    with expected_protocol(KeysightXSA, [
        (":INIT:CONT 0", None), (":UNIT:POW DBM", None), (":DET:TRAC AVER", None), (":AVER:TYPE RMS", None),
        (":FREQ:CENT 2000000", None), (":FREQ:SPAN 1000000", None), (":AVER:COUN 100", None),
        (":AVER:STAT 1", None), (":CALC:MARK1:FUNC NOIS", None), (":CALC:MARK1:X 2000000", None),
        (":CALC:MARK1:FUNC:BAND:SPAN 1000000", None), (":SYST:ERR?", '+0,"No error"'),
        (":FREQ:CENT?", "2.0E+06"), (":FREQ:SPAN?", "1.0E+06"),
        ("*ESR?", "0"), (":INIT:IMM;*OPC", None), (":SWE:TIME?", "2.0E-02"), ("*ESR?", "1"),
        (":CALC:MARK1:Y?", "-1.5E+02"),
    ]) as xsa:
        an = KeysightXSANoiseAnalyser(xsa, "xsa")
        an.configure(2e6, 1e6, 100)
        slept = []
        an.sleep = slept.append
        assert an.measure_psd() == pytest.approx(5e-17)  # -150 dBm/Hz into 50 ohm
        assert slept == [pytest.approx(2.0)]  # 100 sweeps of 20 ms


def test_keysight_xsa_driver_commands():
    from qpclab.instruments.drivers.keysight_xsa import KeysightXSA

    with expected_protocol(KeysightXSA, [
        (":INIT:CONT 0", None), (":FREQ:CENT 2000000", None), (":FREQ:SPAN 1000000", None),
        (":BAND 10000", None), (":BAND?", "1.0000000000E+04"), (":AVER:COUN 100", None), (":AVER:STAT 1", None),
        (":AVER:TYPE RMS", None), (":DET:TRAC AVER", None), (":UNIT:POW DBM", None),
        (":CALC:MARK1:FUNC NOIS", None), (":CALC:MARK1:FUNC:BAND:SPAN 1000000", None),
        (":CALC:MARK1:X 2000000", None), (":INIT:IMM;*OPC", None), ("*ESR?", "1"),
        (":CALC:MARK1:Y?", "-1.5000000000E+02"), (":TRAC:DATA? TRACE1", "-100.5,-101.5"),
        (":CORR:IMP?", "50"), (":SYST:ERR?", '-222,"Data out of range"'), (":STAT:OPER:COND?", "24"),
    ]) as xsa:
        xsa.continuous = False
        xsa.center_frequency = 2e6
        xsa.span = 1e6
        xsa.resolution_bandwidth = 10e3
        assert xsa.resolution_bandwidth == 10e3
        xsa.average_count = 100
        xsa.averaging_enabled = True
        xsa.average_type = "rms"
        xsa.detector = "AVER"
        xsa.power_unit = "DBM"
        xsa.marker1_function = "noise"
        xsa.marker1_band_span = 1e6
        xsa.marker1_frequency = 2e6
        xsa.start_measurement()
        assert xsa.event_status() & 1
        assert xsa.marker1_value == -150.0
        assert xsa.trace_data() == [-100.5, -101.5]
        assert xsa.input_impedance == 50
        assert xsa.next_error() == (-222, "Data out of range")
        assert xsa.operation_condition == 24


def test_keysight_xsa_driver_refuses_out_of_range_before_sending():
    from qpclab.instruments.drivers.keysight_xsa import KeysightXSA

    with expected_protocol(KeysightXSA, []) as xsa:
        for attr, value in (("average_count", 0), ("average_count", 20000), ("resolution_bandwidth", 1e7),
                            ("sweep_points", 50000), ("input_impedance", 60)):
            with pytest.raises(ValueError):
                setattr(xsa, attr, value)


def test_dbm_per_hz_conversion_is_power_into_the_input_impedance():
    # -150 dBm/Hz = 1e-18 W/Hz; into 50 ohm that is V^2 = P R = 5e-17 V^2/Hz
    assert dbm_per_hz_to_v2_per_hz(-150.0) == pytest.approx(5e-17, rel=1e-12)
    assert dbm_per_hz_to_v2_per_hz(-150.0, 75.0) == pytest.approx(7.5e-17, rel=1e-12)
    assert v2_per_hz_to_dbm_per_hz(5e-17) == pytest.approx(-150.0, abs=1e-9)


# ---- the role matrix against the simulated lab --------------------------------------------------------------------
def _psd_at(rig, gate_V, bias_V, averages):
    lab, clock, gate, bias, an = rig
    gate.write_voltage(gate_V)
    bias.write_voltage(bias_V)
    clock.advance(1.0)
    an.configure(an.center, an.span, averages)
    return an.measure_psd()


@pytest.mark.parametrize("noise_rig", list(ANALYSERS), indirect=True)
def test_zero_bias_reading_is_johnson_noise(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    assert isinstance(an, NoiseAnalyser)
    for gate_V in (RISER_GATE, PLATEAU_GATE, -1.6):
        g, johnson, _ = _expected(lab, gate_V) if gate_V != -1.6 else (0.0, None, None)
        if johnson is None:  # pinched off: only the load and the amplifier
            c = lab.circuit
            johnson = c.noise_amplifier_gain ** 2 * (4 * K_B * 0.05 * c.noise_load_resistance_ohm
                                                     + c.noise_amplifier_input_noise_V_per_rtHz ** 2)
        assert _psd_at(noise_rig, gate_V, 0.0, 200) == pytest.approx(johnson, rel=0.01)


@pytest.mark.parametrize("noise_rig", ["keysight_xsa"], indirect=True)
def test_xsa_input_z_correction_does_not_change_the_power_reading(noise_rig):
    """Keysight: Input Z Correction (``:CORR:IMP 75``) affects voltage units, not dBm; the RF input is 50 ohm in
    hardware. The PSD in V^2/Hz (from dBm/Hz) is the same Johnson noise with the correction at 50 or 75 ohm."""
    lab, clock, gate, bias, an = noise_rig
    _, johnson, _ = _expected(lab, PLATEAU_GATE)
    an.driver.input_impedance = 75
    assert an.driver.input_impedance == 75
    assert _psd_at(noise_rig, PLATEAU_GATE, 0.0, 200) == pytest.approx(johnson, rel=0.01)
    # what the instrument shows: the power into its 50 ohm input, in dBm/Hz
    assert float(an.driver.marker1_value) == pytest.approx(10 * math.log10(johnson / 50.0 / 1e-3), abs=0.05)


@pytest.mark.parametrize("noise_rig", list(ANALYSERS), indirect=True)
def test_shot_noise_rises_on_a_riser_and_vanishes_on_a_plateau(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    g, _, excess = _expected(lab, RISER_GATE)
    assert g / G0 == pytest.approx(0.5, abs=0.01)
    riser = _psd_at(noise_rig, RISER_GATE, BIAS_SOURCE_V, 400) - _psd_at(noise_rig, RISER_GATE, 0.0, 400)
    assert excess > 0.2 * _expected(lab, RISER_GATE)[1]  # the rise is a sizeable fraction of the background
    assert riser == pytest.approx(excess, rel=0.05)
    g1, johnson1, excess1 = _expected(lab, PLATEAU_GATE)
    assert g1 / G0 == pytest.approx(1.0, abs=0.01)
    plateau = _psd_at(noise_rig, PLATEAU_GATE, BIAS_SOURCE_V, 400) - _psd_at(noise_rig, PLATEAU_GATE, 0.0, 400)
    assert abs(plateau) < 0.05 * excess
    assert abs(excess1) < 0.01 * excess  # the closed form agrees: T(1-T) ~ 0 on a plateau


@pytest.mark.parametrize("noise_rig", list(ANALYSERS), indirect=True)
def test_scatter_falls_as_one_over_root_averages(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    gate.write_voltage(RISER_GATE)
    clock.advance(1.0)
    spreads = {}
    for n in (4, 64):
        an.configure(an.center, an.span, n)
        readings = [an.measure_psd() for _ in range(100)]
        spreads[n] = np.std(readings, ddof=1) / np.mean(readings)
    assert spreads[4] / spreads[64] == pytest.approx(4.0, rel=0.3)


@pytest.mark.parametrize("noise_rig", list(ANALYSERS), indirect=True)
def test_an_average_takes_time(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    an.configure(an.center, an.span, 50)
    d = an.driver
    if isinstance(an, SR785NoiseAnalyser):
        record = 800 / 12.8e3  # lines / span
        d.display_status_bit(1)
        d.start()
        clock.advance(0.5 * 50 * record)
        assert not d.average_complete(0)
        assert 20 <= d.averages_done <= 30
        clock.advance(0.6 * 50 * record)
        assert d.average_complete(0)
        assert d.averages_done == 50
    else:
        sweep = float(d.sweep_time)
        assert sweep >= 1e-3
        d.event_status()
        d.start_measurement()
        clock.advance(0.5 * 50 * sweep)
        assert not d.event_status() & 1
        assert d.operation_condition & 0b11000
        clock.advance(0.6 * 50 * sweep)
        assert d.event_status() & 1
        assert d.operation_condition == 0


@pytest.mark.parametrize("noise_rig", list(ANALYSERS), indirect=True)
def test_spectrum_is_white_and_matches_the_band_reading(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    gate.write_voltage(RISER_GATE)
    clock.advance(1.0)
    an.configure(an.center, an.span, 100)
    band = an.measure_psd()
    freqs, psd = an.measure_spectrum()  # the same (last complete) average, bin by bin
    assert np.mean(psd) == pytest.approx(band, rel=1e-6)
    assert len(freqs) == len(psd) > 100
    assert freqs[0] == pytest.approx(an.center - an.span / 2)
    assert freqs[-1] == pytest.approx(an.center + an.span / 2)
    _, johnson, _ = _expected(lab, RISER_GATE)
    assert np.mean(psd) == pytest.approx(johnson, rel=0.02)
    half = len(psd) // 2
    assert np.mean(psd[:half]) == pytest.approx(np.mean(psd[half:]), rel=0.03)  # white


@pytest.mark.parametrize("noise_rig", ["sr785"], indirect=True)
def test_sr785_refuses_out_of_range_settings(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    with pytest.raises(InstrumentError, match=r"analyser.*span 200000\.0"):
        an.configure(50e3, 200e3, 10)
    with pytest.raises(InstrumentError, match=r"analyser.*averages 0"):
        an.configure(50e3, 12.8e3, 0)
    an.driver.write("FSPN 2,200000")  # sent raw, the instrument refuses it: execution error
    assert lab.refused[-1][0] == "fft"
    with pytest.raises(InstrumentError, match=r"analyser.*execution error"):
        an.check_errors("FSPN 2,200000")
    assert float(an.driver.span) <= 102.4e3


@pytest.mark.parametrize("noise_rig", ["keysight_xsa"], indirect=True)
def test_keysight_xsa_refuses_out_of_range_settings(noise_rig):
    lab, clock, gate, bias, an = noise_rig
    with pytest.raises(InstrumentError, match=r"analyser.*averages 20000"):
        an.configure(2e6, 1e6, 20000)
    with pytest.raises(InstrumentError, match=r"analyser.*-222.*Data out of range"):
        an.configure(30e9, 1e6, 10)  # the adapter lets it through; the analyser (26.5 GHz) refuses it
    assert lab.refused[-1][0] == "xsa"


def test_noise_lab_station_connects_every_role():
    from qpclab.instruments.connect import connect
    from qpclab.instruments.sim.backend import SimVisaLibrary
    from qpclab.instruments.station import load_station

    lib = SimVisaLibrary(str(NOISE_LAB))
    lib.reset()
    station = load_station(NOISE_LAB)
    lab = connect(station)
    try:
        assert isinstance(lab.noise_analyser, SR785NoiseAnalyser)
        assert isinstance(lab.instruments["xsa"], KeysightXSANoiseAnalyser)
        assert lab.lockin is lab.instruments["lockin"]
        assert lab.lockin.FREQUENCY_RANGE_HZ[1] == 4e6  # the twin answers *IDN? as an SR865A
        assert math.isfinite(lab.lockin.read_xy()[0])
    finally:
        lab.close()
    lib.lab.assert_no_unknown_commands()
    lib.reset()


def test_raw_command_forms_the_manuals_allow():
    """Plain pyvisa: SR785 compact forms (no spaces, digit in the mnemonic), X-series long forms and unit suffixes."""
    import pyvisa

    from qpclab.instruments.sim.backend import SimVisaLibrary

    lib = SimVisaLibrary(str(NOISE_LAB))
    lib.reset()
    rm = pyvisa.ResourceManager(f"{lib.library_path}@qpcsim")
    try:
        fft = rm.open_resource(FFT, read_termination="\n", write_termination="\n")
        fft.write("FLIN2,1;FSPN2,25.6 kHz;A1RG0;I1RG-10")
        assert int(fft.query("FLIN?0")) == 1
        assert float(fft.query("FSPN?0")) == 25600.0
        assert int(fft.query("DSPN?0")) == 201  # 200 lines: bins 0..200
        assert fft.query("I1RG?").split(",")[0] == "-10"
        assert int(fft.query("A1RG?")) == 0
        assert int(fft.query("*ESR?")) == 0
        xsa = rm.open_resource(XSA, read_termination="\n", write_termination="\n")
        xsa.write(":SENSE:FREQUENCY:CENTER 2 MHz;SPAN 500 kHz;:SENS:BANDWIDTH:RESOLUTION 3 kHz")
        assert float(xsa.query(":FREQ:CENT?")) == 2e6
        assert float(xsa.query(":FREQ:SPAN?")) == 5e5
        assert float(xsa.query(":BWID?")) == 3e3
        assert xsa.query(":SYST:ERR?").startswith("+0")
    finally:
        rm.close()
    lib.lab.assert_no_unknown_commands()
    lib.reset()
