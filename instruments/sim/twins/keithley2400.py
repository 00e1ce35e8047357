"""Simulated Keithley 2400 SourceMeter (SCPI, 2400 Series User's Manual, sections 17-18).

Sources a voltage (or current) onto the sample output it is wired to (a gate, or the bias line through its
divider) and measures the current its load draws. With the output off the sample sees 0 V (NORMal output-off
state), so switching a biased gate off is a jump, exactly as at the fridge: the lab records it.

Trigger model (manual section 10): ``:INIT`` (or ``:READ?``) runs the arm layer (IMMediate, TIMer, TLINk, BUS) and
the trigger layer (IMMediate, TLINk) in lab time, one source-delay-measure cycle per trigger: trigger delay, the
next point of a LIST or SWEep (or the FIXed level), source delay, then NPLC / line frequency of measurement. Each
step goes into the lab's output history at its own time; Trigger Link output lines fire after the source, delay or
measurement as ``:TRIG:OUTP`` says (``tlink_out_n`` in a lab file's ``simulation: wiring:``), and pulses on the
input lines (``tlink_in_n``) step a layer waiting for them. ``:READ?``/``:FETCh?``/``*OPC?`` hold the reply until
the run ends, as the instrument does; a run waiting for a pulse that never comes times the client out. Readings go
to the buffer (``:TRAC``), which reports full in the measurement event register (bit 9) and so in ``*STB?`` bit 0;
``:CALC3`` statistics are computed over the buffer.
"""

from __future__ import annotations

import math

from ..scpi import Command
from ..sequencer import Sequencer
from ..twin import CommandError, ScpiStatusTwin, fmt_sci, parse_bool, parse_choice, parse_float

_VOLT_RANGES = (0.2, 2.0, 20.0, 200.0)
_CURR_RANGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_ELEMENTS = {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES", "TIME": "TIME", "STATus": "STAT"}
_FUNCS = {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES"}
_BUFFER_FULL = 1 << 9   # measurement event register, bit 9: buffer full (BFL)
_SWEEPING = 1 << 3      # operation condition register, bit 3: sweeping
_BYTES_PER_READING = 48  # for :TRACe:FREE? (bytes free, bytes in use)


def _range_for(value: float, ranges: tuple[float, ...]) -> float:
    for r in ranges:
        if abs(value) <= r * 1.05:
            return r
    return ranges[-1]


class Keithley2400Twin(ScpiStatusTwin):
    grammar = "scpi"
    #: Whether the output is limited by the compliance (as on the instrument). Off for the 2400 for now: the lab
    #: files' bias SMUs (10 kOhm divider input, power-on compliance 105 uA) would clamp biases above 1.05 V, and
    #: they do not set ``compliance_A`` yet. The compliance *reading* (clamped current, tripped bit) is always on.
    clamp_in_compliance = True
    idn = "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4145290,C32   Oct  4 2010 14:20:11/A02  /S/K"

    def __init__(self, lab, name, config=None):
        #: the arm and trigger layers' settings (filled by reset; the command table holds on to these dicts)
        self.arm: dict = {}
        self.trig: dict = {}
        self.run: Sequencer | None = None  #: the trigger model's run (made by reset)
        super().__init__(lab, name, config)

    def reset(self) -> None:
        super().reset()
        self.function = "VOLT"
        self.level = {"VOLT": 0.0, "CURR": 0.0}
        self.source_range = {"VOLT": 20.0, "CURR": 1e-4}
        self.source_auto = {"VOLT": True, "CURR": True}
        self.compliance = {"CURR": 1.05e-4, "VOLT": 21.0}  # current protection when sourcing V, and v.v.
        self.sense_range = {"VOLT": 21.0, "CURR": 1.05e-4, "RES": 2.1e5}
        self.sense_auto = {"VOLT": True, "CURR": True, "RES": True}
        self.nplc = 1.0
        self.output = False
        self.output_off_mode = "NORM"
        self.elements = ["VOLT", "CURR", "RES", "TIME", "STAT"]
        self.sense_functions = ["CURR"]
        self.concurrent = True
        self.res_mode = "MAN"
        self.misc: dict[str, str] = {}
        self.source_delay = 0.0
        self.source_delay_auto = True
        self.t0 = self.lab.now()
        # trigger model: arm and trigger layers (2400 manual, *RST defaults)
        self.arm.clear()
        self.trig.clear()
        self.arm.update({"count": 1, "source": "IMM", "iline": 1, "oline": 2, "output": ["NONE"], "direction": "ACC",
                         "timer": 0.1})
        self.trig.update({"count": 1, "source": "IMM", "iline": 1, "oline": 2, "output": ["NONE"], "direction": "ACC",
                          "delay": 0.0})
        self.mode = {"VOLT": "FIX", "CURR": "FIX"}
        self.source_list: dict[str, list[float]] = {"VOLT": [], "CURR": []}
        self.sweep = {f: {"start": 0.0, "stop": 0.0, "step": 0.0, "center": 0.0, "span": 0.0} for f in ("VOLT", "CURR")}
        self.sweep_points = 2500
        self.sweep_spacing = "LIN"
        self.sweep_direction = "UP"
        self.sweep_ranging = "BEST"
        self.soak = 0.0
        self.clear_auto = False
        self.level_now: float | None = None  # the list or sweep level while the trigger model steps
        self.readings: list[dict[str, float]] = []  # of the last :INIT
        if self.run is not None:
            self.run.abort()
        self.run = Sequencer()
        # reading buffer, statistics and status
        self.buffer: list[dict[str, float]] = []
        self.buffer_points = 100
        self.feed = "SENS"
        self.feed_control = "NEV"
        self.tstamp_format = "ABS"
        self.calc3_format = "MEAN"
        self.meas_event = self.meas_enable = self.oper_enable = self.ques_enable = 0
        self.line_frequency = 60
        self.line_frequency_auto = True
        self.terminals = "FRON"
        self.lab.add_ticker(self._tick)
        self._push()

    # ---- the output -----------------------------------------------------------------------------------
    def applied(self) -> float:
        """Voltage the sample sees from this source (V).

        In compliance the SourceMeter cannot hold the programmed level: sourcing voltage into a load that would draw
        more than the current compliance, it becomes a current source at the compliance (the output voltage is
        I_comp * R_load); sourcing current, the voltage is clamped at the voltage compliance (2400 manual,
        "Compliance limit").
        """
        if not self.output:
            return 0.0
        load = self._load()
        level = self.source_level()
        if self.function == "VOLT":
            v = level
            i_comp = self._current_limit()
            if self.clamp_in_compliance and abs(v) > i_comp * load:
                return math.copysign(i_comp * load, v)
            return v
        v = level * load
        v_comp = self._voltage_limit()
        return math.copysign(v_comp, v) if self.clamp_in_compliance and abs(v) > v_comp else v

    def source_level(self) -> float:
        """The level the source programs now: the FIXed level, or the list or sweep point the trigger model is at."""
        return self.level[self.function] if self.level_now is None else self.level_now

    def _current_limit(self) -> float:
        return abs(self.compliance["CURR"])

    def _voltage_limit(self) -> float:
        return abs(self.compliance["VOLT"])

    def _load(self) -> float:
        return self.lab.loads_ohm.get(self.name, 1e12)

    def _push(self, t: float | None = None) -> None:
        """Put the output on the sample (at lab time ``t``: a trigger-model step; now if None)."""
        target = self.lab.output_name(self.name, None)
        if target is not None:
            if t is None:
                self.lab.set_output(target, self.applied())
            else:
                self.lab.set_output(target, self.applied(), t=t)

    def measured_current(self) -> float:
        if not self.output:
            return 0.0
        if self.function == "CURR":
            return self.source_level()
        i = self.lab.source_current_A(self.name, None, self.source_level())
        comp = self._current_limit()
        return max(-comp, min(comp, i))

    def in_compliance(self) -> bool:
        if not self.output or self.function != "VOLT":
            return False
        i = self.lab.source_current_A(self.name, None, self.source_level())
        return abs(i) >= self._current_limit()

    # ---- commands -------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        return self.common_commands() + [
            C("[:SOURce[1]]:FUNCtion[:MODE]", query=lambda a: self.function,
              write=lambda a: self._set_function(a)),
            C("[:SOURce[1]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", query=lambda a: fmt_sci(self.level["VOLT"]),
              write=lambda a: self._set_level("VOLT", a)),
            C("[:SOURce[1]]:CURRent[:LEVel][:IMMediate][:AMPLitude]", query=lambda a: fmt_sci(self.level["CURR"]),
              write=lambda a: self._set_level("CURR", a)),
            C("[:SOURce[1]]:VOLTage:RANGe", query=lambda a: fmt_sci(self.source_range["VOLT"]),
              write=lambda a: self._set_source_range("VOLT", a)),
            C("[:SOURce[1]]:CURRent:RANGe", query=lambda a: fmt_sci(self.source_range["CURR"]),
              write=lambda a: self._set_source_range("CURR", a)),
            C("[:SOURce[1]]:VOLTage:RANGe:AUTO", query=lambda a: str(int(self.source_auto["VOLT"])),
              write=lambda a: self.source_auto.__setitem__("VOLT", parse_bool(self.need(a)[0]))),
            C("[:SOURce[1]]:CURRent:RANGe:AUTO", query=lambda a: str(int(self.source_auto["CURR"])),
              write=lambda a: self.source_auto.__setitem__("CURR", parse_bool(self.need(a)[0]))),
            C("[:SOURce[1]]:DELay", query=lambda a: fmt_sci(self.source_delay),
              write=lambda a: setattr(self, "source_delay", parse_float(self.need(a)[0], 0, 999.9999))),
            C("[:SOURce[1]]:DELay:AUTO", query=lambda a: str(int(self.source_delay_auto)),
              write=lambda a: setattr(self, "source_delay_auto", parse_bool(self.need(a)[0]))),
            C("[:SOURce[1]]:CLEar[:IMMediate]", write=lambda a: self._set_output(False)),
            C("[:SENSe[1]]:CURRent[:DC]:PROTection[:LEVel]", query=lambda a: fmt_sci(self.compliance["CURR"]),
              write=lambda a: self._set_compliance("CURR", a)),
            C("[:SENSe[1]]:VOLTage[:DC]:PROTection[:LEVel]", query=lambda a: fmt_sci(self.compliance["VOLT"]),
              write=lambda a: self._set_compliance("VOLT", a)),
            C("[:SENSe[1]]:CURRent[:DC]:PROTection:TRIPped", query=lambda a: str(int(self.in_compliance()))),
            C("[:SENSe[1]]:CURRent[:DC]:RANGe[:UPPer]", query=lambda a: fmt_sci(self.sense_range["CURR"]),
              write=lambda a: self._set_sense_range("CURR", a, 1.05)),
            C("[:SENSe[1]]:VOLTage[:DC]:RANGe[:UPPer]", query=lambda a: fmt_sci(self.sense_range["VOLT"]),
              write=lambda a: self._set_sense_range("VOLT", a, 210.0)),
            C("[:SENSe[1]]:RESistance:RANGe[:UPPer]", query=lambda a: fmt_sci(self.sense_range["RES"]),
              write=lambda a: self._set_sense_range("RES", a, 2.1e8)),
            C("[:SENSe[1]]:CURRent[:DC]:RANGe:AUTO", query=lambda a: str(int(self.sense_auto["CURR"])),
              write=lambda a: self.sense_auto.__setitem__("CURR", parse_bool(self.need(a)[0]))),
            C("[:SENSe[1]]:VOLTage[:DC]:RANGe:AUTO", query=lambda a: str(int(self.sense_auto["VOLT"])),
              write=lambda a: self.sense_auto.__setitem__("VOLT", parse_bool(self.need(a)[0]))),
            C("[:SENSe[1]]:RESistance:RANGe:AUTO", query=lambda a: str(int(self.sense_auto["RES"])),
              write=lambda a: self.sense_auto.__setitem__("RES", parse_bool(self.need(a)[0]))),
            C("[:SENSe[1]]:CURRent[:DC]:NPLCycles", query=lambda a: fmt_sci(self.nplc), write=self._set_nplc),
            C("[:SENSe[1]]:VOLTage[:DC]:NPLCycles", query=lambda a: fmt_sci(self.nplc), write=self._set_nplc),
            C("[:SENSe[1]]:RESistance:NPLCycles", query=lambda a: fmt_sci(self.nplc), write=self._set_nplc),
            C("[:SENSe[1]]:RESistance:MODE", query=lambda a: self.res_mode,
              write=self._setter("res_mode", {"MANual": "MAN", "AUTO": "AUTO"})),
            C("[:SENSe[1]]:FUNCtion:CONCurrent", query=lambda a: str(int(self.concurrent)),
              write=lambda a: setattr(self, "concurrent", parse_bool(self.need(a)[0]))),
            C("[:SENSe[1]]:FUNCtion:ALL", write=lambda a: setattr(self, "sense_functions", ["VOLT", "CURR", "RES"])),
            C("[:SENSe[1]]:FUNCtion:OFF:ALL", write=lambda a: setattr(self, "sense_functions", [])),
            C("[:SENSe[1]]:FUNCtion[:ON]", query=lambda a: ",".join(f'"{f}:DC"' if f != "RES" else '"RES"'
                                                                   for f in self.sense_functions),
              write=self._set_sense_functions),
            C("[:SENSe[1]]:AVERage[:STATe]", query=lambda a: self.misc.get("AVER", "0"),
              write=lambda a: self._misc("AVER", [str(int(parse_bool(self.need(a)[0])))])),
            C("[:SENSe[1]]:AVERage:TCONtrol", query=lambda a: self.misc.get("TCON", "REP"),
              write=lambda a: self._misc("TCON", [parse_choice(self.need(a)[0], {"REPeat": "REP", "MOVing": "MOV"})])),
            C("[:SENSe[1]]:AVERage:COUNt", query=lambda a: self.misc.get("AVERCOUNT", "10"),
              write=lambda a: self._misc("AVERCOUNT", [str(int(parse_float(self.need(a)[0], 1, 100)))])),
            C(":OUTPut[1][:STATe]", query=lambda a: str(int(self.output)),
              write=lambda a: self._set_output(parse_bool(self.need(a)[0]))),
            C(":OUTPut[1]:SMODe", query=lambda a: self.output_off_mode,
              write=lambda a: setattr(self, "output_off_mode", parse_choice(
                  self.need(a)[0], {"HIMPedance": "HIMP", "NORMal": "NORM", "ZERO": "ZERO", "GUARd": "GUAR"}))),
            C(":FORMat:ELEMents[:SENSe[1]]", query=lambda a: ",".join(self.elements), write=self._set_elements),
            C(":FORMat[:DATA]", query=lambda a: "ASC",
              write=lambda a: self._ascii_only(a)),
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:ERRor:ALL", query=lambda a: self._all_errors()),
            C(":SYSTem:ERRor:CLEar", write=lambda a: self.errors.clear()),
            C(":SYSTem:PRESet", write=lambda a: self.reset()),
            C(":SYSTem:AZERo[:STATe]", query=lambda a: self.misc.get("AZER", "1"),
              write=lambda a: self._misc("AZER", [self.need(a)[0].upper()])),
            C(":SYSTem:BEEPer:STATe", query=lambda a: self.misc.get("BEEP", "1"),
              write=lambda a: self._misc("BEEP", [str(int(parse_bool(self.need(a)[0])))])),
            C(":SYSTem:BEEPer[:IMMediate]", write=lambda a: None),
            C(":SYSTem:RSENse", query=lambda a: self.misc.get("RSEN", "0"),
              write=lambda a: self._misc("RSEN", [str(int(parse_bool(self.need(a)[0])))])),
            C(":SYSTem:LOCal", write=lambda a: None),
            C(":SYSTem:REMote", write=lambda a: None),
            C(":SYSTem:VERSion", query=lambda a: "1999.0"),
            C(":DISPlay:ENABle", query=lambda a: self.misc.get("DISP", "1"),
              write=lambda a: self._misc("DISP", [str(int(parse_bool(self.need(a)[0])))])),
        ] + self.trigger_commands() + self.buffer_commands()

    # ---- trigger model (2400 manual section 10, "Triggering"; section 9, "Sweep operation") -----------------
    def trigger_commands(self) -> list[Command]:
        C = Command
        arm, trig = self.arm, self.trig
        layer_sources = {"ARM": {"IMMediate": "IMM", "TLINk": "TLIN", "TIMer": "TIM", "MANual": "MAN", "BUS": "BUS",
                                 "NSTest": "NST", "PSTest": "PST", "BSTest": "BST"},
                         "TRIGger": {"IMMediate": "IMM", "TLINk": "TLIN"}}
        out_events = {"ARM": {"TENTer": "TENT", "TEXit": "TEX", "NONE": "NONE"},
                      "TRIGger": {"SOURce": "SOUR", "DELay": "DEL", "SENSe": "SENS", "NONE": "NONE"}}
        cmds = []
        for layer, st in (("ARM", arm), ("TRIGger", trig)):
            cmds += [
                C(f":{layer}[:SEQuence[1]]:COUNt", query=lambda a, st=st: str(st["count"]),
                  write=lambda a, st=st: self._set_count(st, a)),
                C(f":{layer}[:SEQuence[1]][:LAYer[1]]:SOURce", query=lambda a, st=st: st["source"],
                  write=lambda a, st=st, ch=layer_sources[layer]: st.__setitem__(
                      "source", parse_choice(self.need(a)[0], ch))),
                C(f":{layer}[:SEQuence[1]][:LAYer[1]][:TCONfigure]:ILINe", query=lambda a, st=st: str(st["iline"]),
                  write=lambda a, st=st: st.__setitem__("iline", self._line(a))),
                C(f":{layer}[:SEQuence[1]][:LAYer[1]][:TCONfigure]:OLINe", query=lambda a, st=st: str(st["oline"]),
                  write=lambda a, st=st: st.__setitem__("oline", self._line(a))),
                C(f":{layer}[:SEQuence[1]][:LAYer[1]][:TCONfigure]:OUTPut",
                  query=lambda a, st=st: ",".join(st["output"]),
                  write=lambda a, st=st, ch=out_events[layer]: self._set_output_events(st, a, ch)),
                C(f":{layer}[:SEQuence[1]][:LAYer[1]][:TCONfigure]:DIRection",
                  query=lambda a, st=st: st["direction"],
                  write=lambda a, st=st: st.__setitem__("direction", parse_choice(
                      self.need(a)[0], {"SOURce": "SOUR", "ACCeptor": "ACC"}))),
            ]
        return cmds + [
            C(":ARM[:SEQuence[1]][:LAYer[1]]:TIMer", query=lambda a: fmt_sci(arm["timer"]),
              write=lambda a: arm.__setitem__("timer", parse_float(self.need(a)[0], 0.001, 99999.99))),
            C(":TRIGger[:SEQuence[1]]:DELay", query=lambda a: fmt_sci(trig["delay"]),
              write=lambda a: trig.__setitem__("delay", parse_float(self.need(a)[0], 0, 999.9999))),
            C(":TRIGger:CLEar", write=lambda a: None),  # clears latched Trigger Link inputs: none are latched here
            C(":INITiate[:IMMediate]", write=lambda a: self._initiate()),
            C(":ABORt", write=lambda a: self._abort()),
            C(":READ", query=lambda a: self._read()),
            C(":FETCh", query=lambda a: self._fetch()),
            C(":MEASure[:VOLTage][:DC]", query=lambda a: self._read()),
            C(":MEASure:CURRent[:DC]", query=lambda a: self._read()),
            C(":MEASure:RESistance", query=lambda a: self._read()),
            C("[:SOURce[1]]:CLEar:AUTO", query=lambda a: str(int(self.clear_auto)),
              write=lambda a: setattr(self, "clear_auto", parse_bool(self.need(a)[0]))),
            C("[:SOURce[1]]:VOLTage:MODE", query=lambda a: self.mode["VOLT"],
              write=lambda a: self._set_mode("VOLT", a)),
            C("[:SOURce[1]]:CURRent:MODE", query=lambda a: self.mode["CURR"],
              write=lambda a: self._set_mode("CURR", a)),
            C("[:SOURce[1]]:LIST:VOLTage", query=lambda a: ",".join(fmt_sci(v) for v in self.source_list["VOLT"]),
              write=lambda a: self._set_list("VOLT", a)),
            C("[:SOURce[1]]:LIST:CURRent", query=lambda a: ",".join(fmt_sci(v) for v in self.source_list["CURR"]),
              write=lambda a: self._set_list("CURR", a)),
            C("[:SOURce[1]]:LIST:VOLTage:APPend", write=lambda a: self._set_list("VOLT", a, append=True)),
            C("[:SOURce[1]]:LIST:CURRent:APPend", write=lambda a: self._set_list("CURR", a, append=True)),
            C("[:SOURce[1]]:LIST:VOLTage:POINts", query=lambda a: str(len(self.source_list["VOLT"]))),
            C("[:SOURce[1]]:LIST:CURRent:POINts", query=lambda a: str(len(self.source_list["CURR"]))),
            *[C(f"[:SOURce[1]]:{f}:{key}", query=lambda a, f=f[:4].upper(), k=k: fmt_sci(self.sweep[f][k]),
                write=lambda a, f=f[:4].upper(), k=k: self._set_sweep(f, k, a))
              for f in ("VOLTage", "CURRent") for key, k in (("STARt", "start"), ("STOP", "stop"), ("STEP", "step"),
                                                             ("CENTer", "center"), ("SPAN", "span"))],
            C("[:SOURce[1]]:SWEep:POINts", query=lambda a: str(self.sweep_points),
              write=lambda a: self._set_sweep_points(a)),
            C("[:SOURce[1]]:SWEep:SPACing", query=lambda a: self.sweep_spacing,
              write=self._setter("sweep_spacing", {"LINear": "LIN", "LOGarithmic": "LOG"})),
            C("[:SOURce[1]]:SWEep:DIRection", query=lambda a: self.sweep_direction,
              write=self._setter("sweep_direction", {"UP": "UP", "DOWn": "DOWN"})),
            C("[:SOURce[1]]:SWEep:RANGing", query=lambda a: self.sweep_ranging,
              write=self._setter("sweep_ranging", {"BEST": "BEST", "AUTO": "AUTO", "FIXed": "FIX"})),
            C("[:SOURce[1]]:SOAK", query=lambda a: fmt_sci(self.soak),
              write=lambda a: setattr(self, "soak", parse_float(self.need(a)[0], 0, 9999.999))),
        ]

    def trigger_output_names(self) -> list[str]:
        """Trigger Link output lines 1-4 (rear DIN connector)."""
        return [f"tlink_out_{n}" for n in range(1, 5)]

    def trigger_input_names(self) -> list[str]:
        return [f"tlink_in_{n}" for n in range(1, 5)]

    def on_trigger(self, input_name: str, t: float) -> None:
        """A pulse on a Trigger Link input line: the arm or trigger layer waiting for that line goes on."""
        self.run.signal(input_name, t)

    def bus_trigger(self) -> None:
        self.run.signal("bus", self.lab.now())

    def complete(self) -> None:
        self.run.finish()

    def handle(self, message: str) -> list[str]:
        if self.run.running:
            self.run.advance(self.lab.now())
        return super().handle(message)

    def _tick(self, t: float) -> None:
        if self.run.running:
            self.run.advance(t)

    def _set_count(self, layer: dict, args) -> None:
        text = self.need(args)[0].strip().upper()
        count = 2500 if text in ("MAX", "MAXIMUM", "INF") else 1 if text in ("MIN", "MINIMUM", "DEF") else \
            int(parse_float(text, 1, 2500))
        other = self.trig if layer is self.arm else self.arm
        if count * other["count"] > 2500:
            raise CommandError(-221, "Settings conflict")  # arm count x trigger count may not exceed 2500
        layer["count"] = count

    def _line(self, args) -> int:
        return int(parse_float(self.need(args)[0], 1, 4))

    def _set_output_events(self, layer: dict, args, choices: dict) -> None:
        events = [parse_choice(a, choices) for a in self.need(args)]
        layer["output"] = ["NONE"] if "NONE" in events else list(dict.fromkeys(events))

    def _setter(self, attr: str, choices: dict[str, str]):
        """A write handler storing one of the manual's enumerated values in ``attr``."""
        return lambda a: setattr(self, attr, parse_choice(self.need(a)[0], choices))

    def _set_mode(self, func: str, args) -> None:
        self.mode[func] = parse_choice(self.need(args)[0], {"FIXed": "FIX", "SWEep": "SWE", "LIST": "LIST"})

    def _set_list(self, func: str, args, append: bool = False) -> None:
        high = 210.0 if func == "VOLT" else 1.05
        values = [parse_float(v, -high, high) for v in self.need(args)]
        values = (self.source_list[func] if append else []) + values
        if len(values) > 100:
            raise CommandError(-223, "Too much data")  # the source memory list holds 100 points
        self.source_list[func] = values

    def _set_sweep(self, func: str, key: str, args) -> None:
        sw = self.sweep[func]
        high = 210.0 if func == "VOLT" else 1.05
        sw[key] = parse_float(self.need(args)[0], -2 * high, 2 * high)
        if key in ("start", "stop"):
            sw["center"], sw["span"] = (sw["start"] + sw["stop"]) / 2, sw["stop"] - sw["start"]
        elif key in ("center", "span"):
            sw["start"], sw["stop"] = sw["center"] - sw["span"] / 2, sw["center"] + sw["span"] / 2
        if key == "step":  # the step sets the number of points (2400 manual, "Sweep operation")
            if sw["step"] != 0:
                self.sweep_points = max(1, min(2500, int(round(abs(sw["span"] / sw["step"]))) + 1))
        else:
            sw["step"] = sw["span"] / (self.sweep_points - 1) if self.sweep_points > 1 else 0.0

    def _set_sweep_points(self, args) -> None:
        self.sweep_points = int(parse_float(self.need(args)[0], 1, 2500))
        for sw in self.sweep.values():
            sw["step"] = sw["span"] / (self.sweep_points - 1) if self.sweep_points > 1 else 0.0

    def source_values(self) -> list[float] | None:
        """The levels the source steps through in LIST or SWEep mode (None in FIXed mode)."""
        mode = self.mode[self.function]
        if mode == "LIST":
            return list(self.source_list[self.function]) or None
        if mode != "SWE":
            return None
        sw, n = self.sweep[self.function], self.sweep_points
        if n == 1:
            values = [sw["start"]]
        elif self.sweep_spacing == "LOG" and sw["start"] * sw["stop"] > 0:
            ratio = (sw["stop"] / sw["start"]) ** (1.0 / (n - 1))
            values = [sw["start"] * ratio ** k for k in range(n)]
        else:
            values = [sw["start"] + (sw["stop"] - sw["start"]) * k / (n - 1) for k in range(n)]
        return values[::-1] if self.sweep_direction == "DOWN" else values

    def cycle_times(self) -> tuple[float, float]:
        """(source delay, measurement time) of one source-delay-measure cycle (s).

        The measurement takes NPLC power-line cycles per measured function; the auto source delay is taken as
        1 ms (the 2400 manual tabulates 1-3 ms depending on range and function)."""
        delay = 1e-3 if self.source_delay_auto else self.source_delay
        return delay, self.nplc / self.line_frequency

    def _initiate(self) -> None:
        if self.run.running:
            raise CommandError(-213, "Init ignored")  # the model is already running
        self.readings = []
        self.run.start(self._model(self.lab.now()), self.lab.now())

    def _abort(self) -> None:
        if self.run.running:
            self.run.abort()
            self._end_of_run(self.lab.now())

    def _read(self) -> str | None:
        if self.run.running:
            raise CommandError(-213, "Init ignored")
        self._initiate()
        return self._fetch()

    def _fetch(self) -> str | None:
        if not self.run.finish():
            return None  # waiting for a trigger that has not come: the reply is held, the client times out
        if not self.readings:
            raise CommandError(-230, "Data corrupt or stale")  # nothing measured since the last :INIT
        return ",".join(self.format_reading(r) for r in self.readings)

    def _fire(self, line: int, t: float) -> None:
        self.lab.trigger_wiring.fire(self.name, f"tlink_out_{line}", t)

    def _model(self, t: float):
        """The arm and trigger layers (2400 manual, figure 10-1), one source-delay-measure cycle per trigger."""
        arm, trig = self.arm, self.trig
        values = self.source_values()
        source_delay, measure_time = self.cycle_times()
        k = 0
        last_arm = None
        for a in range(arm["count"]):
            if a == 0 and arm["direction"] == "SOUR":
                pass  # :ARM:DIR SOURce: the first pass bypasses the arm event detector
            elif arm["source"] == "TIM":
                t = t if last_arm is None else max(t, last_arm + arm["timer"])
                t = yield t
            elif arm["source"] != "IMM":  # TLINk, BUS (*TRG), or MANual / start-of-test lines: never here
                t = yield {"TLIN": f"tlink_in_{arm['iline']}", "BUS": "bus"}.get(arm["source"], "sot")
            last_arm = t
            if "TENT" in arm["output"]:
                self._fire(arm["oline"], t)
            for j in range(trig["count"]):
                if trig["source"] == "TLIN" and not (j == 0 and trig["direction"] == "SOUR"):
                    t = yield f"tlink_in_{trig['iline']}"
                t = yield t + trig["delay"]
                if values is not None:
                    self.level_now = values[k % len(values)]
                if values is not None or self.clear_auto:
                    self.output = self.output or self.clear_auto  # auto-clear: on for each cycle, off after it
                    self._push(t)
                if "SOUR" in trig["output"]:
                    self._fire(trig["oline"], t)
                t = yield t + source_delay
                if "DEL" in trig["output"]:
                    self._fire(trig["oline"], t)
                t = yield t + measure_time
                self._store(self.reading_values(t))
                if "SENS" in trig["output"]:
                    self._fire(trig["oline"], t)
                if self.clear_auto:
                    self.output = False
                    self._push(t)
                k += 1
            if "TEX" in arm["output"]:
                self._fire(arm["oline"], t)
        self._end_of_run(t)

    def _end_of_run(self, t: float) -> None:
        """After a sweep or list the source goes back to its bias level (the FIXed level; 2400 manual, "Sweep
        operation"); with auto-clear the output is off."""
        back = self.level_now is not None
        self.level_now = None
        if self.clear_auto:
            self.output = False
        if back or self.clear_auto:
            self._push(t)

    def _store(self, reading: dict[str, float]) -> None:
        self.readings.append(reading)
        if self.feed_control == "NEXT" and self.feed != "NONE":
            self.buffer.append(reading)
            if len(self.buffer) >= self.buffer_points:
                self.feed_control = "NEV"
                self.meas_event |= _BUFFER_FULL

    # ---- reading buffer and statistics (2400 manual section 6 "Data store", section 18 CALCulate3, TRACe) -------
    def buffer_commands(self) -> list[Command]:
        C = Command
        return [
            *[c for root in (":TRACe", ":DATA") for c in (
                C(f"{root}:POINts", query=lambda a: str(self.buffer_points), write=self._set_buffer_points),
                C(f"{root}:POINts:ACTual", query=lambda a: str(len(self.buffer))),
                C(f"{root}:CLEar", write=lambda a: self._clear_buffer()),
                C(f"{root}:FEED", query=lambda a: self.feed,
                  write=self._setter("feed", {"SENSe": "SENS", "SENSe1": "SENS", "CALCulate1": "CALC1",
                                              "CALCulate2": "CALC2", "NONE": "NONE"})),
                C(f"{root}:FEED:CONTrol", query=lambda a: self.feed_control,
                  write=self._setter("feed_control", {"NEXT": "NEXT", "NEVer": "NEV"})),
                C(f"{root}:FREE", query=lambda a: f"{(2500 - len(self.buffer)) * _BYTES_PER_READING},"
                                                       f"{len(self.buffer) * _BYTES_PER_READING}"),
                C(f"{root}:TSTamp:FORMat", query=lambda a: self.tstamp_format,
                  write=self._setter("tstamp_format", {"ABSolute": "ABS", "DELTa": "DELT"})),
                C(f"{root}[:DATA]", query=lambda a: ",".join(self.format_reading(r) for r in self.buffer)),
            )],
            C(":CALCulate3:FORMat", query=lambda a: self.calc3_format,
              write=self._setter("calc3_format", {
                  "MEAN": "MEAN", "SDEViation": "SDEV", "MAXimum": "MAX", "MINimum": "MIN", "PKPK": "PKPK"})),
            C(":CALCulate3:DATA", query=lambda a: self._statistics()),
            C(":STATus:PRESet", write=lambda a: self._status_preset()),
            C(":STATus:MEASurement[:EVENt]", query=lambda a: self._read_event("meas_event")),
            C(":STATus:MEASurement:ENABle", query=lambda a: str(self.meas_enable),
              write=lambda a: setattr(self, "meas_enable", int(parse_float(self.need(a)[0], 0, 65535)))),
            C(":STATus:MEASurement:CONDition", query=lambda a: str(_BUFFER_FULL if self.feed_control == "NEV"
                                                                   and len(self.buffer) >= self.buffer_points else 0)),
            C(":STATus:OPERation[:EVENt]", query=lambda a: "0"),
            C(":STATus:OPERation:CONDition", query=lambda a: str(_SWEEPING if self.run.running else 0)),
            C(":STATus:OPERation:ENABle", query=lambda a: str(self.oper_enable),
              write=lambda a: setattr(self, "oper_enable", int(parse_float(self.need(a)[0], 0, 65535)))),
            C(":STATus:QUEStionable[:EVENt]", query=lambda a: "0"),
            C(":STATus:QUEStionable:CONDition", query=lambda a: "0"),
            C(":STATus:QUEStionable:ENABle", query=lambda a: str(self.ques_enable),
              write=lambda a: setattr(self, "ques_enable", int(parse_float(self.need(a)[0], 0, 65535)))),
            C(":STATus:QUEue[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:LFRequency", query=lambda a: str(self.line_frequency),
              write=lambda a: setattr(self, "line_frequency", int(parse_choice(self.need(a)[0], {"50": "50",
                                                                                                 "60": "60"})))),
            C(":SYSTem:LFRequency:AUTO", query=lambda a: str(int(self.line_frequency_auto)),
              write=lambda a: setattr(self, "line_frequency_auto", parse_bool(self.need(a)[0]))),
            C(":SYSTem:TIME:RESet", write=lambda a: setattr(self, "t0", self.lab.now())),
            C(":SYSTem:TIME", query=lambda a: fmt_sci(self.lab.now() - self.t0)),
            C(":ROUTe:TERMinals", query=lambda a: self.terminals,
              write=self._setter("terminals", {"FRONt": "FRON", "REAR": "REAR"})),
        ]

    def summary_bits(self) -> int:
        """Bit 0: measurement summary (an enabled measurement event, e.g. buffer full)."""
        return 1 if self.meas_event & self.meas_enable else 0

    def clear_events(self) -> None:
        self.meas_event = 0

    def _status_preset(self) -> None:
        self.meas_enable = self.oper_enable = self.ques_enable = 0

    def _read_event(self, name: str) -> str:
        value = getattr(self, name)
        setattr(self, name, 0)
        return str(value)

    def _set_buffer_points(self, args) -> None:
        self.buffer_points = int(parse_float(self.need(args)[0], 1, 2500))

    def _clear_buffer(self) -> None:
        self.buffer = []
        self.meas_event &= ~_BUFFER_FULL

    def _statistics(self) -> str:
        """CALC3:DATA?: the selected statistic of each measured element (V, I, R) over the buffer's readings."""
        if not self.buffer:
            raise CommandError(-230, "Data corrupt or stale")  # no readings stored
        out = []
        for element in ("VOLT", "CURR", "RES"):
            if element not in self.elements:
                continue
            xs = [r[element] for r in self.buffer]
            n = len(xs)
            mean = sum(xs) / n
            stat = {"MEAN": lambda: mean, "MAX": lambda: max(xs), "MIN": lambda: min(xs),
                    "PKPK": lambda: max(xs) - min(xs),
                    "SDEV": lambda: math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0}
            out.append(fmt_sci(stat[self.calc3_format]()))
        return ",".join(out)

    # ---- actions --------------------------------------------------------------------------------------
    def _misc(self, key: str, args: list[str]) -> None:
        self.misc[key] = self.need(args)[0]

    def _all_errors(self) -> str:
        out = []
        while self.errors:
            out.append(self.pop_error())
        return ",".join(out) if out else '0,"No error"'

    def _set_function(self, args) -> None:
        self.function = parse_choice(self.need(args)[0], {"VOLTage": "VOLT", "CURRent": "CURR", "MEMory": "MEM"})
        if self.function == "MEM":
            self.function = "VOLT"
            raise CommandError(-221, "Settings conflict")
        self._push()

    def _set_level(self, func: str, args) -> None:
        text = self.need(args)[0].upper()
        if func == "VOLT":
            limit = 210.0 if self.source_auto["VOLT"] else self.source_range["VOLT"] * 1.05
        else:
            limit = 1.05 if self.source_auto["CURR"] else self.source_range["CURR"] * 1.05
        if text in ("MIN", "MINIMUM"):
            value = -limit
        elif text in ("MAX", "MAXIMUM"):
            value = limit
        elif text in ("DEF", "DEFAULT"):
            value = 0.0
        else:
            value = parse_float(text, -limit, limit)
        self.level[func] = value
        if self.source_auto[func]:
            self.source_range[func] = _range_for(value, _VOLT_RANGES if func == "VOLT" else _CURR_RANGES)
        if func == self.function:
            self._push()

    def _set_source_range(self, func: str, args) -> None:
        ranges = _VOLT_RANGES if func == "VOLT" else _CURR_RANGES
        value = parse_float(self.need(args)[0], -ranges[-1] * 1.05, ranges[-1] * 1.05)
        self.source_range[func] = _range_for(value, ranges)
        self.source_auto[func] = False

    def _set_compliance(self, func: str, args) -> None:
        high = 1.05 if func == "CURR" else 210.0
        self.compliance[func] = parse_float(self.need(args)[0], -high, high)
        self._push()  # a new compliance may release (or clamp) the output

    def _set_sense_range(self, func: str, args, high: float) -> None:
        self.sense_range[func] = abs(parse_float(self.need(args)[0], -high, high))
        self.sense_auto[func] = False

    def _set_nplc(self, args) -> None:
        self.nplc = parse_float(self.need(args)[0], 0.01, 10.0)

    def _set_sense_functions(self, args) -> None:
        funcs = []
        for a in self.need(args):
            name = a.strip().strip("'\"").upper().split(":")[0]
            funcs.append(parse_choice(name, _FUNCS))
        self.sense_functions = list(dict.fromkeys(self.sense_functions + funcs)) if self.concurrent else funcs

    def _set_elements(self, args) -> None:
        self.elements = [parse_choice(a, _ELEMENTS) for a in self.need(args)]

    def _ascii_only(self, args) -> None:
        if parse_choice(self.need(args)[0], {"ASCii": "ASC", "REAL": "REAL", "SREal": "SRE"}) != "ASC":
            raise CommandError(-221, "Settings conflict")  # binary formats are not simulated

    def _set_output(self, on: bool) -> None:
        self.output = on
        self._push()

    def reading_values(self, t: float) -> dict[str, float]:
        """One reading (voltage, current, resistance, timestamp, status word) taken at lab time ``t``."""
        v = self.applied() if self.function == "VOLT" else self.measured_current() * self._load()
        i = self.measured_current()
        return {
            "VOLT": v,
            "CURR": i + self.lab.gauss(1e-13),
            "RES": 9.91e37,  # resistance is not a measured function here: the 2400's NAN value
            "TIME": t - self.t0,
            "STAT": float(8 if self.in_compliance() else 0),  # status word bit 3: in compliance
        }

    def format_reading(self, reading: dict[str, float]) -> str:
        return ",".join(fmt_sci(reading[e]) for e in self.elements)
