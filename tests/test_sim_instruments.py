"""The simulated lab through unmodified third-party drivers (pymeasure's Keithley2400 and SR830, plain pyvisa).

Expectations come from physics and the instruments' manuals, not from the simulator: integer plateaus, the
n-stage RC filter's step response, the equivalent noise bandwidth, overload above full scale.
"""

import math
import threading

import numpy as np
import pytest
import pyvisa
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.srs import SR830


GATE, BIAS, LOCKIN = "GPIB0::24::INSTR", "GPIB0::25::INSTR", "GPIB0::8::INSTR"


def drivers(visa_library):
    smu = Keithley2400(GATE, visa_library=visa_library)
    li = SR830(LOCKIN, visa_library=visa_library)
    smu.source_mode = "voltage"
    smu.source_voltage = 0.0
    smu.compliance_current = 1e-6
    smu.enable_source()
    li.sine_voltage = 0.1
    li.sensitivity = 0.5
    return smu, li


def test_pymeasure_drivers_sweep_a_gate_and_read_a_staircase(sim_lab, visa_library, clock):
    smu, li = drivers(visa_library)
    li.time_constant = 0.01
    li.filter_slope = 24
    circuit = sim_lab.circuit
    gates = np.arange(-1.4, 0.0001, 0.004)
    g = []
    for v in gates:
        smu.source_voltage = v
        clock.advance(0.2)  # 20 time constants: settled
        g.append(circuit.conductance_G0(li.x, li.sine_voltage))
    g = np.array(g)
    assert smu.source_voltage == pytest.approx(gates[-1])
    # pinched off at the start, at least five flat plateaus at integer multiples of G0 (within 1%)
    assert abs(g[0]) < 0.01
    for n in range(1, 6):
        on_plateau = np.abs(g - n) < 0.01 * n
        assert on_plateau.sum() >= 5, f"no plateau at {n} G0"
    # a staircase only goes up as the gate opens the constriction
    assert np.all(np.diff(g) > -0.01)


def test_read_one_time_constant_after_a_step_follows_the_filter(sim_lab, visa_library, clock):
    smu, li = drivers(visa_library)
    for slope, order in ((6, 1), (24, 4)):
        tau = 0.1
        li.time_constant = tau
        li.filter_slope = slope
        smu.source_voltage = -1.4  # pinched off
        clock.advance(100 * tau)
        x_before = li.x
        smu.source_voltage = -1.15  # first plateau
        clock.advance(tau)
        x_tau = li.x
        clock.advance(100 * tau)
        x_after = li.x
        remaining = (x_after - x_tau) / (x_after - x_before)
        expected = math.exp(-1) * sum(1 / math.factorial(k) for k in range(order))
        assert remaining == pytest.approx(expected, abs=2e-3)


def test_reading_noise_shrinks_with_the_time_constant(sim_lab, visa_library, clock):
    smu, li = drivers(visa_library)
    smu.source_voltage = -1.15  # first plateau: ~70 mV at the lock-in
    li.sensitivity = 0.1
    li.filter_slope = 12
    spreads = {}
    for tau in (0.001, 0.1):
        li.time_constant = tau
        clock.advance(50 * tau)
        xs = []
        for _ in range(400):
            clock.advance(50 * tau)
            xs.append(li.x)
        spreads[tau] = np.std(xs)
    # equivalent noise bandwidth ~ 1/tau: the spread scales as 1/sqrt(tau)
    assert spreads[0.001] / spreads[0.1] == pytest.approx(10.0, rel=0.2)


def test_sensitivity_below_the_signal_reports_overload(sim_lab, visa_library, clock):
    smu, li = drivers(visa_library)
    smu.source_voltage = -0.5  # several channels open: tens of mV at the lock-in
    li.time_constant = 0.01
    clock.advance(1.0)
    assert int(li.ask("LIAS?")) & 0b100 == 0
    li.sensitivity = 0.01
    x = li.x
    assert int(li.ask("LIAS? 2")) == 1  # output overload bit, as the SR830 manual's status register says
    assert abs(x) <= 1.1 * 0.01  # outputs saturate just above full scale
    li.sensitivity = 1.0
    assert li.x > 0.02
    li.ask("LIAS? 2")  # the latched bit is read (and cleared) ...
    assert int(li.ask("LIAS? 2")) == 0  # ... and stays clear once the signal fits


def test_unknown_commands_are_logged_and_queued_as_errors(sim_lab, visa_library):
    rm = pyvisa.ResourceManager(visa_library)
    k = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    k.write(":SOUR:VOLT:FROBNICATE 3")
    assert sim_lab.unknown_commands == [("gate_smu", "SOUR:VOLT:FROBNICATE", ["3"])]
    assert k.query(":SYST:ERR?").startswith("-113")
    with pytest.raises(AssertionError):
        sim_lab.assert_no_unknown_commands()
    sim_lab.unknown_commands.clear()


def test_out_of_range_setting_is_refused_with_the_instruments_error(sim_lab, visa_library):
    rm = pyvisa.ResourceManager(visa_library)
    k = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    k.write(":SOUR:VOLT 300")
    assert k.query(":SYST:ERR?").startswith("-222")
    assert float(k.query(":SOUR:VOLT?")) == 0.0


def test_device_clear_reset_and_concurrent_sessions(sim_library, visa_library):
    rm = pyvisa.ResourceManager(visa_library)
    a = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    b = rm.open_resource(LOCKIN, read_termination="\n", write_termination="\n")
    a.write("*IDN?")
    a.clear()  # device clear drops the unread reply
    a.write(":SOUR:VOLT -0.5")
    assert float(a.query(":SOUR:VOLT?")) == -0.5
    errors = []

    def hammer(res, expect):
        for _ in range(200):
            reply = res.query("*IDN?")
            if expect not in reply:
                errors.append(reply)

    threads = [threading.Thread(target=hammer, args=(a, "MODEL 2400")),
               threading.Thread(target=hammer, args=(b, "SR830"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sim_library.reset()
    assert float(a.query(":SOUR:VOLT?")) == 0.0


def test_library_is_reachable_by_a_relative_path_string(sim_library, monkeypatch):
    monkeypatch.chdir(sim_library.lab.path.parent.parent)
    rm = pyvisa.ResourceManager(f"{sim_library.lab.path.parent.name}/qpc_lab.yaml@qpcsim")
    assert rm.visalib is sim_library  # one lab per file, whatever the spelling of its path
    assert set(rm.list_resources()) == {GATE, BIAS, LOCKIN}
