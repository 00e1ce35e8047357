"""The gate-source twins (Keithley 2400/2450, Yokogawa GS200, QDevil QDAC-II) as third-party drivers see them, their
trigger models in lab time, the trigger cables between instruments, and the IEEE 488.2 status model they share.

Expectations come from the manuals: the arm timer, dwell and trigger delays set here give the step times; the list
values set here give the buffer statistics; the status-byte bits are the IEEE 488.2 ones. Nothing asserted is
a value the simulator produced on its own.
"""

from __future__ import annotations

import logging
import statistics
import textwrap

import pytest
import pyvisa

from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.sim.wiring import TriggerWiring

from conftest import ManualClock

K2400, K2450, GS200, QDAC = "GPIB0::24::INSTR", "GPIB0::18::INSTR", "GPIB0::1::INSTR", "TCPIP0::127.0.0.1::5025::SOCKET"


def _lab_yaml(wiring: str = "") -> str:
    return textwrap.dedent(f"""\
        spec: "1.1"
        devices:
          keithley2400: {{eom: {{GPIB INSTR: {{q: "\\n", r: "\\n"}}}}}}
          keithley2450: {{eom: {{GPIB INSTR: {{q: "\\n", r: "\\n"}}}}}}
          yokogawags200: {{eom: {{GPIB INSTR: {{q: "\\n", r: "\\n"}}}}}}
          qdac2: {{eom: {{TCPIP SOCKET: {{q: "\\n", r: "\\n"}}}}}}
        resources:
          {K2400}: {{device: keithley2400}}
          {K2450}: {{device: keithley2450}}
          {GS200}: {{device: yokogawags200}}
          {QDAC}: {{device: qdac2}}
        station:
          name: the four gate sources
          visa_library: "@qpcsim"
          instruments:
            k2400: {{driver: keithley2400, address: "{K2400}"}}
            k2450: {{driver: keithley2450, address: "{K2450}"}}
            gs200: {{driver: yokogawags200, address: "{GS200}"}}
            qdac: {{driver: qdac2, address: "{QDAC}"}}
          gates:
            g_k: {{instrument: k2400, limits: [-2.0, 2.0], step: 0.002, rate: 2.0, safe: 0.0}}
            g_q: {{instrument: qdac, channel: 1, limits: [-2.0, 2.0], step: 0.002, rate: 2.0, safe: 0.0}}
          bias: {{instrument: k2450, limits: [-2.0, 2.0], step: 0.01, rate: 5.0, safe: 0.0}}
          circuit:
            excitation_divider: 1.0e-4
            bias_divider: 1.0e-3
            series_resistance_ohm: 1500.0
            preamp_gain_V_per_A: 1.0e8
        simulation:
          sample: {{preset: gaas_split_gate}}
          seed: 11
          loads_ohm: {{k2400: 1.0e6, k2450: 1.0e6, gs200: 1.0e6}}
        """) + textwrap.indent(wiring, "  ")


@pytest.fixture
def sources(tmp_path):
    """(lab file path, simulated library) of the four-source lab on a manual clock; no unknown command allowed."""
    path = tmp_path / "sources_lab.yaml"
    path.write_text(_lab_yaml(), encoding="utf-8")
    lib = SimVisaLibrary(str(path))
    clock = ManualClock()
    lib.lab.clock = clock
    lib.reset()
    yield path, lib, clock
    lib.lab.assert_no_unknown_commands()


# ---- third-party drivers, unmodified ------------------------------------------------------------------------------

class Census:
    """How many gettable parameters of each driver answered, and which did not (with the reason)."""

    def __init__(self):
        self.rows: dict[str, tuple[int, int]] = {}
        self.failures: list[str] = []

    def add(self, driver: str, answered: set[str], failed: dict[str, str]) -> None:
        failed = {k: v for k, v in failed.items() if k not in answered}
        self.rows[driver] = (len(answered), len(answered) + len(failed))
        self.failures += [f"{driver}.{k}: {v}" for k, v in sorted(failed.items())]

    def fraction(self) -> float:
        ok = sum(a for a, _ in self.rows.values())
        return ok / sum(n for _, n in self.rows.values())

    def report(self) -> str:
        lines = [f"{d}: {a}/{n}" for d, (a, n) in self.rows.items()]
        return "\n".join(lines + [f"answered: {100 * self.fraction():.1f} %", "not answered:"] + self.failures)


def _qcodes_census(inst, answered: set[str], failed: dict[str, str]) -> None:
    seen = set()

    def walk(node, prefix):
        if id(node) in seen:
            return
        seen.add(id(node))
        for name, p in node.parameters.items():
            if not p.gettable:
                continue
            try:
                p.get()
                answered.add(prefix + name)
            except Exception as exc:  # noqa: BLE001 - any failure counts, with its reason
                failed[prefix + name] = f"{type(exc).__name__}: {str(exc)[:120]}"
        for sub_name, sub in node.submodules.items():
            if hasattr(sub, "parameters"):
                walk(sub, f"{prefix}{sub_name}.")
            else:  # a channel list: its channels are submodules too, under their own names
                for child in sub:
                    walk(child, f"{prefix}{child.short_name}.")

    walk(inst, "")


def _pymeasure_census(inst, answered: set[str], failed: dict[str, str]) -> None:
    def walk(obj, prefix):
        for name in sorted(dir(type(obj))):
            if name.startswith("_") or not isinstance(getattr(type(obj), name, None), property):
                continue
            try:
                getattr(obj, name)
                answered.add(prefix + name)
            except LookupError as exc:
                if "can not be read" in str(exc):  # a write-only setting: nothing to read
                    continue
                failed[prefix + name] = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001
                failed[prefix + name] = f"{type(exc).__name__}: {str(exc)[:120]}"
        for cname, ch in getattr(obj, "channels", {}).items():
            walk(ch, f"{prefix}ch{cname}.")

    walk(inst, "")


def _qcodes_count(census: Census, label: str, inst, *states) -> None:
    """Walk ``inst``'s parameters once in each state (a function that sets the driver up), then close it."""
    try:
        inst.visa_handle.timeout = 100  # ms: a query the twin does not answer costs little
        answered, failed = set(), {}
        for state in states:
            state(inst)
            _qcodes_census(inst, answered, failed)
        census.add(label, answered, failed)
    finally:
        inst.close()


def _pymeasure_count(census: Census, label: str, inst, state) -> None:
    inst.adapter.connection.timeout = 100
    try:
        state(inst)
        answered, failed = set(), {}
        _pymeasure_census(inst, answered, failed)
        census.add(label, answered, failed)
    finally:
        inst.adapter.close()


def _qc_k2400(k) -> None:
    k.output(1)
    k.mode("VOLT")
    k.volt(0.25)
    k.compliancei(1e-4)
    k.nplcv(2)
    assert (k.volt(), k.compliancei(), k.nplcv()) == (pytest.approx(0.25), pytest.approx(1e-4), 2)


def _qc_k2450(k) -> None:
    assert "source_function" in k.parameters  # *LANG? said SCPI: the driver built itself
    k.source_function("voltage")
    k.sense_function("current")
    k.output_enabled(True)
    k.source.voltage(0.5)
    k.sense.nplc(0.5)
    k.terminals("rear")
    assert (k.source.voltage(), float(k.sense.nplc()), k.terminals()) == (pytest.approx(0.5), 0.5, "REAR")
    assert k.sense.current() == pytest.approx(0.5 / 1e6, rel=1e-3)  # 0.5 V into the 1 MOhm load
    for sub in k.submodules.values():
        if "user_number" in getattr(sub, "parameters", {}):
            sub.user_number(1)  # which of the five user delays the user_delay parameters address
    k.source.sweep_setup(0.0, 0.4, 5)


def _qc_gs200(g) -> None:
    g.voltage_range(10.0)
    g.voltage(1.5)
    assert (g.voltage(), g.voltage_range()) == (pytest.approx(1.5), 10.0)


def _qc_qdac(q) -> None:
    q.ch03.dc_constant_V(0.2)
    q.ch03.output_filter("med")
    q.ext1.width_s(1e-3)
    assert (q.ch03.dc_constant_V(), q.ch03.output_filter().lower(), q.ext1.width_s()) == (0.2, "med", 1e-3)


def _pm_k2400(s) -> None:
    s.source_voltage = 0.3
    s.compliance_current = 1e-3
    s.enable_source()
    s.config_buffer(4)  # a filled buffer for the statistics
    s.start_buffer()
    s.ask("*OPC?")
    assert s.is_buffer_full()
    assert (s.source_voltage, s.compliance_current, s.buffer_points) == (0.3, 1e-3, 4)


def _pm_k2450(s) -> None:
    s.source_voltage = 0.1
    s.current_nplc = 2
    assert (s.source_voltage, s.current_nplc) == (0.1, 2)


def _pm_gs200(y) -> None:
    y.source_mode = "voltage"
    y.source_range = 1.0
    y.source_level = 0.75
    assert (y.source_range, y.source_level) == (1.0, 0.75)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # pymeasure's deprecated aliases are read like the rest
def test_unmodified_qcodes_and_pymeasure_drivers_read_and_set_through_the_source_twins(sources, capsys):
    """Every gettable parameter of QCoDeS's and pymeasure's drivers for the four sources, read after the set-up a
    user makes (output on, a buffer filled, a sweep set up, a user-delay slot chosen); a few settings each, read back.
    At least 98 % answer; the figure and what did not answer are printed. pymeasure's Keithley2450 statistics index
    one value as three, and its buffer_data omits the 2450's required start and end indices: those cannot answer."""
    from pymeasure.instruments.keithley import Keithley2400 as PmK2400, Keithley2450 as PmK2450
    from pymeasure.instruments.yokogawa import YokogawaGS200 as PmGS200
    from qcodes.instrument_drivers.Keithley import Keithley2400 as QcK2400, Keithley2450 as QcK2450
    from qcodes.instrument_drivers.yokogawa import YokogawaGS200 as QcGS200
    qdac2 = pytest.importorskip("qcodes_contrib_drivers.drivers.QDevil.QDAC2")

    path, lib, clock = sources
    visalib = f"{path}@qpcsim"
    census = Census()
    logging.getLogger("qpclab.instruments.sim.lab").setLevel(logging.ERROR)
    _qcodes_count(census, "qcodes Keithley2400", QcK2400("qc_k2400", K2400, visalib=visalib), _qc_k2400)
    _qcodes_count(census, "qcodes Keithley2450", QcK2450("qc_k2450", K2450, visalib=visalib), _qc_k2450)
    # the GS200 driver refuses its current-mode parameters in voltage mode: read them in current mode too
    _qcodes_count(census, "qcodes YokogawaGS200", QcGS200("qc_gs200", GS200, visalib=visalib), _qc_gs200,
                  lambda g: g.source_mode("CURR"))
    _qcodes_count(census, "qcodes QDac2", qdac2.QDac2("qc_qdac", QDAC, visalib=visalib), _qc_qdac)
    _pymeasure_count(census, "pymeasure Keithley2400", PmK2400(K2400, visa_library=visalib), _pm_k2400)
    _pymeasure_count(census, "pymeasure Keithley2450", PmK2450(K2450, visa_library=visalib), _pm_k2450)
    _pymeasure_count(census, "pymeasure YokogawaGS200", PmGS200(GS200, visa_library=visalib), _pm_gs200)
    with capsys.disabled():
        print("\n" + census.report())
    assert census.fraction() >= 0.98, census.report()


# ---- the Keithley 2400 trigger model in lab time -------------------------------------------------------------------

class FakeReceiver:
    """Records the pulses a cable delivers (input name, lab time)."""

    def __init__(self):
        self.pulses: list[tuple[str, float]] = []

    def on_trigger(self, input_name: str, t: float) -> None:
        self.pulses.append((input_name, t))

    def trigger_input_names(self):
        return ["trig_in"]


def _cable(lab, source_port: str) -> FakeReceiver:
    rx = FakeReceiver()
    lab.trigger_wiring = TriggerWiring([{"from": source_port, "to": "rx.trig_in"}], {**lab.twins_by_name, "rx": rx})
    return rx


def test_keithley2400_list_on_its_arm_timer_fires_trigger_link_at_each_step(sources):
    path, lib, clock = sources
    lab = lib.lab
    rx = _cable(lab, "k2400.tlink_out_3")
    rm = pyvisa.ResourceManager(f"{path}@qpcsim")
    k = rm.open_resource(K2400, read_termination="\n", write_termination="\n")
    levels = [0.1, 0.3, -0.2, 0.05]
    period = 0.25  # s, the arm layer's timer: one list point per timer event
    k.write(":SOUR:FUNC VOLT;:SOUR:VOLT 0;:OUTP ON")
    k.write(":SOUR:LIST:VOLT " + ",".join(map(str, levels)) + ";:SOUR:VOLT:MODE LIST")
    k.write(f":ARM:SOUR TIM;:ARM:TIM {period};:ARM:COUN {len(levels)};:TRIG:COUN 1;:TRIG:DEL 0")
    k.write(":TRIG:OUTP SOUR;:TRIG:OLIN 3")
    clock.advance(1.0)
    t0 = clock()
    k.write(":INIT")
    for _ in range(10):  # lab time passes; each command brings the trigger model up to now
        clock.advance(0.12)
        k.query("*STB?")
    expected = [t0 + i * period for i in range(len(levels))]  # the timer's first event is immediate
    assert [name for name, _ in rx.pulses] == ["trig_in"] * len(levels)
    assert [t for _, t in rx.pulses] == pytest.approx(expected, abs=1e-12)
    # each step is in the gate's history at its own time, as a normal write is; then back to the 0 V bias level
    steps = [(t, v) for t, v in lab.history["g_k"] if t >= t0]
    assert steps[:len(levels)] == [pytest.approx((t, v)) for t, v in zip(expected, levels)]
    assert steps[-1][1] == 0.0 and steps[-1][0] > expected[-1]
    assert int(k.query(":STAT:OPER:COND?")) == 0  # no longer sweeping


def test_keithley2400_read_holds_its_reply_until_a_trigger_link_pulse_steps_it(sources):
    """TRIG:SOUR TLIN: each source-measure cycle waits for a pulse on the input line; :READ? waits with it."""
    path, lib, clock = sources
    k2400 = lib.lab.twins_by_name["k2400"]
    rm = pyvisa.ResourceManager(f"{path}@qpcsim")
    k = rm.open_resource(K2400, read_termination="\n", write_termination="\n", timeout=100)
    k.write(":OUTP ON;:SOUR:LIST:VOLT 0.2,0.4;:SOUR:VOLT:MODE LIST;:TRIG:SOUR TLIN;:TRIG:ILIN 2;:TRIG:COUN 2")
    k.write(":FORM:ELEM VOLT")
    k.write(":INIT")
    with pytest.raises(pyvisa.VisaIOError):
        k.query(":FETCh?")  # nothing has triggered it: the 2400 holds the reply, the client times out
    t1 = clock() + 0.5
    k2400.on_trigger("tlink_in_1", t1)  # the wrong line: ignored
    k2400.on_trigger("tlink_in_2", t1)
    k2400.on_trigger("tlink_in_2", t1 + 0.5)
    clock.advance(2.0)
    assert [float(x) for x in k.query(":FETCh?").split(",")] == [0.2, 0.4]
    values = [v for t, v in lib.lab.history["g_k"] if t >= t1]
    assert values == [0.2, 0.4, 0.0]


def test_keithley2400_bus_triggers_with_auto_clear_pulse_the_output_for_each_cycle(sources):
    """ARM:SOUR BUS: each *TRG starts one cycle; with :SOUR:CLE:AUTO ON the output is on from the source step to
    the end of the measurement, off otherwise (2400 manual, 'Output auto-clear'): a pulse per trigger."""
    path, lib, clock = sources
    k = pyvisa.ResourceManager(f"{path}@qpcsim").open_resource(K2400, read_termination="\n", write_termination="\n")
    k.write(":SOUR:LIST:VOLT 0.15,-0.15;:SOUR:VOLT:MODE LIST;:SOUR:CLE:AUTO ON;:ARM:SOUR BUS;:ARM:COUN 2")
    k.write(":SOUR:DEL:AUTO OFF;:SOUR:DEL 0.02;:SENS:CURR:NPLC 1;:SYST:LFR 60;:INIT")
    clock.advance(1.0)
    t1 = clock()
    k.write("*TRG")
    clock.advance(1.0)
    t2 = clock()
    k.write("*TRG")
    clock.advance(1.0)
    assert int(k.query(":STAT:OPER:COND?")) == 0
    width = 0.02 + 1 / 60
    steps = [(t, v) for t, v in lib.lab.history["g_k"] if t >= t1]
    assert steps == [pytest.approx(x) for x in [(t1, 0.15), (t1 + width, 0.0), (t2, -0.15), (t2 + width, 0.0),
                                                (t2 + width, 0.0)]]


def test_keithley2400_buffer_fills_reports_full_and_its_statistics_are_those_of_the_list(sources):
    from pymeasure.instruments.keithley import Keithley2400

    path, lib, clock = sources
    smu = Keithley2400(K2400, visa_library=f"{path}@qpcsim")
    levels = [0.1, 0.2, 0.4, 0.8, -0.3]
    smu.write(":OUTP ON;:SOUR:LIST:VOLT " + ",".join(map(str, levels)) + ";:SOUR:VOLT:MODE LIST")
    smu.config_buffer(len(levels))  # pymeasure: status enables, buffer size, trigger count
    assert not smu.is_buffer_full()
    smu.start_buffer()
    smu.ask("*OPC?")
    assert smu.is_buffer_full()  # *STB? bits 0 (measurement summary: buffer full) and 6 (master summary)
    data = smu.buffer_data.reshape(len(levels), 5)
    assert list(data[:, 0]) == pytest.approx(levels)
    assert smu.means[0] == pytest.approx(statistics.mean(levels))
    assert smu.maximums[0] == pytest.approx(max(levels)) and smu.minimums[0] == pytest.approx(min(levels))
    assert smu.standard_devs[0] == pytest.approx(statistics.stdev(levels), rel=1e-6)
    assert smu.maximums[1] >= smu.minimums[1] and smu.standard_devs[1] >= 0.0
    # a full buffer stops storing: another run leaves it as it was
    smu.start_buffer()
    smu.ask("*OPC?")
    assert int(smu.ask(":TRAC:POIN:ACT?")) == len(levels)


def test_keithley2400_linear_sweep_steps_start_to_stop_at_the_cycle_time(sources):
    """SOUR:VOLT:MODE SWE: points from start to stop; each source-delay-measure cycle takes the source delay plus
    NPLC / line frequency (2400 manual, 'Sweep operation', 'Timing')."""
    path, lib, clock = sources
    rm = pyvisa.ResourceManager(f"{path}@qpcsim")
    k = rm.open_resource(K2400, read_termination="\n", write_termination="\n")
    k.write(":OUTP ON;:SOUR:VOLT:STAR -0.5;:SOUR:VOLT:STOP 0.5;:SOUR:SWE:POIN 5;:SOUR:VOLT:MODE SWE")
    k.write(":TRIG:COUN 5;:SOUR:DEL:AUTO OFF;:SOUR:DEL 0.01;:SENS:CURR:NPLC 1;:SYST:LFR 50;:FORM:ELEM VOLT,TIME")
    clock.advance(1.0)
    t0 = clock()
    reply = [float(x) for x in k.query(":READ?").split(",")]
    volts, stamps = reply[0::2], reply[1::2]
    assert volts == pytest.approx([-0.5, -0.25, 0.0, 0.25, 0.5])
    cycle = 0.01 + 1 / 50
    assert [b - a for a, b in zip(stamps, stamps[1:])] == pytest.approx([cycle] * 4)
    steps = [(t, v) for t, v in lib.lab.history["g_k"] if t >= t0]
    assert [t - t0 for t, _ in steps[:5]] == pytest.approx([i * cycle for i in range(5)], abs=1e-12)


def test_keithley2450_linear_sweep_steps_into_its_buffer_at_delay_plus_measurement_time(sources):
    """:SOUR:SWE:VOLT:LIN start, stop, points, delay: each point sourced, after the delay measured for NPLC / line
    frequency into defbuffer1 (2450 manual, :SOURce:SWEep); *WAI holds until the sweep is done."""
    path, lib, clock = sources
    k = pyvisa.ResourceManager(f"{path}@qpcsim").open_resource(K2450, read_termination="\n", write_termination="\n")
    k.write(":SOUR:FUNC VOLT;:SENS:FUNC 'CURR';:SENS:CURR:NPLC 2;:OUTP ON")
    line = float(k.query(":SYST:LFR?"))
    clock.advance(1.0)
    t0 = clock()
    k.write(":SOUR:SWE:VOLT:LIN -0.2, 0.2, 5, 0.05, 1, BEST, ON, OFF, 'defbuffer1';:INIT;*WAI")
    levels = [-0.2, -0.1, 0.0, 0.1, 0.2]
    step = 0.05 + 2 / line
    assert int(k.query(":TRAC:ACT? 'defbuffer1'")) == len(levels)
    sourced = [float(x) for x in k.query(":TRAC:DATA? 1, 5, 'defbuffer1', SOUR").split(",")]
    stamps = [float(x) for x in k.query(":TRAC:DATA? 1, 5, 'defbuffer1', REL").split(",")]
    assert sourced == pytest.approx(levels)
    assert [b - a for a, b in zip(stamps, stamps[1:])] == pytest.approx([step] * 4, abs=2e-6)  # 7 digits printed
    currents = [float(x) for x in k.query(":TRAC:DATA? 1, 5, 'defbuffer1'").split(",")]
    assert currents == pytest.approx([v / 1e6 for v in levels], abs=1e-11)  # the 1 MOhm load, Ohm's law
    steps = [(t, v) for t, v in lib.lab.history["bias"] if t >= t0]
    assert steps[:5] == [pytest.approx((t0 + i * step, v)) for i, v in enumerate(levels)]
    assert steps[-1] == pytest.approx((t0 + 5 * step, 0.0))  # back to the bias level after the sweep


def test_keithley2450_external_trigger_model_measures_on_each_input_pulse_and_notifies_its_output(sources):
    """A 2400 list on its arm timer pulses Trigger Link line 1, cabled to the 2450's digital input 1; the 2450's
    external-trigger model waits for each pulse, waits its delay, measures, and its notify block pulses digital
    output 2 (2450 manual, :TRIGger:LOAD:TRIGger:EXTernal, :TRIGger:BLOCk:NOTify, :TRIGger:DIGital:OUT:STIMulus)."""
    path, lib, clock = sources
    lab = lib.lab
    rx = FakeReceiver()
    lab.trigger_wiring = TriggerWiring([{"from": "k2400.tlink_out_1", "to": "k2450.dio_in_1"},
                                        {"from": "k2450.dio_out_2", "to": "rx.trig_in"}],
                                       {**lab.twins_by_name, "rx": rx})
    rm = pyvisa.ResourceManager(f"{path}@qpcsim")
    k24 = rm.open_resource(K2400, read_termination="\n", write_termination="\n")
    k45 = rm.open_resource(K2450, read_termination="\n", write_termination="\n")
    k45.write(":SOUR:FUNC VOLT;:SOUR:VOLT 0.3;:SENS:FUNC 'CURR';:SENS:CURR:NPLC 1;:OUTP ON")
    k45.write(":TRIG:LOAD:TRIG:EXT 1, 2, 3, 0.01")
    k45.write(":INIT")
    period, delay, measure = 0.2, 0.01, 1 / float(k45.query(":SYST:LFR?"))
    k24.write(":OUTP ON;:SOUR:LIST:VOLT 0.1,0.2,0.3;:SOUR:VOLT:MODE LIST;:TRIG:OUTP SOUR;:TRIG:OLIN 1")
    k24.write(f":ARM:SOUR TIM;:ARM:TIM {period};:ARM:COUN 3")
    clock.advance(1.0)
    t0 = clock()
    k24.write(":INIT")
    clock.advance(1.0)
    k24.query("*STB?")
    k45.query("*OPC?")
    assert [t for _, t in rx.pulses] == pytest.approx([t0 + i * period + delay + measure for i in range(3)])
    assert int(k45.query(":TRAC:ACT? 'defbuffer1'")) == 3
    currents = [float(x) for x in k45.query(":TRAC:DATA? 1, 3, 'defbuffer1'").split(",")]
    assert currents == pytest.approx([0.3 / 1e6] * 3, abs=1e-11)
    stamps = [float(x) for x in k45.query(":TRAC:DATA? 1, 3, 'defbuffer1', REL").split(",")]
    assert [b - a for a, b in zip(stamps, stamps[1:])] == pytest.approx([period] * 2, abs=2e-6)


# ---- QDAC-II lists, markers, trigger outputs; cables in the lab file ----------------------------------------------

def test_qdac2_list_on_its_dwell_fires_a_trigger_output_at_each_step(sources):
    path, lib, clock = sources
    rx = _cable(lib.lab, "qdac.trig_out_2")
    qdac = pyvisa.ResourceManager(f"{path}@qpcsim").open_resource(QDAC, read_termination="\n",
                                                                  write_termination="\n")
    levels, dwell, delay = [0.3, -0.1, 0.6], 0.2, 0.05
    for cmd in ["sour1:volt:mode list", "sour1:list:volt " + ",".join(map(str, levels)), f"sour1:list:dwel {dwell}",
                "sour1:list:tmod auto", "sour1:list:coun 1", f"sour1:dc:del {delay}", "sour1:dc:mark:sst 4",
                "outp:trig2:sour int4", "sour1:dc:trig:sour bus", "sour1:dc:init"]:
        qdac.write(cmd)
    clock.advance(1.0)
    qdac.query("*STB?")
    assert rx.pulses == []  # armed, waiting for the bus trigger
    t0 = clock()
    qdac.write("*TRG")
    clock.advance(1.0)
    assert int(qdac.query("sour1:list:ncl?")) == 0
    expected = [t0 + delay + i * dwell for i in range(len(levels))]
    assert [t for _, t in rx.pulses] == pytest.approx(expected, abs=1e-12)
    steps = [(t, v) for t, v in lib.lab.history["g_q"] if t >= t0]
    assert steps == [pytest.approx((t, v)) for t, v in zip(expected, levels)]


def test_lab_file_wiring_lets_a_qdac_list_step_a_keithley_list(tmp_path):
    """qdac.trig_out_1 -> k2400.tlink_in_1 in the lab file: each QDAC-II step (its step-start marker on internal
    trigger 1, routed to output 1) triggers one 2400 source-measure cycle, so the 2400 list follows the QDAC's dwell."""
    path = tmp_path / "wired_lab.yaml"
    path.write_text(_lab_yaml("wiring:\n  - {from: qdac.trig_out_1, to: k2400.tlink_in_1}\n"), encoding="utf-8")
    lib = SimVisaLibrary(str(path))
    clock = ManualClock()
    lib.lab.clock = clock
    lib.reset()
    rm = pyvisa.ResourceManager(f"{path}@qpcsim")
    k = rm.open_resource(K2400, read_termination="\n", write_termination="\n")
    q = rm.open_resource(QDAC, read_termination="\n", write_termination="\n")
    k_levels, q_levels, dwell = [0.11, 0.22, 0.33], [-0.4, -0.5, -0.6], 0.1
    k.write(":OUTP ON;:SOUR:LIST:VOLT " + ",".join(map(str, k_levels)) + ";:SOUR:VOLT:MODE LIST")
    k.write(":TRIG:SOUR TLIN;:TRIG:ILIN 1;:TRIG:COUN 3;:TRIG:DEL 0.002;:INIT")
    clock.advance(1.0)
    for cmd in ["sour1:volt:mode list", "sour1:list:volt " + ",".join(map(str, q_levels)), f"sour1:list:dwel {dwell}",
                "sour1:dc:mark:sst 1", "outp:trig1:sour int1", "sour1:dc:trig:sour imm"]:
        q.write(cmd)
    clock.advance(1.0)
    t0 = clock()
    q.write("sour1:dc:init")
    clock.advance(1.0)
    q.query("*STB?")
    k.query("*STB?")
    lab = lib.lab
    q_steps = [(t, v) for t, v in lab.history["g_q"] if t >= t0]
    k_steps = [(t, v) for t, v in lab.history["g_k"] if t >= t0]
    expected_q = [t0 + i * dwell for i in range(3)]
    assert q_steps == [pytest.approx((t, v)) for t, v in zip(expected_q, q_levels)]
    assert k_steps[:3] == [pytest.approx((t + 0.002, v)) for t, v in zip(expected_q, k_levels)]  # + trigger delay
    lab.assert_no_unknown_commands()


@pytest.mark.parametrize("wiring, message", [
    ("wiring:\n  - {from: qdac.trig_out_9, to: k2400.tlink_in_1}\n", "qdac has no trigger output 'trig_out_9'"),
    ("wiring:\n  - {from: qdac.trig_out_1, to: k2400.tlink_in_7}\n", "k2400 has no trigger input 'tlink_in_7'"),
    ("wiring:\n  - {from: lockin.trig_out, to: k2400.tlink_in_1}\n", "no instrument 'lockin'"),
    ("wiring:\n  - {from: k2450.tlink_out_1, to: k2400.tlink_in_1}\n", "k2450 has no trigger output"),
    ("wiring:\n  - {from: qdac, to: k2400.tlink_in_1}\n", "is not <instrument>.<port>"),
    ("wiring: {from: qdac.trig_out_1}\n", "must be a list"),
])
def test_a_miswired_lab_file_fails_with_a_one_line_error(tmp_path, wiring, message):
    from qpclab.instruments.sim.lab import SimulatedLab

    path = tmp_path / "bad_lab.yaml"
    path.write_text(_lab_yaml(wiring), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        SimulatedLab(path)
    assert "\n" not in str(err.value)


# ---- the IEEE 488.2 status model, one for all twins ------------------------------------------------------------

@pytest.mark.parametrize("address", [K2400, K2450, GS200, QDAC])
def test_ieee488_status_model_is_the_same_on_every_source(sources, address):
    path, lib, clock = sources
    inst = pyvisa.ResourceManager(f"{path}@qpcsim").open_resource(address, read_termination="\n",
                                                                 write_termination="\n")
    assert inst.query("*TST?") == "0"
    assert int(inst.query("*STB?")) == 0
    inst.write(":NOT:A:COMMAND 1")           # command error: *ESR bit 5, error queue not empty: *STB bit 2
    lib.lab.unknown_commands.clear()         # on purpose here
    assert int(inst.query("*STB?")) == 4     # bit 5 stays off while *ESE does not enable bit 5
    inst.write("*ESE 32;*SRE 32")
    assert int(inst.query("*STB?")) == 4 | 32 | 64  # event summary, and master summary through *SRE
    assert inst.read_stb() == 4 | 32 | 64           # serial poll: the same byte
    inst.write("*RST")                                # settings back, enables kept (IEEE 488.2)
    assert (int(inst.query("*ESE?")), int(inst.query("*SRE?"))) == (32, 32)
    assert int(inst.query("*ESR?")) == 32 and int(inst.query("*ESR?")) == 0  # read and cleared
    inst.write("*CLS")
    assert int(inst.query("*STB?")) == 0
    inst.write("*OPC")
    assert int(inst.query("*ESR?")) == 1      # operation complete
    assert inst.query("*OPC?") == "1"
