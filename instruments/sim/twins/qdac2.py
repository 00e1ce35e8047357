"""Simulated QDevil QDAC-II 24-channel DAC (SCPI, QDAC-II command reference; QDevil's QCoDeS driver).

Each channel drives whatever the station wires to ``(instrument, channel)`` (``channel:`` key of a gate), so two
halves of a split gate may sit on two channels. A channel is addressed by the numeric suffix
(``sour3:volt -0.5``) or by a channel list argument (``sour:volt -0.5,(@3,4)``, ``sour:volt? (@1:3)``).

Behaviour simulated:

- DC level -10 V ... +10 V on every channel; outside it the setting is refused with SCPI -222
  "Data out of range" in the error queue (``syst:err?``, ``syst:err:all?``, ``syst:err:coun?``), the level unchanged.
- DC mode FIXed applies a new level at once; in SWEep/LIST mode (generators, not simulated) a level is stored and
  applied when the mode returns to FIXed.
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
from ..twin import CommandError, ScpiStatusTwin, parse_choice, parse_float

N_CHANNELS = 24
V_MAX = 10.0
_RANGES = {"LOW": "LOW", "HIGH": "HIGH"}
_FILTERS = {"DC": "DC", "MEDium": "MED", "HIGH": "HIGH"}
_MODES = {"FIXed": "FIX", "SWEep": "SWE", "LIST": "LIST"}
_TRIG_WORD = re.compile(r"^(HOLD|BUS|IMM(EDIATE)?|INT\d+|EXT\d+)$", re.I)


def _fmt(v: float) -> str:
    return f"{v:.9g}"


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
        self.dc_cont = True
        self.output = 0.0         # what the sample sees now (V)
        self.level_pending: float | None = None  # a level set outside FIXed mode

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
        self.esr = 0
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
        return [
            C("*IDN", query=lambda a: self.idn),
            C("*RST", write=lambda a: self.reset()),
            C("*CLS", write=lambda a: self._cls()),
            C("*OPC", query=lambda a: "1", write=lambda a: None),
            C("*WAI", write=lambda a: None),
            C("*TRG", write=lambda a: None),
            C("*ESR", query=lambda a: self._esr()),
            C("*STB", query=lambda a: str(self.status_byte())),
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:ERRor:ALL", query=lambda a: self._all_errors()),
            C(":SYSTem:ERRor:COUNt", query=lambda a: str(len(self.errors))),
            C(":ABORt", write=lambda a: None),
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
            C(S + ":DC:INITiate", write=A(lambda ch: None)),
            C(S + ":DC:ABORt", write=A(lambda ch: None)),
            C(S + ":ALL:ABORt", write=A(lambda ch: None)),
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
