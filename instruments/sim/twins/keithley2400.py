"""Simulated Keithley 2400 SourceMeter (SCPI, 2400 Series User's Manual, sections 17-18).

Sources a voltage (or current) onto the sample output it is wired to (a gate, or the bias line through its
divider) and measures the current its load draws. With the output off the sample sees 0 V (NORMal output-off
state), so switching a biased gate off is a jump, exactly as at the fridge: the lab records it.
"""

from __future__ import annotations

import math

from ..scpi import Command
from ..twin import CommandError, ScpiStatusTwin, fmt_sci, parse_bool, parse_choice, parse_float

_VOLT_RANGES = (0.2, 2.0, 20.0, 200.0)
_CURR_RANGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_ELEMENTS = {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES", "TIME": "TIME", "STATus": "STAT"}
_FUNCS = {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES"}


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
        self.calc3_format = "MEAN"
        self.source_delay = 0.0
        self.source_delay_auto = True
        self.esr = 0
        self.t0 = self.lab.now()
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
        if self.function == "VOLT":
            v = self.level["VOLT"]
            i_comp = self._current_limit()
            if self.clamp_in_compliance and abs(v) > i_comp * load:
                return math.copysign(i_comp * load, v)
            return v
        v = self.level["CURR"] * load
        v_comp = self._voltage_limit()
        return math.copysign(v_comp, v) if self.clamp_in_compliance and abs(v) > v_comp else v

    def _current_limit(self) -> float:
        return abs(self.compliance["CURR"])

    def _voltage_limit(self) -> float:
        return abs(self.compliance["VOLT"])

    def _load(self) -> float:
        return self.lab.loads_ohm.get(self.name, 1e12)

    def _push(self) -> None:
        target = self.lab.output_name(self.name, None)
        if target is not None:
            self.lab.set_output(target, self.applied())

    def measured_current(self) -> float:
        if not self.output:
            return 0.0
        if self.function == "CURR":
            return self.level["CURR"]
        i = self.lab.source_current_A(self.name, None, self.level["VOLT"])
        comp = self._current_limit()
        return max(-comp, min(comp, i))

    def in_compliance(self) -> bool:
        if not self.output or self.function != "VOLT":
            return False
        i = self.lab.source_current_A(self.name, None, self.level["VOLT"])
        return abs(i) >= self._current_limit()

    # ---- commands -------------------------------------------------------------------------------------
    def ieee488_commands(self) -> list[Command]:
        """The IEEE 488.2 common commands, as the Keithley 24xx answer them."""
        C = Command
        return [
            C("*IDN", query=lambda a: self.idn),
            C("*RST", write=lambda a: self.reset()),
            C("*CLS", write=lambda a: self._cls()),
            C("*OPC", query=lambda a: "1", write=lambda a: None),
            C("*WAI", write=lambda a: None),
            C("*TRG", write=lambda a: None),
            C("*ESE", query=lambda a: str(self.misc.get("ESE", "0")), write=lambda a: self._misc("ESE", a)),
            C("*ESR", query=lambda a: self._esr()),
            C("*SRE", query=lambda a: str(self.misc.get("SRE", "0")), write=lambda a: self._misc("SRE", a)),
            C("*STB", query=lambda a: str(self.status_byte())),
        ]

    def commands(self) -> list[Command]:
        C = Command
        return self.ieee488_commands() + [
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
            C("[:SOURce[1]]:VOLTage:MODE", query=lambda a: "FIX", write=lambda a: self._fixed_mode(a)),
            C("[:SOURce[1]]:CURRent:MODE", query=lambda a: "FIX", write=lambda a: self._fixed_mode(a)),
            C("[:SOURce[1]]:DELay", query=lambda a: fmt_sci(self.source_delay),
              write=lambda a: setattr(self, "source_delay", parse_float(self.need(a)[0], 0, 999.9999))),
            C("[:SOURce[1]]:DELay:AUTO", query=lambda a: str(int(self.source_delay_auto)),
              write=lambda a: setattr(self, "source_delay_auto", parse_bool(self.need(a)[0]))),
            C("[:SOURce[1]]:CLEar[:IMMediate]", write=lambda a: self._set_output(False)),
            C("[:SOURce[1]]:CLEar:AUTO", query=lambda a: self.misc.get("CLEAR_AUTO", "0"),
              write=lambda a: self._misc("CLEAR_AUTO", [str(int(parse_bool(self.need(a)[0])))])),
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
              write=lambda a: setattr(self, "res_mode", parse_choice(self.need(a)[0], {"MANual": "MAN", "AUTO": "AUTO"}))),
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
            C(":READ", query=lambda a: self._reading()),
            C(":FETCh", query=lambda a: self._reading()),
            C(":MEASure[:VOLTage][:DC]", query=lambda a: self._reading()),
            C(":MEASure:CURRent[:DC]", query=lambda a: self._reading()),
            C(":MEASure:RESistance", query=lambda a: self._reading()),
            C(":INITiate[:IMMediate]", write=lambda a: None),
            C(":ABORt", write=lambda a: None),
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
            C(":STATus:PRESet", write=lambda a: None),
            C(":STATus:QUEue[:NEXT]", query=lambda a: self.pop_error()),
            C(":STATus:MEASurement:ENABle", query=lambda a: self.misc.get("MEASENAB", "0"),
              write=lambda a: self._misc("MEASENAB", a)),
            C(":STATus:MEASurement[:EVENt]", query=lambda a: "0"),
            C(":TRIGger:COUNt", query=lambda a: self.misc.get("TRIGCOUNT", "1"),
              write=lambda a: self._misc("TRIGCOUNT", [str(int(parse_float(self.need(a)[0], 1, 2500)))])),
            C(":TRIGger:DELay", query=lambda a: self.misc.get("TRIGDEL", "+0.000000E+00"),
              write=lambda a: self._misc("TRIGDEL", [fmt_sci(parse_float(self.need(a)[0], 0, 999.9999))])),
            C(":TRIGger:SOURce", query=lambda a: self.misc.get("TRIGSOUR", "IMM"),
              write=lambda a: self._misc("TRIGSOUR", [self.need(a)[0].upper()])),
            C(":TRIGger:CLEar", write=lambda a: None),
            C(":ARM:COUNt", query=lambda a: self.misc.get("ARMCOUNT", "1"),
              write=lambda a: self._misc("ARMCOUNT", [str(int(parse_float(self.need(a)[0], 1, 2500)))])),
            C(":ARM:SOURce", query=lambda a: self.misc.get("ARMSOUR", "IMM"),
              write=lambda a: self._misc("ARMSOUR", [self.need(a)[0].upper()])),
            C(":CALCulate3:FORMat", query=lambda a: self.calc3_format,
              write=lambda a: setattr(self, "calc3_format", self.need(a)[0].upper()[:4])),
            C(":CALCulate3:DATA", query=lambda a: self._reading()),
            C(":TRACe:CLEar", write=lambda a: None),
            C(":TRACe:FEED", write=lambda a: None),
            C(":TRACe:FEED:CONTrol", write=lambda a: None),
            C(":TRACe:POINts", query=lambda a: self.misc.get("TRACEPOINTS", "1"),
              write=lambda a: self._misc("TRACEPOINTS", a)),
        ]

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
            limit = 210.0 if self.source_auto["VOLT"] else self.source_range["VOLT"] * (1.05 if self.source_range["VOLT"] < 200 else 1.05)
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

    def _fixed_mode(self, args) -> None:
        if parse_choice(self.need(args)[0], {"FIXed": "FIX", "SWEep": "SWE", "LIST": "LIST"}) != "FIX":
            raise CommandError(-221, "Settings conflict")  # sweeps and lists are not simulated

    def _set_output(self, on: bool) -> None:
        self.output = on
        self._push()

    def _reading(self) -> str:
        v = self.applied() if self.function == "VOLT" else self.measured_current() * self._load()
        i = self.measured_current()
        noise_i = self.lab.gauss(1e-13)
        values = {
            "VOLT": v,
            "CURR": i + noise_i,
            "RES": 9.91e37,
            "TIME": self.lab.now() - self.t0,
            "STAT": float((8 if self.in_compliance() else 0) | (0 if self.output else 0)),
        }
        return ",".join(fmt_sci(values[e]) for e in self.elements)
