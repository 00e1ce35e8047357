"""Simulated Keithley 2450 SourceMeter, native "SCPI" command set (2450 Reference Manual, SCPI command reference),
as pymeasure's ``Keithley2450`` uses it.

Differences from the 2400 that matter here: the source's current limit is ``:SOURce:VOLTage:ILIMit`` (1 nA ...
1.05 A), the output is ``:OUTPut[:STATe]``, ``:READ?`` returns one reading of the active measure function
(``:SENSe:FUNCtion "CURR"``), ranges are 20 mV ... 200 V and 10 nA ... 1 A. A level beyond the present source range
(105 %, or 210 V with auto range) or a limit outside its span is refused with -222 "Parameter data out of range"
in the error queue, the setting unchanged. In compliance the measured current is clamped at the limit and
``:SOURce:VOLTage:ILIMit:TRIPped?`` reads 1.
"""

from __future__ import annotations

from ..scpi import Command
from ..twin import CommandError, fmt_sci, parse_bool, parse_choice, parse_float
from .keithley2400 import Keithley2400Twin

_VOLT_RANGES = (0.02, 0.2, 2.0, 20.0, 200.0)
_CURR_RANGES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
_FUNCS = {"VOLTage": "VOLT", "CURRent": "CURR", "RESistance": "RES"}
_OUT_RANGE = "Parameter data out of range"


def _range_for(value: float, ranges: tuple[float, ...]) -> float:
    for r in ranges:
        if abs(value) <= r * 1.05:
            return r
    return ranges[-1]


class Keithley2450Twin(Keithley2400Twin):
    grammar = "scpi"
    clamp_in_compliance = True  # the output is limited by ILIM/VLIM, as on the instrument
    idn = "KEITHLEY INSTRUMENTS,MODEL 2450,04419823,1.7.12b"

    def reset(self) -> None:
        super().reset()
        self.source_range = {"VOLT": 0.02, "CURR": 1e-8}
        self.ilim = 1.05e-4
        self.vlim = 21.0
        self.sense_function = "CURR"
        self.sense_range = {"VOLT": 0.02, "CURR": 1e-8, "RES": 20.0}
        self.nplc_by = {"VOLT": 1.0, "CURR": 1.0, "RES": 1.0}
        self.aver = {"VOLT": ["OFF", "REP", "10"], "CURR": ["OFF", "REP", "10"]}
        self.smod = {"VOLT": "NORM", "CURR": "NORM"}
        self.delay = {"VOLT": 0.0, "CURR": 0.0}
        self.delay_auto = {"VOLT": True, "CURR": True}
        self.rsense = False
        self.terminals = "FRON"
        self.trace_points = 100000

    # ---- the 2450's limits are ILIM / VLIM (the 2400's protection levels): the 2400 twin's compliance physics --
    def _current_limit(self) -> float:
        return self.ilim

    def _voltage_limit(self) -> float:
        return self.vlim

    def commands(self) -> list[Command]:
        C = Command
        return self.ieee488_commands() + [
            C("*OPT", query=lambda a: "0"),
            C(":SOURce[1]:FUNCtion[:MODE]", query=lambda a: self.function, write=self._set_function),
            C(":SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", query=lambda a: fmt_sci(self.level["VOLT"]),
              write=lambda a: self._set_level("VOLT", a)),
            C(":SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]", query=lambda a: fmt_sci(self.level["CURR"]),
              write=lambda a: self._set_level("CURR", a)),
            C(":SOURce[1]:VOLTage:RANGe", query=lambda a: fmt_sci(self.source_range["VOLT"]),
              write=lambda a: self._set_source_range("VOLT", a)),
            C(":SOURce[1]:CURRent:RANGe", query=lambda a: fmt_sci(self.source_range["CURR"]),
              write=lambda a: self._set_source_range("CURR", a)),
            C(":SOURce[1]:VOLTage:RANGe:AUTO", query=lambda a: str(int(self.source_auto["VOLT"])),
              write=lambda a: self.source_auto.__setitem__("VOLT", parse_bool(self.need(a)[0]))),
            C(":SOURce[1]:CURRent:RANGe:AUTO", query=lambda a: str(int(self.source_auto["CURR"])),
              write=lambda a: self.source_auto.__setitem__("CURR", parse_bool(self.need(a)[0]))),
            C(":SOURce[1]:VOLTage:ILIMit[:LEVel]", query=lambda a: fmt_sci(self.ilim), write=self._set_ilim),
            C(":SOURce[1]:VOLTage:ILIMit[:LEVel]:TRIPped", query=lambda a: str(int(self.in_compliance()))),
            C(":SOURce[1]:CURRent:VLIMit[:LEVel]", query=lambda a: fmt_sci(self.vlim), write=self._set_vlim),
            C(":SOURce[1]:CURRent:VLIMit[:LEVel]:TRIPped", query=lambda a: "0"),
            C(":SOURce[1]:VOLTage:DELay", query=lambda a: fmt_sci(self.delay["VOLT"]),
              write=lambda a: self.delay.__setitem__("VOLT", parse_float(self.need(a)[0], 0, 10000))),
            C(":SOURce[1]:CURRent:DELay", query=lambda a: fmt_sci(self.delay["CURR"]),
              write=lambda a: self.delay.__setitem__("CURR", parse_float(self.need(a)[0], 0, 10000))),
            C(":SOURce[1]:VOLTage:DELay:AUTO", query=lambda a: str(int(self.delay_auto["VOLT"])),
              write=lambda a: self.delay_auto.__setitem__("VOLT", parse_bool(self.need(a)[0]))),
            C(":SOURce[1]:CURRent:DELay:AUTO", query=lambda a: str(int(self.delay_auto["CURR"])),
              write=lambda a: self.delay_auto.__setitem__("CURR", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:FUNCtion[:ON]", query=lambda a: f'"{self.sense_function}:DC"'
              if self.sense_function != "RES" else '"RES"', write=self._set_sense_function),
            C(":SENSe[1]:CURRent[:DC]:RANGe[:UPPer]", query=lambda a: fmt_sci(self.sense_range["CURR"]),
              write=lambda a: self._set_sense_range_2450("CURR", a, 1.05)),
            C(":SENSe[1]:VOLTage[:DC]:RANGe[:UPPer]", query=lambda a: fmt_sci(self.sense_range["VOLT"]),
              write=lambda a: self._set_sense_range_2450("VOLT", a, 210.0)),
            C(":SENSe[1]:RESistance:RANGe[:UPPer]", query=lambda a: fmt_sci(self.sense_range["RES"]),
              write=lambda a: self._set_sense_range_2450("RES", a, 2.1e8)),
            C(":SENSe[1]:CURRent[:DC]:RANGe:AUTO", query=lambda a: str(int(self.sense_auto["CURR"])),
              write=lambda a: self.sense_auto.__setitem__("CURR", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:VOLTage[:DC]:RANGe:AUTO", query=lambda a: str(int(self.sense_auto["VOLT"])),
              write=lambda a: self.sense_auto.__setitem__("VOLT", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:RESistance:RANGe:AUTO", query=lambda a: str(int(self.sense_auto["RES"])),
              write=lambda a: self.sense_auto.__setitem__("RES", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:CURRent[:DC]:NPLCycles", query=lambda a: fmt_sci(self.nplc_by["CURR"]),
              write=lambda a: self._set_nplc_2450("CURR", a)),
            C(":SENSe[1]:VOLTage[:DC]:NPLCycles", query=lambda a: fmt_sci(self.nplc_by["VOLT"]),
              write=lambda a: self._set_nplc_2450("VOLT", a)),
            C(":SENSe[1]:RESistance:NPLCycles", query=lambda a: fmt_sci(self.nplc_by["RES"]),
              write=lambda a: self._set_nplc_2450("RES", a)),
            C(":SENSe[1]:RESistance:RSENse", query=lambda a: str(int(self.rsense)),
              write=lambda a: setattr(self, "rsense", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:CURRent[:DC]:AVERage[:STATe]", query=lambda a: self.aver["CURR"][0],
              write=lambda a: self._set_aver("CURR", 0, a)),
            C(":SENSe[1]:VOLTage[:DC]:AVERage[:STATe]", query=lambda a: self.aver["VOLT"][0],
              write=lambda a: self._set_aver("VOLT", 0, a)),
            C(":SENSe[1]:CURRent[:DC]:AVERage:TCONtrol", query=lambda a: self.aver["CURR"][1],
              write=lambda a: self._set_aver("CURR", 1, a)),
            C(":SENSe[1]:VOLTage[:DC]:AVERage:TCONtrol", query=lambda a: self.aver["VOLT"][1],
              write=lambda a: self._set_aver("VOLT", 1, a)),
            C(":SENSe[1]:CURRent[:DC]:AVERage:COUNt", query=lambda a: self.aver["CURR"][2],
              write=lambda a: self._set_aver("CURR", 2, a)),
            C(":SENSe[1]:VOLTage[:DC]:AVERage:COUNt", query=lambda a: self.aver["VOLT"][2],
              write=lambda a: self._set_aver("VOLT", 2, a)),
            C(":OUTPut[1][:STATe]", query=lambda a: str(int(self.output)),
              write=lambda a: self._set_output(parse_bool(self.need(a)[0]))),
            C(":OUTPut[1]:VOLTage:SMODe", query=lambda a: self.smod["VOLT"], write=lambda a: self._set_smod("VOLT", a)),
            C(":OUTPut[1]:CURRent:SMODe", query=lambda a: self.smod["CURR"], write=lambda a: self._set_smod("CURR", a)),
            C(":READ", query=lambda a: self._reading_2450()),
            C(":MEASure[:CURRent][:DC]", query=lambda a: self._reading_2450("CURR")),
            C(":MEASure:VOLTage[:DC]", query=lambda a: self._reading_2450("VOLT")),
            C(":FORMat[:DATA]", query=lambda a: "ASC", write=self._ascii_only),
            C(":ROUTe:TERMinals", query=lambda a: self.terminals,
              write=lambda a: setattr(self, "terminals", parse_choice(self.need(a)[0], {"FRONt": "FRON", "REAR": "REAR"}))),
            C(":TRACe:POINts", query=lambda a: str(self.trace_points),
              write=lambda a: setattr(self, "trace_points", int(parse_float(self.need(a)[0], 10, 11_000_000)))),
            C(":TRACe:CLEar", write=lambda a: None),
            C(":INITiate[:IMMediate]", write=lambda a: None),
            C(":ABORt", write=lambda a: None),
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:ERRor:COUNt", query=lambda a: str(len(self.errors))),
            C(":SYSTem:ERRor:CLEar", write=lambda a: self.errors.clear()),
            C(":SYSTem:BEEPer[:IMMediate]", write=lambda a: None),
            C(":STATus:PRESet", write=lambda a: None),
            C(":STATus:CLEar", write=lambda a: self._cls()),
        ]

    # ---- actions --------------------------------------------------------------------------------------
    def _set_function(self, args) -> None:
        self.function = parse_choice(self.need(args)[0], {"VOLTage": "VOLT", "CURRent": "CURR"})
        self._push()

    def _set_level(self, func: str, args) -> None:
        text = self.need(args)[0].upper()
        ranges = _VOLT_RANGES if func == "VOLT" else _CURR_RANGES
        limit = ranges[-1] * 1.05 if self.source_auto[func] else self.source_range[func] * 1.05
        if text in ("MIN", "MINIMUM"):
            value = -limit
        elif text in ("MAX", "MAXIMUM"):
            value = limit
        elif text in ("DEF", "DEFAULT"):
            value = 0.0
        else:
            try:
                value = float(text)
            except ValueError:
                raise CommandError(-104, "Data type error") from None
            if not -limit <= value <= limit:
                raise CommandError(-222, _OUT_RANGE)
        self.level[func] = value
        if self.source_auto[func]:
            self.source_range[func] = _range_for(value, ranges)
        if func == self.function:
            self._push()

    def _set_source_range(self, func: str, args) -> None:
        ranges = _VOLT_RANGES if func == "VOLT" else _CURR_RANGES
        value = abs(self._num(args, 0, ranges[-1] * 1.05, signed=True))
        rng = _range_for(value, ranges)
        if abs(self.level[func]) > rng * 1.05:
            raise CommandError(-222, _OUT_RANGE)  # the present level would not fit the new range
        self.source_range[func] = rng
        self.source_auto[func] = False

    def _num(self, args, low, high, signed=False) -> float:
        text = self.need(args)[0]
        try:
            value = float(text)
        except ValueError:
            raise CommandError(-104, "Data type error") from None
        lo = -high if signed else low
        if not lo <= value <= high:
            raise CommandError(-222, _OUT_RANGE)
        return value

    def _set_ilim(self, args) -> None:
        value = abs(self._num(args, 1e-9, 1.05, signed=True))
        if value < 1e-9:
            raise CommandError(-222, _OUT_RANGE)
        self.ilim = value
        self._push()

    def _set_vlim(self, args) -> None:
        value = abs(self._num(args, 0.02, 210.0, signed=True))
        if value < 0.02:
            raise CommandError(-222, _OUT_RANGE)
        self.vlim = value
        self._push()

    def _set_sense_function(self, args) -> None:
        name = self.need(args)[0].strip().strip("'\"").upper().split(":")[0]
        self.sense_function = parse_choice(name, _FUNCS)

    def _set_sense_range_2450(self, func: str, args, high: float) -> None:
        self.sense_range[func] = abs(self._num(args, 0, high, signed=True))
        self.sense_auto[func] = False

    def _set_nplc_2450(self, func: str, args) -> None:
        self.nplc_by[func] = self._num(args, 0.01, 10.0)

    def _set_aver(self, func: str, i: int, args) -> None:
        text = self.need(args)[0]
        if i == 0:
            value = "ON" if parse_bool(text) else "OFF"
        elif i == 1:
            value = parse_choice(text, {"REPeat": "REP", "MOVing": "MOV"})
        else:
            value = str(int(self._num(args, 1, 100)))
        self.aver[func][i] = value

    def _set_smod(self, func: str, args) -> None:
        self.smod[func] = parse_choice(self.need(args)[0], {"HIMPedance": "HIMP", "NORMal": "NORM",
                                                            "ZERO": "ZERO", "GUARd": "GUAR"})

    def _reading_2450(self, func: str | None = None) -> str:
        func = func or self.sense_function
        if func == "CURR":
            return fmt_sci(self.measured_current() + self.lab.gauss(1e-13))
        if func == "VOLT":
            return fmt_sci(self.applied())
        i = self.measured_current()
        return fmt_sci(self.applied() / i if i else 9.9e37)
