"""Simulated QDevil QDAC-II 24-channel DAC (SCPI, QDAC-II command reference; QDevil's QCoDeS driver).

Each channel drives whatever the station wires to ``(instrument, channel)`` (``channel:`` key of a gate), so two
halves of a split gate may sit on two channels. A channel is addressed by the numeric suffix
(``sour3:volt -0.5``) or by a channel list argument (``sour:volt -0.5,(@3,4)``, ``sour:volt? (@1:3)``).

Behaviour simulated:

- DC level -10 V ... +10 V on every channel; outside it the setting is refused with SCPI -222
  "Data out of range" in the error queue (``syst:err?``, ``syst:err:all?``, ``syst:err:coun?``), the level unchanged.
- DC mode FIXed applies a new level at once; in SWEep/LIST mode a level is stored and applied when the mode
  returns to FIXed.
- DC lists and sweeps (``sour#:list:*``, ``sour#:swe:*``) start on ``sour#:dc:init`` and the channel's trigger
  (``imm``, ``bus`` = ``*TRG``, ``int1..14``, ``ext1..4``, ``hold``), dwell at each point in lab time, step on each
  trigger in stepped mode, and repeat ``coun`` times. Markers (``sour#:dc:mark:star|end|sst|send``) fire internal
  triggers, which start other channels and drive the trigger outputs routed to them (``outp:trig#:sour int#``,
  after ``outp:trig#:del``): ``trig_out_1..5`` in a lab file's ``simulation: wiring:``; the inputs are ``trig_in_1..4``.
  Analog sweeps are stepped here.
- Slew rate (``sour#:volt:slew``, V/s or ``inf``): the output moves toward the level at that rate in lab time
  (``lab.now()``, so a manual clock drives it); ``sour#:volt?`` is the level set, ``sour#:volt:last?`` the output now.
- Current sensor (``read#?``): the load the lab puts on the channel (gate leakage) plus sensor noise.
- Output ranges LOW/HIGH and filters DC/MED/HIGH are stored and read back (their settling, < 20 ms, is not
  simulated). Outputs are always connected (no output relay), at 0 V after power-on and ``*RST``.
"""

from __future__ import annotations

import math
import re

from ..scpi import Command
from ..sequencer import Sequencer
from ..twin import CommandError, ScpiStatusTwin, parse_bool, parse_choice, parse_float

N_CHANNELS = 24
N_INTERNAL = 14  # internal triggers
N_INPUTS = 4     # external trigger inputs (rear panel)
N_OUTPUTS = 5    # external trigger outputs
V_MAX = 10.0
_RANGES = {"LOW": "LOW", "HIGH": "HIGH"}
_FILTERS = {"DC": "DC", "MEDium": "MED", "HIGH": "HIGH"}
_MODES = {"FIXed": "FIX", "SWEep": "SWE", "LIST": "LIST"}
_GENERATION = {"STEPped": "STEP", "ANALog": "ANAL"}
_POLARITY = {"INVerted": "INV", "NORMal": "NORM"}
_TRIG_WORD = re.compile(r"^(HOLD|BUS|IMM(EDIATE)?|INT\d+|EXT\d+)$", re.I)


def _fmt(v: float) -> str:
    return f"{v:.9g}"


def _count(text: str) -> int:
    """Repetitions of a list or sweep: a positive number, or -1 / INF for ever."""
    if text.strip().upper() in ("INF", "-1"):
        return -1
    return int(parse_float(text, 1, 2**31 - 1))


def _trigger_word(text: str) -> str:
    if not _TRIG_WORD.match(text.strip()):
        raise CommandError(-224, "Illegal parameter value")
    return text.strip().upper().replace("IMMEDIATE", "IMM")


class _Channel:
    def __init__(self, number: int, t: float):
        self.number = number
        self.level = 0.0          # the DC level set (V)
        self.start = 0.0          # output when the present slew began (V)
        self.t0 = t               # when it began (s, lab time)
        self.slew = math.inf      # V/s
        self.mode = "FIX"
        self.range = "HIGH"
        self.filter = "HIGH"
        self.sense_range = "HIGH"
        self.nplc = 1.0
        self.aperture = 0.02
        self.sense_delay = 0.0
        self.sense_count = 1
        self.next_level = 0.0     # sour#:volt:trig
        self.dc_trigger = "IMM"
        self.dc_cont = False      # dc:init:cont: re-arm after each run (off after *RST)
        self.output = 0.0         # what the sample sees now (V)
        self.level_pending: float | None = None  # a level set outside FIXed mode
        # DC generators (QDAC-II manual, "DC lists and sweeps"): list and sweep set-up, markers, the run
        self.list_values: list[float] = []
        self.list_dwell = 1e-3
        self.list_tmode = "AUTO"
        self.list_dir = "UP"
        self.list_count = 1
        self.sweep = {"start": 0.0, "stop": 0.0, "points": 2, "dwell": 1e-3, "gen": "STEP", "dir": "UP", "count": 1}
        self.dc_delay = 0.0
        self.markers = {"STAR": 0, "END": 0, "SST": 0, "SEND": 0}  # internal trigger fired, 0 = none
        self.cycles_left = 0
        self.run = Sequencer()
        self.sense_data: list[float] = []
        self.sense_cont = False
        self.sense_trigger = "IMM"  # stored and read back; the sensor measures on sens#:init (or read#?) here

    def output_at(self, t: float) -> float:
        if math.isinf(self.slew):
            return self.level
        dv = self.level - self.start
        step = self.slew * max(0.0, t - self.t0)
        return self.level if abs(dv) <= step else self.start + math.copysign(step, dv)


class QDac2Twin(ScpiStatusTwin):
    grammar = "scpi"
    idn = "QDevil, QDAC-II, 101, 13-1.57"

    def reset(self) -> None:
        super().reset()
        t = self.lab.now()
        self.channels = {n: _Channel(n, t) for n in range(1, N_CHANNELS + 1)}
        self.outputs = {n: {"source": "HOLD", "width": 1e-6, "polarity": "NORM", "delay": 0.0}
                        for n in range(1, N_OUTPUTS + 1)}
        self.lab.add_ticker(self._tick)
        for n in self.channels:
            self._push(n)

    # ---- the outputs -----------------------------------------------------------------------------------
    def _push(self, n: int) -> None:
        ch = self.channels[n]
        ch.output = ch.output_at(self.lab.now())
        target = self.lab.output_name(self.name, n)
        if target is not None:
            self.lab.set_output(target, ch.output)

    def _tick(self, t: float) -> None:
        for ch in self.channels.values():
            if ch.run.running:
                ch.run.advance(t)
        for n, ch in self.channels.items():
            if ch.output != ch.level:
                self._push(n)

    def _apply(self, ch: _Channel, level: float) -> None:
        """Start moving channel ``ch`` to ``level`` from where its output is now."""
        t = self.lab.now()
        ch.start = ch.output_at(t)
        ch.t0 = t
        ch.level = level
        self._push(ch.number)

    # ---- channel addressing ----------------------------------------------------------------------------
    def _channels(self, suffix, args: list[str]) -> tuple[list[_Channel], list[str]]:
        """The channels a command addresses (header suffix, or a trailing ``(@1,2,5:7)`` list) and the other args."""
        if suffix:
            n = int(suffix)
            if not 1 <= n <= N_CHANNELS:
                raise CommandError(-114, "Header suffix out of range")
            return [self.channels[n]], list(args)
        for i, a in enumerate(args):
            if a.startswith("(@"):
                text = ",".join(args[i:]).strip()
                if not text.endswith(")"):
                    raise CommandError(-104, "Data type error")
                numbers: list[int] = []
                for part in text[2:-1].split(","):
                    part = part.strip()
                    lo, _, hi = part.partition(":")
                    try:
                        first, last = int(lo), int(hi or lo)
                    except ValueError:
                        raise CommandError(-104, "Data type error") from None
                    for n in range(first, last + 1):
                        if not 1 <= n <= N_CHANNELS:
                            raise CommandError(-222, "Data out of range")
                        numbers.append(n)
                return [self.channels[n] for n in numbers], list(args[:i])
        raise CommandError(-109, "Missing parameter")  # no channel given

    def _per_channel_query(self, get):
        def query(args, suffix=None):
            chans, _ = self._channels(suffix, args)
            return ",".join(get(ch) for ch in chans)
        return query

    def _per_channel_write(self, put):
        def write(args, suffix=None):
            chans, rest = self._channels(suffix, args)
            value = self.need(rest)[0]
            for ch in chans:
                put(ch, value)
        return write

    def _per_channel_action(self, act):
        def write(args, suffix=None):
            chans, _ = self._channels(suffix, args)
            for ch in chans:
                act(ch)
        return write

    # ---- settings --------------------------------------------------------------------------------------
    def _set_level(self, ch: _Channel, text: str) -> None:
        value = self._level_value(text)
        if ch.mode == "FIX":
            self._apply(ch, value)
        else:
            ch.level_pending = value  # applied when the mode returns to FIXed

    @staticmethod
    def _level_value(text: str) -> float:
        word = text.strip().upper()
        if word in ("MIN", "MINIMUM"):
            return -V_MAX
        if word in ("MAX", "MAXIMUM"):
            return V_MAX
        if word in ("DEF", "DEFAULT"):
            return 0.0
        return parse_float(text, -V_MAX, V_MAX)

    def _set_mode(self, ch: _Channel, text: str) -> None:
        ch.mode = parse_choice(text, _MODES)
        if ch.mode == "FIX" and ch.level_pending is not None:
            pending, ch.level_pending = ch.level_pending, None
            self._apply(ch, pending)

    def _set_slew(self, ch: _Channel, text: str) -> None:
        word = text.strip().upper()
        if word in ("INF", "+INF", "MAX", "MAXIMUM", "DEF", "DEFAULT"):
            rate = math.inf
        else:
            rate = parse_float(text, 0.0, 2e7)
            if rate <= 0.0:
                raise CommandError(-222, "Data out of range")
        t = self.lab.now()
        ch.start = ch.output_at(t)  # the present slew continues from here at the new rate
        ch.t0 = t
        ch.slew = rate
        self._push(ch.number)

    def _set_trigger_source(self, ch: _Channel, text: str) -> None:
        if not _TRIG_WORD.match(text.strip()):
            raise CommandError(-224, "Illegal parameter value")
        ch.dc_trigger = text.strip().upper()

    def _current(self, ch: _Channel) -> str:
        self.lab.tick()
        v = ch.output_at(self.lab.now())
        noise = 30e-12 if ch.sense_range == "HIGH" else 2e-12
        return _fmt(self.lab.source_current_A(self.name, ch.number, v) + self.lab.gauss(noise))

    # ---- commands -------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        Q, W, A = self._per_channel_query, self._per_channel_write, self._per_channel_action
        S = "[:SOURce#]"
        return self.common_commands() + [
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:ERRor:ALL", query=lambda a: self._all_errors()),
            C(":SYSTem:ERRor:COUNt", query=lambda a: str(len(self.errors))),
            C(":ABORt", write=lambda a: [ch.run.abort() for ch in self.channels.values()]),
            C(S + ":VOLTage[:LEVel][:IMMediate][:AMPLitude]", query=Q(lambda ch: _fmt(ch.level)),
              write=W(self._set_level)),
            C(S + ":VOLTage:LAST", query=Q(lambda ch: _fmt(ch.output_at(self.lab.now())))),
            C(S + ":VOLTage:MODE", query=Q(lambda ch: ch.mode), write=W(self._set_mode)),
            C(S + ":VOLTage:SLEW", query=Q(lambda ch: "inf" if math.isinf(ch.slew) else _fmt(ch.slew)),
              write=W(self._set_slew)),
            C(S + ":VOLTage:TRIGgered[:AMPLitude]", query=Q(lambda ch: _fmt(ch.next_level)),
              write=W(lambda ch, t: setattr(ch, "next_level", self._level_value(t)))),
            C(S + ":RANGe", query=Q(lambda ch: ch.range),
              write=W(lambda ch, t: setattr(ch, "range", parse_choice(t, _RANGES)))),
            C(S + ":RANGe:LOW:MINimum", query=Q(lambda ch: _fmt(-V_MAX))),
            C(S + ":RANGe:LOW:MAXimum", query=Q(lambda ch: _fmt(V_MAX))),
            C(S + ":RANGe:HIGH:MINimum", query=Q(lambda ch: _fmt(-V_MAX))),
            C(S + ":RANGe:HIGH:MAXimum", query=Q(lambda ch: _fmt(V_MAX))),
            C(S + ":FILTer", query=Q(lambda ch: ch.filter),
              write=W(lambda ch, t: setattr(ch, "filter", parse_choice(t, _FILTERS)))),
            C(S + ":DC:TRIGger:SOURce", query=Q(lambda ch: ch.dc_trigger), write=W(self._set_trigger_source)),
            C(S + ":DC:INITiate:CONTinuous", query=Q(lambda ch: str(int(ch.dc_cont))),
              write=W(lambda ch, t: setattr(ch, "dc_cont", t.strip().upper() in ("ON", "1")))),
            C(S + ":DC:INITiate", write=A(self._dc_initiate)),
            C(S + ":DC:ABORt", write=A(lambda ch: ch.run.abort())),
            C(S + ":ALL:ABORt", write=A(lambda ch: ch.run.abort())),
            C(S + ":DC:DELay", query=Q(lambda ch: _fmt(ch.dc_delay)),
              write=W(lambda ch, t: setattr(ch, "dc_delay", parse_float(t, 0, 3600)))),
            *[C(S + f":DC:MARKer:{key}", query=Q(lambda ch, k=k: str(ch.markers[k])),
                write=W(lambda ch, t, k=k: ch.markers.__setitem__(k, int(parse_float(t, 0, N_INTERNAL)))))
              for key, k in (("STARt", "STAR"), ("END", "END"), ("SSTart", "SST"), ("SENd", "SEND"))],
            C(S + ":LIST:VOLTage", query=Q(lambda ch: ",".join(_fmt(v) for v in ch.list_values)),
              write=self._set_list),
            C(S + ":LIST:VOLTage:APPend", write=lambda a, n=None: self._set_list(a, n, append=True)),
            C(S + ":LIST:POINts", query=Q(lambda ch: str(len(ch.list_values)))),
            C(S + ":LIST:DWELl", query=Q(lambda ch: _fmt(ch.list_dwell)),
              write=W(lambda ch, t: setattr(ch, "list_dwell", parse_float(t, 2e-6, 3600)))),
            C(S + ":LIST:TMODe", query=Q(lambda ch: ch.list_tmode),
              write=W(lambda ch, t: setattr(ch, "list_tmode", parse_choice(t, {"AUTO": "AUTO", "STEPped": "STEP"})))),
            C(S + ":LIST:DIRection", query=Q(lambda ch: ch.list_dir),
              write=W(lambda ch, t: setattr(ch, "list_dir", parse_choice(t, {"UP": "UP", "DOWN": "DOWN"})))),
            C(S + ":LIST:COUNt", query=Q(lambda ch: str(ch.list_count)),
              write=W(lambda ch, t: setattr(ch, "list_count", _count(t)))),
            C(S + ":LIST:NCLeft", query=Q(lambda ch: str(ch.cycles_left if ch.mode == "LIST" else 0))),
            *[C(S + f":SWEep:{key}", query=Q(lambda ch, k=k, f=f: f[1](ch.sweep[k])),
                write=W(lambda ch, t, k=k, f=f: ch.sweep.__setitem__(k, f[0](t))))
              for key, k, f in (("STARt", "start", (lambda t: parse_float(t, -V_MAX, V_MAX), _fmt)),
                                ("STOP", "stop", (lambda t: parse_float(t, -V_MAX, V_MAX), _fmt)),
                                ("POINts", "points", (lambda t: int(parse_float(t, 2, 1e8)), str)),
                                ("DWELl", "dwell", (lambda t: parse_float(t, 2e-6, 3600), _fmt)),
                                ("GENeration", "gen", (lambda t: parse_choice(t, _GENERATION), str)),
                                ("DIRection", "dir", (lambda t: parse_choice(t, {"UP": "UP", "DOWN": "DOWN"}), str)),
                                ("COUNt", "count", (_count, str)))],
            C(S + ":SWEep:TIME", query=Q(lambda ch: _fmt(ch.sweep["points"] * ch.sweep["dwell"]))),
            C(S + ":SWEep:NCLeft", query=Q(lambda ch: str(ch.cycles_left if ch.mode == "SWE" else 0))),
            C(":TINTernal", write=lambda a: self.fire_internal(int(parse_float(self.need(a)[0], 1, N_INTERNAL)),
                                                                 self.lab.now())),
            *[C(f":OUTPut:TRIGger#:{key}", query=lambda a, n, k=k, f=f: f[1](self._out(n)[k]),
                write=lambda a, n, k=k, f=f: self._out(n).__setitem__(k, f[0](self.need(a)[0])))
              for key, k, f in (("SOURce", "source", (_trigger_word, str)),
                                ("WIDTh", "width", (lambda t: parse_float(t, 1e-6, 1.0), _fmt)),
                                ("POLarity", "polarity", (lambda t: parse_choice(t, _POLARITY), str)),
                                ("DELay", "delay", (lambda t: parse_float(t, 0, 3600), _fmt)))],
            C(":OUTPut:TRIGger#:SIGNal", write=lambda a, n: self._fire_output(int(n), self.lab.now())),
            C(":SENSe#:NCLeft", query=Q(lambda ch: "0")),
            C(":SENSe#:DATA:LAST", query=Q(lambda ch: _fmt(ch.sense_data[-1]) if ch.sense_data else self._current(ch))),
            C(":SENSe#:DATA:POINts", query=Q(lambda ch: str(len(ch.sense_data)))),
            C(":SENSe#:DATA:REMove", query=Q(self._remove_data)),
            C(":SENSe#:INITiate", write=A(self._sense_initiate)),
            C(":SENSe#:INITiate:CONTinuous", query=Q(lambda ch: str(int(ch.sense_cont))),
              write=W(lambda ch, t: setattr(ch, "sense_cont", parse_bool(t)))),
            C(":SENSe#:TRIGger:SOURce", query=Q(lambda ch: ch.sense_trigger),
              write=W(lambda ch, t: setattr(ch, "sense_trigger", _trigger_word(t)))),
            C(":SENSe#:ABORt", write=A(lambda ch: None)),
            C(":SENSe#:RANGe", query=Q(lambda ch: ch.sense_range),
              write=W(lambda ch, t: setattr(ch, "sense_range", parse_choice(t, _RANGES)))),
            C(":SENSe#:NPLCycles", query=Q(lambda ch: _fmt(ch.nplc)),
              write=W(lambda ch, t: setattr(ch, "nplc", parse_float(t, 1, 100)))),
            C(":SENSe#:APERture", query=Q(lambda ch: _fmt(ch.aperture)),
              write=W(lambda ch, t: setattr(ch, "aperture", parse_float(t, 0.0003, 1.0)))),
            C(":SENSe#:DELay", query=Q(lambda ch: _fmt(ch.sense_delay)),
              write=W(lambda ch, t: setattr(ch, "sense_delay", parse_float(t, 0.0, 1.0)))),
            C(":SENSe#:COUNt", query=Q(lambda ch: str(ch.sense_count)),
              write=W(lambda ch, t: setattr(ch, "sense_count", int(parse_float(t, 1, 1e6))))),
            C(":READ#", query=Q(self._current)),
            C(":FETCh#", query=Q(self._current)),
        ]

    # ---- DC lists and sweeps, triggers and markers --------------------------------------------------------
    def trigger_output_names(self) -> list[str]:
        """The rear trigger outputs 1-5 (``outp:trig#``)."""
        return [f"trig_out_{n}" for n in range(1, N_OUTPUTS + 1)]

    def trigger_input_names(self) -> list[str]:
        return [f"trig_in_{n}" for n in range(1, N_INPUTS + 1)]

    def on_trigger(self, input_name: str, t: float) -> None:
        """A pulse on external input n: generators waiting for ``ext n`` go on; outputs routed from it repeat it."""
        n = int(input_name.rsplit("_", 1)[1])
        self._deliver(f"EXT{n}", t)

    def bus_trigger(self) -> None:
        self._deliver("BUS", self.lab.now())

    def fire_internal(self, n: int, t: float) -> None:
        """Internal trigger n at lab time t (``tint``, or a generator's marker)."""
        self._deliver(f"INT{n}", t)

    def _deliver(self, event: str, t: float) -> None:
        for ch in self.channels.values():
            if ch.run.running:
                ch.run.signal(event, t)
        for n, out in self.outputs.items():
            if out["source"] == event:
                self._fire_output(n, t + out["delay"])

    def _fire_output(self, n: int, t: float) -> None:
        if not 1 <= n <= N_OUTPUTS:
            raise CommandError(-114, "Header suffix out of range")
        self.lab.trigger_wiring.fire(self.name, f"trig_out_{n}", t)

    def _out(self, n) -> dict:
        n = int(n or 1)
        if n not in self.outputs:
            raise CommandError(-114, "Header suffix out of range")
        return self.outputs[n]

    def _set_list(self, args, suffix=None, append=False) -> None:
        chans, rest = self._channels(suffix, args)
        values = [parse_float(v, -V_MAX, V_MAX) for v in self.need(rest)]
        for ch in chans:
            ch.list_values = (ch.list_values if append else []) + values

    def _levels(self, ch: _Channel) -> list[float]:
        if ch.mode == "LIST":
            values, direction = list(ch.list_values), ch.list_dir
        else:
            sw = ch.sweep
            n = sw["points"]
            values = [sw["start"] + (sw["stop"] - sw["start"]) * k / (n - 1) for k in range(n)]
            direction = sw["dir"]
        return values[::-1] if direction == "DOWN" else values

    def _dc_initiate(self, ch: _Channel) -> None:
        if ch.mode == "FIX":
            return  # a FIXed level needs no generator
        if ch.mode == "LIST" and not ch.list_values:
            raise CommandError(-221, "Settings conflict")  # empty list
        ch.run.start(self._generator(ch), self.lab.now())

    def _generator(self, ch: _Channel):
        """One channel's list or sweep: wait for its trigger, then step through the levels, dwell at each, fire
        the markers; stepped lists wait for a trigger before every point. ANALog sweeps are stepped here."""
        levels = self._levels(ch)
        dwell = ch.list_dwell if ch.mode == "LIST" else ch.sweep["dwell"]
        count = ch.list_count if ch.mode == "LIST" else ch.sweep["count"]
        stepped = ch.mode == "LIST" and ch.list_tmode == "STEP"
        t = self.lab.now()
        while True:
            t = yield from self._wait_trigger(ch, t)
            t = yield t + ch.dc_delay
            self._marker(ch, "STAR", t)
            ch.cycles_left = count
            while ch.cycles_left != 0:
                for i, v in enumerate(levels):
                    if stepped and i > 0:
                        t = yield from self._wait_trigger(ch, t)
                    self._step_to(ch, v, t)
                    self._marker(ch, "SST", t)
                    t = yield t + dwell
                    self._marker(ch, "SEND", t)
                if ch.cycles_left > 0:
                    ch.cycles_left -= 1
            self._marker(ch, "END", t)
            if not ch.dc_cont:
                return

    def _wait_trigger(self, ch: _Channel, t: float):
        source = ch.dc_trigger
        if source.startswith("IMM"):
            return t
        return (yield "never" if source == "HOLD" else source)

    def _marker(self, ch: _Channel, which: str, t: float) -> None:
        if ch.markers[which]:
            self.fire_internal(ch.markers[which], t)

    def _step_to(self, ch: _Channel, level: float, t: float) -> None:
        ch.start = ch.level = ch.output = level
        ch.t0 = t
        target = self.lab.output_name(self.name, ch.number)
        if target is not None:
            self.lab.set_output(target, level, t=t)

    def handle(self, message: str) -> list[str]:
        if self._running_any():
            t = self.lab.now()
            for ch in self.channels.values():
                ch.run.advance(t)
        return super().handle(message)

    def _running_any(self) -> bool:
        return any(ch.run.running for ch in self.channels.values())

    # ---- current sensor -----------------------------------------------------------------------------------
    def _sense_initiate(self, ch: _Channel) -> None:
        """sens#:init: ``sens#:coun`` readings, stored for ``sens#:data:rem?``/``last?``."""
        for _ in range(ch.sense_count):
            ch.sense_data.append(float(self._current(ch)))

    def _remove_data(self, ch: _Channel) -> str:
        data, ch.sense_data = ch.sense_data, []
        return ",".join(_fmt(x) for x in data)

    # ---- status ---------------------------------------------------------------------------------------
    def pop_error(self) -> str:
        if self.errors:
            code, msg = self.errors.popleft()
            return f'{code}, "{msg}"'
        return '0, "No error"'

    def _all_errors(self) -> str:
        out = []
        while self.errors:
            out.append(self.pop_error())
        return ", ".join(out) if out else '0, "No error"'
