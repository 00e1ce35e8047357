"""Lock-in data buffers (SR830 buffer, SR86x capture) read through QCoDeS's and pymeasure's own buffer APIs, the
rear TRIG IN, and the lock-in filter's response to a magnet ramp.

Expectations are computed here, independently of the twins: the conductance from the sample model at the gate
voltage the test set, through the circuit; the n-stage RC filter's step response exp(-x) sum_{k<n} x^k/k!; the
classical Hall voltage B / (n e) behind the preamp, and the filter's lag n tau behind a linear ramp.
"""

import math
import re

import numpy as np
import pytest
from scipy.constants import e as E_CHARGE

from qpclab.instruments.sources import make_keithley2400
from conftest import SIM_CONFIGS, SteppingClock, manual_clock_lab  # noqa: E402

GATE = "GPIB0::24::INSTR"
PINCHED, PLATEAU = -1.4, -1.15  # gate voltages (V): closed, and the first plateau of the default QPC


def _step_remaining(x: float, order: int) -> float:
    """Fraction of a step an order-n RC cascade has not yet shown, a time x tau after it."""
    return math.exp(-x) * sum(x ** k / math.factorial(k) for k in range(order))


def _x_expected(lab, gate_V: float, amplitude_V: float) -> float:
    """In-phase lock-in signal (V rms) for the gate at ``gate_V``: G from the sample model, through the circuit."""
    g = float(lab.sample.conductance({"gate": gate_V}, lab.temperature_K, lab.field_T))
    return float(lab.circuit.lockin_signal_V(g, amplitude_V))


@pytest.fixture
def qpc_lab(sim_library, clock):
    """The default lab (SR830 at GPIB0::8) on a manual clock, gate switched on; (lab, clock, gate, visa)."""
    visa = f"{sim_library.library_path}@qpcsim"
    gate = make_keithley2400(GATE, visa, "gate_smu")
    gate.enable()
    return sim_library.lab, clock, gate, visa


@pytest.fixture
def noise_lab():
    """noise_lab.yaml (SR865A at GPIB0::4) on a manual clock, gate switched on; (lab, clock, gate, visa)."""
    with manual_clock_lab(SIM_CONFIGS / "noise_lab.yaml") as (lab, clock, visa):
        gate = make_keithley2400(GATE, visa, "gate_smu")
        gate.enable()
        yield lab, clock, gate, visa
        assert lab.refused == []


# ---- SR830 --------------------------------------------------------------------------------------------------------
def test_qcodes_sr830_buffer_holds_the_filter_output_at_the_sample_times(qpc_lab):
    """4 Hz buffer through QCoDeS (buffer_SR, buffer_start/pause, ch1/ch2_databuffer, ch1_datatrace): a gate step
    0.6 s after the start shows in the points at 0.75 s and 1 s as the 12 dB/oct filter's step response."""
    from qcodes.instrument_drivers.stanford_research import SR830

    lab, clock, gate, visa = qpc_lab
    li = SR830("qc_buf830", "GPIB0::8::INSTR", visalib=visa)
    try:
        amplitude, tau, order = 0.1, 0.1, 2
        li.amplitude(amplitude)
        li.time_constant(tau)
        li.filter_slope(12)
        li.sensitivity(0.5)
        gate.write_voltage(PINCHED)
        clock.advance(50 * tau)
        li.buffer_reset()
        li.buffer_SR(4)
        li.buffer_acq_mode("single shot")
        li.buffer_trig_mode("OFF")
        t0 = clock()
        li.buffer_start()
        clock.advance(0.6)
        gate.write_voltage(PLATEAU)
        clock.advance(0.5)  # to t0 + 1.1 s: points at 0, 0.25, 0.5, 0.75, 1.0 s
        li.buffer_pause()
        assert li.buffer_npts() == 5
        before, after = _x_expected(lab, PINCHED, amplitude), _x_expected(lab, PLATEAU, amplitude)
        times = np.arange(5) / 4.0
        expected = [before if t < 0.6 else after + (before - after) * _step_remaining((t - 0.6) / tau, order)
                    for t in times]
        li.ch1_databuffer.prepare_buffer_readout()
        x = li.ch1_databuffer()
        assert len(x) == 5
        assert x == pytest.approx(expected, abs=1e-4 * (after - before))
        assert li.ch1_datatrace() == pytest.approx(x, rel=1e-4)  # TRCL's 16-bit mantissa: 3e-5 relative
        li.ch2_databuffer.prepare_buffer_readout()
        assert np.abs(li.ch2_databuffer()) == pytest.approx(np.zeros(5), abs=1e-4 * (after - before))  # Y
        assert clock() - t0 == pytest.approx(1.1)
    finally:
        li.close()


def test_pymeasure_sr830_buffer_reads_ascii_and_binary_and_measures(qpc_lab):
    """pymeasure's SR830: a 16 Hz scan read with get_buffer (TRCB?) and raw TRCA?, then buffer_measure (FAST2;STRD,
    SPTS? polling, TRCB? in pieces) on the first plateau returns the requested count at the physics' value."""
    from pymeasure.instruments.srs import SR830

    lab, clock, gate, visa = qpc_lab
    li = SR830("GPIB0::8::INSTR", visa_library=visa)
    li.adapter.connection.timeout = 25  # ms: pymeasure reads binary data until the line goes quiet
    amplitude = 0.1
    li.sine_voltage = amplitude
    li.time_constant = 0.03
    gate.write_voltage(PLATEAU)
    clock.advance(2.0)
    li.reset_buffer()
    li.sample_frequency = 16
    li.start_scan()
    clock.advance(1.0 - 1e-6)  # points at 0, 1/16 ... 15/16 s
    li.pause_scan()
    assert li.buffer_count == 16
    x = li.get_buffer(1, 0, 16)
    assert len(x) == 16
    assert x == pytest.approx([_x_expected(lab, PLATEAU, amplitude)] * 16, rel=1e-3)
    reply = li.ask("TRCA?1,4,3").strip()
    assert re.fullmatch(r"([+-]\d\.\d{6}e[+-]\d{3},){3}", reply)  # manual: "-1.234567e-009,+7.654321e-009,"
    ascii_x = [float(v) for v in reply.split(",") if v]
    assert ascii_x == pytest.approx(x[4:7], rel=1e-6)

    lab.clock = stepping = SteppingClock(0.2, clock.t)
    li.reset_buffer()
    x_mean, x_std, y_mean, _ = li.buffer_measure(40)
    assert x_mean == pytest.approx(_x_expected(lab, PLATEAU, amplitude), rel=1e-3)
    assert abs(y_mean) < 1e-3 * x_mean and x_std < 1e-3 * x_mean
    assert stepping.t > clock.t + 0.5  # STRD waited its 0.5 s before the scan started


def test_sr830_trigger_rate_takes_one_point_per_trig_in_edge(qpc_lab):
    """SRAT 14 (QCoDeS: buffer_SR 'Trigger'): each TRIG IN edge stores one point at its own time, the TRIG command
    counts as an edge, an edge within 1/512 s of the last is ignored (manual). With TSTR 1 at an internal rate
    (buffer_trig_mode 'ON', 4 Hz) the scan waits for the first edge and samples from there."""
    from qcodes.instrument_drivers.stanford_research import SR830

    lab, clock, gate, visa = qpc_lab
    li = SR830("qc_trig830", "GPIB0::8::INSTR", visalib=visa)
    twin = lab.twins_by_name["lockin"]
    try:
        amplitude, tau = 0.1, 0.03  # 12 dB/oct power-on slope
        li.amplitude(amplitude)
        li.time_constant(tau)
        gate.write_voltage(PINCHED)
        clock.advance(1.0)
        li.buffer_reset()
        li.buffer_SR("Trigger")
        li.buffer_start()
        gate.write_voltage(PLATEAU)
        t_step = clock()
        edges = [0.5 * tau, tau, 2 * tau]
        for dt in edges[:2]:
            clock.t = t_step + dt
            twin.on_trigger("trig_in", clock())
            clock.advance(1e-3)
            twin.on_trigger("trig_in", clock())  # 1 ms after the last: ignored
        clock.t = t_step + edges[2]
        li.send_trigger()
        assert li.buffer_npts() == 3
        li.ch1_databuffer.prepare_buffer_readout()
        before, after = _x_expected(lab, PINCHED, amplitude), _x_expected(lab, PLATEAU, amplitude)
        expected = [after + (before - after) * _step_remaining(dt / tau, 2) for dt in edges]
        assert li.ch1_databuffer() == pytest.approx(expected, abs=1e-4 * (after - before))
        with pytest.raises(ValueError, match="trig_in"):
            twin.on_trigger("ref_in", clock())

        li.buffer_reset()
        li.buffer_SR(4)
        li.buffer_trig_mode("ON")
        li.buffer_start()
        clock.advance(3.0)
        assert li.buffer_npts() == 0  # armed: waits for its trigger
        twin.on_trigger("trig_in", clock())
        clock.advance(1.0)
        assert li.buffer_npts() == 5  # 0, 0.25 ... 1 s after the edge
    finally:
        li.close()


def test_sr830_loop_buffer_keeps_the_newest_16383_points_oldest_first(qpc_lab):
    """SEND 1 (loop) at 512 Hz for 10^4 s: the buffer holds the last 16383 points, oldest first; a gate step
    10 s before the end sits 10 * 512 points before the last, and the points after it follow the filter's step
    response (manual: loop mode overwrites the oldest)."""
    import pyvisa

    lab, clock, gate, visa = qpc_lab
    li = pyvisa.ResourceManager(visa).open_resource("GPIB0::8::INSTR", read_termination="\n",
                                                     write_termination="\n")
    amplitude = 0.1
    tau, order, period = 1e-3, 2, 1 / 512
    li.write(f"SLVL {amplitude};OFLT 4;OFSL 1;REST;SRAT 13;SEND 1")  # 1 ms, 12 dB/oct
    gate.write_voltage(PINCHED)
    clock.advance(1.0)
    li.write("STRT")
    clock.advance(1e4 - 10.0)
    gate.write_voltage(PLATEAU)
    clock.advance(10.0)
    li.write("PAUS")
    assert li.query("SPTS?") == "16383"
    before, after = _x_expected(lab, PINCHED, amplitude), _x_expected(lab, PLATEAU, amplitude)
    step = 16382 - 10 * 512  # the point taken at the step itself (the last one is at the end, 10 s later)
    near = [float(v) for v in li.query(f"TRCA?1,{step - 2},6").strip().split(",") if v]
    expected = [before] * 3 + [after + (before - after) * _step_remaining(k * period / tau, order) for k in (1, 2, 3)]
    assert near == pytest.approx(expected, abs=1e-4 * (after - before))
    li.close()


# ---- SR86x --------------------------------------------------------------------------------------------------------
def test_qcodes_sr86x_capture_returns_the_samples_the_filter_gives(noise_lab):
    """SR865A capture through QCoDeS: capture_samples (CAPTURELEN, CAPTURESTART ONE,IMM, CAPTUREBYTES? polling,
    CAPTURESTOP, CAPTUREGET? blocks) returns the requested samples at the plateau's value; a capture started by
    hand shows a gate step as the 24 dB/oct filter's step response at the sample times."""
    from qcodes.instrument_drivers.stanford_research import SR865A

    lab, clock, gate, visa = noise_lab
    li = SR865A("qc_cap865", "GPIB0::4::INSTR", visalib=visa)
    try:
        amplitude, tau, order = 0.1, 0.01, 4  # power-on slope: 24 dB/oct
        li.amplitude(amplitude)
        li.time_constant(tau)
        li.sensitivity(0.5)
        gate.write_voltage(PLATEAU)
        clock.advance(1.0)
        li.buffer.capture_config("X,Y")
        n_rate = 2
        li.buffer.capture_rate(li.buffer.capture_rate_max() / 2 ** n_rate)
        rate = li.buffer.capture_rate()
        lab.clock = stepping = SteppingClock(2e-3, clock.t)
        data = li.buffer.capture_samples(300)
        assert len(data["X"]) == 300 and len(data["Y"]) == 300
        plateau = _x_expected(lab, PLATEAU, amplitude)
        assert data["X"] == pytest.approx(np.full(300, plateau), rel=1e-3)
        assert np.abs(data["Y"]).max() < 1e-3 * plateau

        lab.clock, clock.t = clock, stepping.t
        gate.write_voltage(PINCHED)
        clock.advance(1.0)
        li.buffer.set_capture_length_to_fit_samples(20)
        t0 = clock()
        li.buffer.start_capture("ONE", "IMM")
        t_step = t0 + 4.5 / rate
        clock.t = t_step
        gate.write_voltage(PLATEAU)
        clock.t = t0 + 19.5 / rate
        li.buffer.stop_capture()
        x = li.buffer.get_capture_data(20)["X"]
        before = _x_expected(lab, PINCHED, amplitude)
        times = t0 + np.arange(20) / rate
        expected = [before if t < t_step else plateau + (before - plateau) * _step_remaining((t - t_step) / tau, order)
                    for t in times]
        assert x == pytest.approx(expected, abs=1e-3 * (plateau - before))
        assert li.buffer.X() == pytest.approx(x)
    finally:
        li.close()


def test_sr86x_capture_per_trigger_and_status_bits(noise_lab):
    """CAPTURESTART ONE,SAMP: nothing until TRIG IN, then one sample per edge; CAPTURESTAT? bit 1 once
    triggered, bit 0 while recording; CAPTUREGET? refuses a running capture (range error, manual)."""
    import pyvisa

    lab, clock, gate, visa = noise_lab
    twin = lab.twins_by_name["lockin"]
    li = pyvisa.ResourceManager(visa).open_resource("GPIB0::4::INSTR", read_termination="\n", write_termination="\n")
    li.write("CAPTURECFG X;CAPTURELEN 2")
    li.write("CAPTURESTART ONE, SAMP")
    assert li.query("CAPTURESTAT?") == "0"
    for k in range(3):
        clock.advance(0.5)
        twin.on_trigger("trig_in", clock())
    assert li.query("CAPTURESTAT?") == "3"
    assert li.query("CAPTUREBYTES?") == "12"
    li.write("CAPTUREGET? 0, 2")  # refused while recording: no reply, execution error
    assert li.query("*ESR?") == str(1 << 4)
    lab.refused.clear()
    li.write("CAPTURESTOP")
    assert li.query("CAPTURESTAT?") == "2"
    values = li.query_binary_values("CAPTUREGET? 0, 2", datatype="f", is_big_endian=False,
                                    expect_termination=False)
    assert len(values) == 512 and np.count_nonzero(values) == 3
    li.close()


def test_sr86x_continuous_capture_wraps_and_keeps_the_newest(noise_lab):
    """CAPTURESTART CONT,IMM for 10^4 s: the buffer is full (CAPTUREBYTES? = CAPTURELEN kB), CAPTURESTAT? bit 2
    says it wrapped, and the samples hold the plateau the gate was set to 1 s before the end."""
    import pyvisa

    lab, clock, gate, visa = noise_lab
    li = pyvisa.ResourceManager(visa).open_resource("GPIB0::4::INSTR", read_termination="\n", write_termination="\n")
    amplitude = 0.1
    li.write(f"SLVL {amplitude};OFLT 6;CAPTURECFG XY;CAPTURELEN 2")  # tau 1 ms; 2 kB: 256 X, Y samples
    gate.write_voltage(PINCHED)
    clock.advance(1.0)
    li.write("CAPTURESTART CONT, IMM")
    clock.advance(1e4 - 1.0)
    gate.write_voltage(PLATEAU)
    clock.advance(1.0)
    li.write("CAPTURESTOP")
    assert int(li.query("CAPTURESTAT?")) & 4
    assert li.query("CAPTUREBYTES?") == "2048"
    period = 1.0 / float(li.query("CAPTURERATE?"))
    assert 256 * period < 1.0  # so every sample kept comes after the step, settled
    newest = [float(v) for v in li.query("CAPTUREVAL? 255").split(",")]
    assert newest[0] == pytest.approx(_x_expected(lab, PLATEAU, amplitude), rel=1e-3)
    li.close()


def test_qcodes_sr86x_one_sample_per_trigger_at_the_trigger_times(noise_lab):
    """QCoDeS's capture_one_sample_per_trigger with the pulse train at TRIG IN: one X, Y sample per edge, each the
    filter's output at its edge after a gate step (6 dB/oct: 1 - exp(-t / tau))."""
    from qcodes.instrument_drivers.stanford_research import SR865A

    lab, clock, gate, visa = noise_lab
    twin = lab.twins_by_name["lockin"]
    li = SR865A("qc_trg865", "GPIB0::4::INSTR", visalib=visa)
    try:
        amplitude, tau = 0.1, 0.01
        li.amplitude(amplitude)
        li.time_constant(tau)
        li.filter_slope(6)
        gate.write_voltage(PINCHED)
        clock.advance(1.0)
        li.buffer.capture_config("X,Y")
        edges = [0.5 * tau * k for k in range(1, 9)]

        def pulse_train():
            gate.write_voltage(PLATEAU)
            t_step = clock()
            for dt in edges:
                clock.t = t_step + dt
                twin.on_trigger("trig_in", clock())

        data = li.buffer.capture_one_sample_per_trigger(len(edges), pulse_train)
        before, after = _x_expected(lab, PINCHED, amplitude), _x_expected(lab, PLATEAU, amplitude)
        expected = [after + (before - after) * math.exp(-dt / tau) for dt in edges]
        assert data["X"] == pytest.approx(expected, abs=1e-4 * (after - before))
        assert len(data["Y"]) == len(edges)
    finally:
        li.close()


# ---- continuous dynamics: a reading during a field ramp -----------------------------------------------------------
def _ramp_response(s: float, tau: float, order: int) -> float:
    """Output of an order-n RC cascade, settled at 0, to a unit-slope ramp that started s seconds ago:
    s - n tau + tau exp(-x) sum_{j<n} (n - j) x^j / j!  (x = s / tau; 0 before the start)."""
    if s <= 0:
        return 0.0
    x = s / tau
    return s - order * tau + tau * math.exp(-x) * sum((order - j) * x ** j / math.factorial(j) for j in range(order))


def test_lockin_lags_a_hall_ramp_by_the_filters_n_tau_only():
    """Hall lab, field ramped linearly at 0.01 T/s from 0 to 0.08 T: R_xy = B / (n e) at these low fields, so X
    follows the filter's response to a ramp that starts at t_s and stops at t_e = t_s + 8 s,
    m [R_n(t - t_s) - R_n(t - t_e)], the start's transient included; well inside the ramp that is the Hall voltage
    at B(t - n tau) (4 stages, tau = 0.3 s: 1.2 s late), neither B(t) nor the field at the previous read. Reads
    1.5 s apart; the stop falls between two of them."""
    import pyvisa

    with manual_clock_lab(SIM_CONFIGS / "hall_lab.yaml") as (lab, clock, visa):
        rm = pyvisa.ResourceManager(visa)
        magnet = rm.open_resource("TCPIP0::127.0.0.1::7180::SOCKET", read_termination="\r\n",
                                  write_termination="\r\n")
        li = rm.open_resource("GPIB0::9::INSTR", read_termination="\n", write_termination="\n")  # reads V_xy
        tau, order, amplitude = 0.3, 4, 1.0
        li.write(f"OFLT 9;OFSL 3;SLVL {amplitude}")
        rate_T_per_s, coil_T_per_A, stop_T = 0.01, 0.1, 0.08
        magnet.write(f"CONF:RAMP:RATE:CURR 1,{rate_T_per_s / coil_T_per_A},120")
        magnet.write(f"CONF:CURR:TARG {stop_T / coil_T_per_A}")
        clock.advance(5.0)
        t_start = clock()
        magnet.write("RAMP")
        ramp_s = stop_T / rate_T_per_s
        n_s = 2.0e15  # hall_lab.yaml: density_m2
        volts_per_tesla = 100.0 * amplitude / 1.0e7 / (n_s * E_CHARGE)  # x100 preamp, 10 MOhm current resistor
        for t in (1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 10.5):
            clock.t = t_start + t
            x = float(li.query("OUTP?1"))
            expected = volts_per_tesla * rate_T_per_s * (_ramp_response(t, tau, order)
                                                         - _ramp_response(t - ramp_s, tau, order))
            assert x == pytest.approx(expected, rel=1e-4), t
            if 6.0 <= t <= 7.5:  # transient gone, stop not yet felt: n tau late, and that is resolved
                assert x == pytest.approx(volts_per_tesla * rate_T_per_s * (t - order * tau), rel=1e-4)
                assert abs(x - volts_per_tesla * rate_T_per_s * t) > 0.1 * x
        magnet.close()
        li.close()
        assert lab.refused == []
