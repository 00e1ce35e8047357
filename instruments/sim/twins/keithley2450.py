"""Simulated Keithley 2450 SourceMeter, native "SCPI" command set (2450 Reference Manual, SCPI command reference),
as pymeasure's ``Keithley2450`` uses it.

Differences from the 2400 that matter here: the source's current limit is ``:SOURce:VOLTage:ILIMit`` (1 nA ...
1.05 A), the output is ``:OUTPut[:STATe]``, ``:READ?`` returns one reading of the active measure function
(``:SENSe:FUNCtion "CURR"``), ranges are 20 mV ... 200 V and 10 nA ... 1 A. A level beyond the present source range
(105 %, or 210 V with auto range) or a limit outside its span is refused with -222 "Parameter data out of range"
in the error queue, the setting unchanged. In compliance the measured current is clamped at the limit and
``:SOURce:VOLTage:ILIMit:TRIPped?`` reads 1.

Also as QCoDeS's ``Keithley2450`` uses it: ``*LANG?`` answers SCPI; named reading buffers (``defbuffer1``,
``defbuffer2``, ``:TRACe:MAKE``) with ``:TRACe:DATA?`` elements and ``:TRACe:STATistics``; ``:SOURce:SWEep:<f>:LINear``
and ``:SOURce:SWEep:<f>:LIST`` sweeps run by ``:INITiate`` in lab time (source, delay, NPLC / line frequency of
measurement, each point into the buffer and into the lab's output history at its own time); and a block trigger
model (``:TRIGger:BLOCk:*``, the simple-loop and external-trigger templates) whose notify blocks pulse the digital
I/O lines set to trigger out (``dio_out_n`` in a lab file's ``simulation: wiring:``), and whose wait blocks take
pulses on lines set to trigger in (``dio_in_n``) or ``*TRG``.
"""

from __future__ import annotations

import math

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
        self.sense_count = 1
        # per function: auto zero, read back, and the five user delays (:DELay:USER1..5, "user_delay1"...)
        delays = {f"user_delay{n}": 0.0 for n in ("", "1", "2", "3", "4", "5")}
        self.sense_opts = {f: {"azero": 1, **delays} for f in ("CURR", "VOLT", "RES")}
        self.source_opts = {f: {"read_back": 1, **delays} for f in ("CURR", "VOLT")}
        # reading buffers by name (2450 manual, "Reading buffers"): the two default ones and any made by :TRACe:MAKE
        self.buffers: dict[str, _Buffer] = {"DEFBUFFER1": _Buffer(100_000), "DEFBUFFER2": _Buffer(100_000)}
        self.sweep_plan: tuple[list[float], float, int, str] | None = None  # (levels, delay, count, buffer)
        # the block trigger model (2450 manual, "Trigger model"): block number -> (kind, arguments)
        self.blocks: dict[int, tuple[str, list[str]]] = {}
        # digital I/O lines 1-6: (mode, direction), trigger-out stimulus and pulse width
        self.dio_mode = {n: ("DIG", "IN") for n in _DIO_LINES}
        self.dio_stimulus = {n: "NONE" for n in _DIO_LINES}
        self.dio_width = {n: 10e-6 for n in _DIO_LINES}

    # ---- the 2450's limits are ILIM / VLIM (the 2400's protection levels): the 2400 twin's compliance physics --
    def _current_limit(self) -> float:
        return self.ilim

    def _voltage_limit(self) -> float:
        return self.vlim

    def commands(self) -> list[Command]:
        C = Command
        return self.common_commands() + self.buffer_commands_2450() + [
            C("*LANG", query=lambda a: "SCPI", write=self._set_language),
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
            C(":FORMat[:DATA]", query=lambda a: "ASC", write=self._ascii_only),
            C(":ROUTe:TERMinals", query=lambda a: self.terminals,
              write=self._setter("terminals", {"FRONt": "FRON", "REAR": "REAR"})),
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:ERRor:COUNt", query=lambda a: str(len(self.errors))),
            C(":SYSTem:ERRor:CLEar", write=lambda a: self.errors.clear()),
            C(":SYSTem:BEEPer[:IMMediate]", write=lambda a: None),
            C(":STATus:CLEar", write=lambda a: self.clear_status()),
            C(":STATus:PRESet", write=lambda a: self._status_preset()),
            C(":SYSTem:CLEar", write=lambda a: self.errors.clear()),
            C(":SYSTem:LFRequency", query=lambda a: str(self.line_frequency)),
            C(":INITiate[:IMMediate]", write=lambda a: self._initiate()),
            C(":ABORt", write=lambda a: self._abort()),
            *[C(f":SENSe[1]:{f}:{key}", query=lambda a, *n, f=_FUNCS[f], k=k: str(self.sense_opts[f][k + "".join(n)]),
                write=lambda a, *n, f=_FUNCS[f], k=k, lo=lo, hi=hi: self.sense_opts[f].__setitem__(
                    k + "".join(n), self._option(a, lo, hi)))
              for f in ("CURRent", "VOLTage", "RESistance")
              for key, k, lo, hi in (("AZERo[:STATe]", "azero", None, None), ("DELay:USER#", "user_delay", 0, 1e4))],
            C(":SENSe[1]:CURRent[:DC]:RSENse", query=lambda a: str(int(self.rsense)),
              write=lambda a: setattr(self, "rsense", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:VOLTage[:DC]:RSENse", query=lambda a: str(int(self.rsense)),
              write=lambda a: setattr(self, "rsense", parse_bool(self.need(a)[0]))),
            C(":SENSe[1]:COUNt", query=lambda a: str(self.sense_count),
              write=lambda a: setattr(self, "sense_count", int(parse_float(self.need(a)[0], 1, 300000)))),
            C(":SENSe[1]:AZERo:ONCE", write=lambda a: None),
            *[C(f":SOURce[1]:{f}:{key}", query=lambda a, *n, f=_FUNCS[f], k=k: str(self.source_opts[f][k + "".join(n)]),
                write=lambda a, *n, f=_FUNCS[f], k=k, lo=lo, hi=hi: self.source_opts[f].__setitem__(
                    k + "".join(n), self._option(a, lo, hi)))
              for f in ("CURRent", "VOLTage")
              for key, k, lo, hi in (("READ:BACK", "read_back", None, None), ("DELay:USER#", "user_delay", 0, 1e4))],
            C(":SOURce[1]:SWEep:VOLTage:LINear", write=lambda a: self._sweep_linear("VOLT", a)),
            C(":SOURce[1]:SWEep:CURRent:LINear", write=lambda a: self._sweep_linear("CURR", a)),
            C(":SOURce[1]:LIST:VOLTage", query=lambda a: ",".join(fmt_sci(v) for v in self.source_list["VOLT"]),
              write=lambda a: self._set_list("VOLT", a)),
            C(":SOURce[1]:LIST:CURRent", query=lambda a: ",".join(fmt_sci(v) for v in self.source_list["CURR"]),
              write=lambda a: self._set_list("CURR", a)),
            C(":SOURce[1]:SWEep:VOLTage:LIST", write=lambda a: self._sweep_list("VOLT", a)),
            *self.trigger_block_commands(),
            C(":SOURce[1]:SWEep:CURRent:LIST", write=lambda a: self._sweep_list("CURR", a)),
        ]

    # ---- block trigger model and digital I/O trigger lines (2450 manual, "Trigger model", :TRIGger:BLOCk,
    #      :TRIGger:DIGital, :DIGital:LINE) ---------------------------------------------------------------------
    def trigger_output_names(self) -> list[str]:
        """Digital I/O lines 1-6 in trigger-out mode (``dio_out_n``): pulsed by their stimulus (a notify block)."""
        return [f"dio_out_{n}" for n in _DIO_LINES]

    def trigger_input_names(self) -> list[str]:
        """Digital I/O lines 1-6 in trigger-in mode (``dio_in_n``): the DIGio<n> event of a wait block."""
        return [f"dio_in_{n}" for n in _DIO_LINES]

    def on_trigger(self, input_name: str, t: float) -> None:
        n = int(input_name.rsplit("_", 1)[1])
        if self.dio_mode[n] == ("TRIG", "IN"):
            self._event(f"DIG{n}", t)

    def bus_trigger(self) -> None:
        self._event("COMM", self.lab.now())

    def _event(self, event: str, t: float) -> None:
        """A trigger event at lab time t: a wait block waiting for it goes on; digital outputs it stimulates pulse."""
        for n in _DIO_LINES:
            if self.dio_stimulus[n] == event and self.dio_mode[n] == ("TRIG", "OUT"):
                self.lab.trigger_wiring.fire(self.name, f"dio_out_{n}", t)
        self.run.signal(event, t)

    def trigger_block_commands(self) -> list[Command]:
        C = Command
        block = self._define_block
        cmds = [C(f":TRIGger:BLOCk:{header}", write=lambda a, kind=kind: block(kind, a))
                for header, kind in (("BUFFer:CLEar", "BUFCLEAR"), ("DELay:CONStant", "DELAY"),
                                     ("MEASure[:DIGitize]", "MEASURE"), ("NOTify", "NOTIFY"),
                                     ("BRANch:COUNter", "COUNTER"), ("BRANch:ALWays", "ALWAYS"), ("WAIT", "WAIT"),
                                     ("SOURce:STATe", "SOURCE"), ("NOP", "NOP"))]
        return cmds + [
            C(":TRIGger:LOAD[:EMPTy]", write=self._load_template),
            C(":TRIGger:LOAD:LOOP:SIMPle", write=self._load_simple_loop),
            C(":TRIGger:LOAD:TRIGger:EXTernal", write=self._load_external),
            C(":TRIGger:DIGital#:OUT:STIMulus", query=lambda a, n: self.dio_stimulus[self._dio(n)],
              write=lambda a, n: self.dio_stimulus.__setitem__(self._dio(n), _stimulus(self.need(a)[0]))),
            C(":TRIGger:DIGital#:OUT:PULSewidth", query=lambda a, n: fmt_sci(self.dio_width[self._dio(n)]),
              write=lambda a, n: self.dio_width.__setitem__(self._dio(n), parse_float(self.need(a)[0], 0, 100))),
            C(":DIGital:LINE#:MODE", query=lambda a, n: ",".join(self.dio_mode[self._dio(n)]),
              write=lambda a, n: self._set_dio_mode(self._dio(n), a)),
        ]

    @staticmethod
    def _dio(n) -> int:
        line = int(n or 0)
        if line not in _DIO_LINES:
            raise CommandError(-114, "Header suffix out of range")
        return line

    def _set_dio_mode(self, n: int, args) -> None:
        self.need(args, 2)
        mode = parse_choice(args[0], {"DIGital": "DIG", "TRIGger": "TRIG", "SYNChronous": "SYNC"})
        self.dio_mode[n] = (mode, parse_choice(args[1], {"IN": "IN", "OUT": "OUT", "OPENdrain": "OPEN",
                                                         "MASTer": "MAST", "ACCeptor": "ACC"}))

    def _define_block(self, kind: str, args) -> None:
        args = list(args)
        number = int(parse_float(self.need(args)[0], 1, 63))
        rest = args[1:]
        if kind == "WAIT":
            rest = [_stimulus(self.need(rest)[0])] + rest[1:]
        elif kind == "DELAY":
            parse_float(self.need(rest)[0], 0, 1e4)
        elif kind == "NOTIFY":
            parse_float(self.need(rest)[0], 1, 8)
        elif kind == "ALWAYS":
            parse_float(self.need(rest)[0], 1, 63)
        elif kind == "COUNTER":
            parse_float(self.need(rest, 2)[0], 1, 268_000_000)
            parse_float(rest[1], 1, 63)
        elif kind == "SOURCE":
            parse_bool(self.need(rest)[0])
        self.sweep_plan = None  # a trigger model of one's own replaces a sweep's
        self.blocks[number] = (kind, rest)

    def _load_template(self, args) -> None:
        name = (args[0] if args else "Empty").strip("'\"").upper()
        if name != "EMPTY":
            raise CommandError(-224, "Illegal parameter value")  # other templates: by their own commands
        self.blocks = {}
        self.sweep_plan = None

    def _load_simple_loop(self, args) -> None:
        """:TRIGger:LOAD:LOOP:SIMPle count[, delay[, buffer]]: count measurements, each after the delay."""
        count = str(int(parse_float(self.need(args)[0], 1, 268_000_000)))
        delay = args[1] if len(args) > 1 else "0"
        buffer = args[2] if len(args) > 2 else "defbuffer1"
        self._load_template([])
        for n, kind, rest in ((1, "BUFCLEAR", [buffer]), (2, "DELAY", [delay]), (3, "MEASURE", [buffer]),
                              (4, "COUNTER", [count, "2"])):
            self._define_block(kind, [str(n)] + rest)

    def _load_external(self, args) -> None:
        """:TRIGger:LOAD:TRIGger:EXTernal in, out, count[, delay[, buffer]]: wait for digital input ``in``, delay,
        measure, notify (stimulus of digital output ``out``), count times."""
        self.need(args, 3)
        line_in, line_out = self._dio(int(parse_float(args[0], 1, 6))), self._dio(int(parse_float(args[1], 1, 6)))
        count = str(int(parse_float(args[2], 1, 268_000_000)))
        delay = args[3] if len(args) > 3 else "0"
        buffer = args[4] if len(args) > 4 else "defbuffer1"
        self._load_template([])
        self.dio_mode[line_in] = ("TRIG", "IN")
        self.dio_mode[line_out] = ("TRIG", "OUT")
        self.dio_stimulus[line_out] = "NOT1"
        for n, kind, rest in ((1, "BUFCLEAR", [buffer]), (2, "WAIT", [f"DIG{line_in}"]), (3, "DELAY", [delay]),
                              (4, "MEASURE", [buffer]), (5, "NOTIFY", ["1"]), (6, "COUNTER", [count, "2"])):
            self._define_block(kind, [str(n)] + rest)

    def _run_blocks(self, t: float):
        """Execute the blocks from 1 in order (branches jump) until the model falls off its last block."""
        counters: dict[int, int] = {}
        n = 1
        while n in self.blocks:
            kind, args = self.blocks[n]
            nxt = n + 1
            if kind == "BUFCLEAR":
                self._buffer(args).readings.clear()
            elif kind == "DELAY":
                t = yield t + float(args[0])
            elif kind == "MEASURE":
                t = yield t + self.nplc_by.get(self.sense_function, 1.0) / self.line_frequency
                self._measure_into(self._buffer(args), t=t)
            elif kind == "NOTIFY":
                self._event(f"NOT{int(float(args[0]))}", t)
            elif kind == "WAIT":
                t = yield args[0]
            elif kind == "SOURCE":
                self.output = parse_bool(args[0])
                self._push(t)
            elif kind == "ALWAYS":
                nxt = int(float(args[0]))
            elif kind == "COUNTER":
                counters[n] = counters.get(n, 0) + 1
                if counters[n] < int(float(args[0])):
                    nxt = int(float(args[1]))
            n = nxt

    def _set_language(self, args) -> None:
        if parse_choice(self.need(args)[0], {"SCPI": "SCPI", "TSP": "TSP", "SCPI2400": "SCPI2400"}) != "SCPI":
            raise CommandError(-221, "Settings conflict")  # only the native SCPI command set is simulated

    def _option(self, args, low, high):
        text = self.need(args)[0]
        if low is None:
            return int(parse_bool(text))
        return parse_float(text, low, high)

    # ---- reading buffers, statistics, sweeps (2450 Reference Manual, TRACe and SOURce:SWEep subsystems) ------
    def buffer_commands_2450(self) -> list[Command]:
        C = Command
        return [
            C(":TRACe:MAKE", write=self._make_buffer),
            C(":TRACe:DELete", write=self._delete_buffer),
            C(":TRACe:POINts", query=lambda a: str(self._buffer(a).capacity), write=self._set_capacity),
            C(":TRACe:ACTual", query=lambda a: str(len(self._buffer(a).readings))),
            C(":TRACe:ACTual:STARt", query=lambda a: "1" if self._buffer(a).readings else "0"),
            C(":TRACe:ACTual:END", query=lambda a: str(len(self._buffer(a).readings))),
            C(":TRACe:CLEar", write=lambda a: self._buffer(a).readings.clear()),
            C(":TRACe:TRIGger", write=lambda a: self._measure_into(self._buffer(a))),
            C(":TRACe:DATA", query=self._trace_data),
            # one value each, as the manual says (pymeasure's Keithley2450 indexes them as if V, I, R came back)
            C(":TRACe:STATistics:AVERage", query=lambda a: self._stat(a, lambda xs: sum(xs) / len(xs))),
            C(":TRACe:STATistics:MAXimum", query=lambda a: self._stat(a, max)),
            C(":TRACe:STATistics:MINimum", query=lambda a: self._stat(a, min)),
            C(":TRACe:STATistics:PK2Pk", query=lambda a: self._stat(a, lambda xs: max(xs) - min(xs))),
            C(":TRACe:STATistics:STDDev", query=lambda a: self._stat(a, _stddev)),
            C(":TRACe:STATistics:CLEar", write=lambda a: self._buffer(a).readings.clear()),
            C(":READ", query=lambda a: self._read_2450(a)),
            C(":MEASure[:CURRent][:DC]", query=lambda a: self._read_2450(a, "CURR")),
            C(":MEASure:VOLTage[:DC]", query=lambda a: self._read_2450(a, "VOLT")),
            C(":MEASure:RESistance", query=lambda a: self._read_2450(a, "RES")),
            C(":FETCh", query=self._fetch_2450),
        ]

    def _buffer(self, args, index: int = 0) -> "_Buffer":
        name = (args[index] if len(args) > index else "defbuffer1").strip("'\"").upper()
        if name not in self.buffers:
            raise CommandError(-222, "Parameter data out of range")  # no such reading buffer
        return self.buffers[name]

    def _make_buffer(self, args) -> None:
        name = self.need(args, 2)[0].strip("'\"").upper()
        if name in self.buffers:
            raise CommandError(-221, "Settings conflict")  # a buffer of that name exists
        self.buffers[name] = _Buffer(int(parse_float(args[1], 10, 11_000_000)))

    def _delete_buffer(self, args) -> None:
        name = self.need(args)[0].strip("'\"").upper()
        if name.startswith("DEFBUFFER") or name not in self.buffers:
            raise CommandError(-221, "Settings conflict")  # the default buffers cannot be deleted
        del self.buffers[name]

    def _set_capacity(self, args) -> None:
        buf = self._buffer(args, 1)
        buf.capacity = int(parse_float(self.need(args)[0], 10, 11_000_000))
        buf.readings.clear()  # a new size clears the buffer (2450 manual, :TRACe:POINts)

    def reading_values(self, t: float, func: str | None = None) -> dict[str, float]:
        """One 2450 reading at lab time ``t``: the measure function's value, the source value, timestamps."""
        func = func or self.sense_function
        i = self.measured_current()
        if func == "CURR":
            value = i + self.lab.gauss(1e-13)
        elif func == "VOLT":
            value = self.applied()
        else:
            value = self.applied() / i if i else 9.9e37
        return {"READ": value, "SOUR": self.source_level(), "REL": t - self.t0, "SEC": t - self.t0,
                "STAT": float(8 if self.in_compliance() else 0), "FUNC": func}

    def _measure_into(self, buf: "_Buffer", func: str | None = None, t: float | None = None) -> dict:
        reading = self.reading_values(self.lab.now() if t is None else t, func)
        buf.add(reading)
        return reading

    def _read_2450(self, args, func: str | None = None) -> str:
        buf = self._buffer(args)
        readings = [self._measure_into(buf, func) for _ in range(self.sense_count)]
        return ",".join(_format_2450(r, args[1:]) for r in readings)

    def _fetch_2450(self, args) -> str | None:
        if not self.run.finish():
            return None  # the trigger model waits: the reply is held
        buf = self._buffer(args)
        if not buf.readings:
            raise CommandError(-230, "Data corrupt or stale")
        return _format_2450(buf.readings[-1], args[1:])

    def _trace_data(self, args) -> str:
        """:TRACe:DATA? start, end[, 'buffer'[, elements]]: readings start..end (1-based, inclusive)."""
        start, end = (int(parse_float(x, 1, 11_000_000)) for x in self.need(args, 2)[:2])
        buf = self._buffer(args, 2)
        if end < start or end > len(buf.readings):
            raise CommandError(-222, "Parameter data out of range")  # beyond the readings stored
        return ",".join(_format_2450(r, args[3:]) for r in buf.readings[start - 1:end])

    def _stat(self, args, statistic) -> str:
        buf = self._buffer(args)
        xs = [r["READ"] for r in buf.readings]
        return fmt_sci(statistic(xs)) if xs else "9.9100000E+37"  # the 2450's NaN for an empty buffer

    def _sweep_linear(self, func: str, args) -> None:
        """:SOURce:SWEep:<func>:LINear start, stop, points[, delay[, count[, range[, failAbort[, dual[, 'buffer']]]]]]:
        builds the sweep trigger model; :INITiate runs it."""
        self.need(args, 3)
        start, stop = parse_float(args[0]), parse_float(args[1])
        n = int(parse_float(args[2], 2, 1_000_000))
        levels = [start + (stop - start) * k / (n - 1) for k in range(n)]
        self._plan(func, levels, args[3:])

    def _sweep_list(self, func: str, args) -> None:
        """:SOURce:SWEep:<func>:LIST startIndex[, delay[, count[, failAbort[, 'buffer']]]] over :SOURce:LIST."""
        first = int(parse_float(self.need(args)[0], 1, 2500))
        levels = self.source_list[func][first - 1:]
        if not levels:
            raise CommandError(-221, "Settings conflict")  # the source list is empty
        rest = list(args[1:3]) + ["BEST", args[3] if len(args) > 3 else "ON", "OFF"] + list(args[4:5])
        self._plan(func, levels, rest)

    def _plan(self, func: str, levels: list[float], rest: list[str]) -> None:
        if func != self.function:
            raise CommandError(-221, "Settings conflict")  # the sweep must be of the source function
        delay = parse_float(rest[0], 0, 1e4) if len(rest) > 0 else 0.0
        count = int(parse_float(rest[1], 1, 268_000_000)) if len(rest) > 1 else 1
        dual = parse_bool(rest[4]) if len(rest) > 4 else False
        buffer = rest[5].strip("'\"").upper() if len(rest) > 5 else "DEFBUFFER1"
        self._buffer([buffer])
        if dual:
            levels = levels + levels[::-1]
        self.blocks = {}  # the sweep's own trigger model replaces the present one
        self.sweep_plan = (levels, delay, count, buffer)

    def _model(self, t: float):
        """:INITiate with a sweep set up: each point sourced, after the delay measured into the buffer; with trigger
        blocks, the blocks; with neither, a single measurement (2450 manual, "Sweep operation", "Trigger model")."""
        if self.sweep_plan is None and self.blocks:
            yield from self._run_blocks(t)
            return
        if self.sweep_plan is None:
            t = yield t + self.nplc_by.get(self.sense_function, 1.0) / self.line_frequency
            self._measure_into(self.buffers["DEFBUFFER1"], t=t)
            return
        levels, delay, count, buffer = self.sweep_plan
        buf = self.buffers[buffer]
        measure_time = self.nplc_by.get(self.sense_function, 1.0) / self.line_frequency
        for _ in range(count):
            for level in levels:
                self.level_now = level
                self._push(t)
                t = yield t + delay
                t = yield t + measure_time
                self._measure_into(buf, t=t)
        self._end_of_run(t)

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



class _Buffer:
    """One 2450 reading buffer: a capacity and the readings, oldest dropped when full (fill mode continuous)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.readings: list[dict] = []

    def add(self, reading: dict) -> None:
        self.readings.append(reading)
        if len(self.readings) > self.capacity:
            del self.readings[0]


_UNITS = {"CURR": "Amp DC", "VOLT": "Volt DC", "RES": "Ohm"}
_DIO_LINES = range(1, 7)


def _stimulus(text: str) -> str:
    """A trigger event name (NONE, COMMand, NOTify<n>, DIGio<n>, TIMer<n>, ...) as the 2450 prints it."""
    t = text.strip().strip("'\"").upper()
    for long, short in (("NOTIFY", "NOT"), ("DIGIO", "DIG"), ("COMMAND", "COMM"), ("TIMER", "TIM"),
                        ("DISPLAY", "DISP"), ("BLENDER", "BLEN"), ("TSPLINK", "TSPL")):
        if t.startswith(long) or t.startswith(short):
            number = t[len(long):] if t.startswith(long) else t[len(short):]
            if number and not number.isdigit():
                break
            return short + number
    if t == "NONE":
        return t
    raise CommandError(-224, "Illegal parameter value")


def _format_2450(reading: dict, elements: list[str]) -> str:
    """A reading with the buffer elements asked for (READing when none): numbers as the 2450 prints them."""
    out = []
    for e in elements or ["READ"]:
        key = parse_choice(e, {"READing": "READ", "SOURce": "SOUR", "RELative": "REL", "SEConds": "SEC",
                               "STATus": "STAT", "UNIT": "UNIT", "SOURUNIT": "SOURUNIT"})
        if key == "UNIT":
            out.append(_UNITS[reading["FUNC"]])
        elif key == "SOURUNIT":
            out.append("Volt DC")
        else:
            out.append(fmt_sci(reading[key]))
    return ",".join(out)


def _stddev(xs: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mean = sum(xs) / n
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
