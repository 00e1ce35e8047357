"""Simulated Stanford Research SR830 DSP lock-in amplifier (SR830 manual, chapter 5: Remote Programming).

The input is the voltage the lab computes at the lock-in's A input for the lock-in's own sine output (through the
station's circuit). X and Y pass through the output filter (time constant OFLT, slope OFSL) in real time:
a gate step is seen as the filter predicts, and readings carry noise of the input noise density times the
filter's equivalent noise bandwidth. A signal above the sensitivity's full scale sets the output-overload bit
(LIAS bit 2) and the outputs saturate, as on the instrument.

Data buffer (manual: Data Storage): ``SRAT`` 0-13 stores a point of each channel display (CH1: X, R, X noise,
Aux 1/2; CH2: Y, theta, Y noise, Aux 3/4 as ``DDEF`` chooses; the ratio option is not simulated) every 1/rate
seconds from the start, ``SRAT 14`` one point per trigger (rear TRIG IN: :meth:`SR830Twin.on_trigger`, or the
``TRIG`` command; at most 512 per second). ``SEND 0`` stops when the 16383 points are full, ``SEND 1`` (loop) goes on
and overwrites the oldest. ``TSTR 1``: a trigger starts a scan at an internal rate. ``STRT`` starts or resumes, ``STRD`` starts 0.5 s later, ``PAUS``
pauses, ``REST`` clears. ``SPTS?`` counts the points; ``TRCA?`` reads them as ASCII (``+1.234567e-009,`` each),
``TRCB?`` as IEEE 754 single floats and ``TRCL?`` in the non-normalised format (16-bit mantissa, 16-bit exponent:
m 2^(e-124)), both binary, little endian, no terminator (END on the last byte). Points are the filter output at the
sample times, whatever the reads in between. ``FAST 1/2`` is kept as a setting: the fast transfer itself (X and Y
streamed over GPIB during the scan) is not simulated; the points go to the buffer as with ``FAST 0``.
"""

from __future__ import annotations

import cmath
import math
import struct
from collections import deque

from ...tables.sr830 import BUFFER_POINTS, SAMPLE_RATES_HZ, SENSITIVITIES_V, SRAT_TRIGGER, TIME_CONSTANTS_S
from ..binary import BinaryReply
from ..scpi import Command
from ..twin import CommandError
from .lockin_base import FilteredLockInTwin

#: outputs saturate at this multiple of full scale when overloaded
SATURATION = 1.09
#: STRD starts the scan this long after the command (SR830 manual, STRD)
STRD_DELAY_S = 0.5


_SQRT2 = math.sqrt(2)
#: SNAP? parameter text -> index, for the spellings drivers send
_SNAP_INDEX = {str(i): i for i in range(1, 12)}


def _fmt(v: float) -> str:
    return f"{v:.6e}"


class SR830Twin(FilteredLockInTwin):
    grammar = "sr"
    idn = "Stanford_Research_Systems,SR830,s/n86132,ver1.07"
    join_replies = False  # each reply goes out with its own terminator
    TIME_CONSTANT_CHANGED = 1 << 5  # LIAS bit 5
    #: standard event status bit 0 is INP (input queue overflow) on the SR830, and no bit reports operation
    #: complete: ``*OPC`` only waits (SR830 manual, "Status Byte Definitions")
    operation_complete_bit = None

    def reset(self) -> None:
        super().reset()
        self.s = {
            "PHAS": 0.0, "FMOD": 1, "FREQ": 1000.0, "RSLP": 0, "HARM": 1, "SLVL": 1.0,
            "ISRC": 0, "IGND": 0, "ICPL": 0, "ILIN": 0,
            "SENS": 26, "RMOD": 1, "OFLT": 8, "OFSL": 1, "SYNC": 0,
            "OUTX": 1, "OVRM": 0, "KCLK": 1, "ALRM": 1, "SRAT": 4, "SEND": 1, "TSTR": 0, "FAST": 0,
            "PSC": 1, "ERRE": 0, "LIAE": 0,
        }
        self.ddef = {1: [0, 0], 2: [0, 0]}
        self.oexp = {1: [0.0, 0], 2: [0.0, 0], 3: [0.0, 0]}
        self.auxv = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
        self.lias = 0
        self.errs = 0
        self.unlocked_until = -math.inf  #: fault injection: the reference is lost until then (lab clock)
        self._start_filter()  # output filter: complex stage outputs (X + iY, before the phase rotation)
        self._buffer_reset()

    # ---- signal path ----------------------------------------------------------------------------------
    def _order(self) -> int:
        return int(self.s["OFSL"]) + 1

    def _tau(self) -> float:
        return TIME_CONSTANTS_S[int(self.s["OFLT"])]

    def outputs(self) -> tuple[float, float]:
        """(X, Y) now, with filter noise, phase rotation and overload saturation."""
        x, y = self._sample_xy()
        fs = SENSITIVITIES_V[int(self.s["SENS"])]
        if math.hypot(x, y) > fs:
            self.lias |= 1 << 2
            limit = SATURATION * fs
            x = max(-limit, min(limit, x))
            y = max(-limit, min(limit, y))
        if abs(self._u) * _SQRT2 > 1.0:  # input above 1 V peak
            self.lias |= 1
        return x, y

    def _quantity(self, i: int, xy: tuple[float, float] | None = None) -> float:
        if 1 <= i <= 4:
            x, y = xy if xy is not None else self.outputs()
            if i == 1:
                return x
            if i == 2:
                return y
            return math.hypot(x, y) if i == 3 else math.degrees(math.atan2(y, x))
        if 5 <= i <= 8:
            return 0.0  # aux inputs: nothing connected
        if i == 9:
            return float(self.s["FREQ"])
        if i in (10, 11):
            return self._quantity(3 if self.ddef[i - 9][0] == 1 else 1 if i == 10 else 2, xy)
        raise CommandError(-224, "Illegal parameter value")

    # ---- commands -------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        num = self._numeric
        return [
            *self.common_commands(),
            C("*PSC", query=lambda a: str(self.s["PSC"]), write=lambda a: num("PSC", a, 0, 1, int)),
            C("ERRE", query=lambda a: self.bits_query(self.s["ERRE"], a), write=lambda a: self._enable("ERRE", a)),
            C("ERRS", query=lambda a: self.read_clear("errs", a)),
            C("LIAE", query=lambda a: self.bits_query(self.s["LIAE"], a), write=lambda a: self._enable("LIAE", a)),
            C("LIAS", query=self._read_lias),
            C("PHAS", query=lambda a: f"{self.s['PHAS']:.2f}", write=self._set_phase),
            C("FMOD", query=lambda a: str(self.s["FMOD"]), write=lambda a: num("FMOD", a, 0, 1, int)),
            C("FREQ", query=lambda a: f"{self.s['FREQ']:.4f}", write=self._set_freq),
            C("RSLP", query=lambda a: str(self.s["RSLP"]), write=lambda a: num("RSLP", a, 0, 2, int)),
            C("HARM", query=lambda a: str(self.s["HARM"]), write=self._set_harm),
            C("SLVL", query=lambda a: f"{self.s['SLVL']:.3f}", write=self._set_slvl),
            C("ISRC", query=lambda a: str(self.s["ISRC"]), write=lambda a: num("ISRC", a, 0, 3, int)),
            C("IGND", query=lambda a: str(self.s["IGND"]), write=lambda a: num("IGND", a, 0, 1, int)),
            C("ICPL", query=lambda a: str(self.s["ICPL"]), write=lambda a: num("ICPL", a, 0, 1, int)),
            C("ILIN", query=lambda a: str(self.s["ILIN"]), write=lambda a: num("ILIN", a, 0, 3, int)),
            C("SENS", query=lambda a: str(self.s["SENS"]), write=lambda a: num("SENS", a, 0, 26, int)),
            C("RMOD", query=lambda a: str(self.s["RMOD"]), write=lambda a: num("RMOD", a, 0, 2, int)),
            C("OFLT", query=lambda a: str(self.s["OFLT"]), write=self._set_oflt),
            C("OFSL", query=lambda a: str(self.s["OFSL"]), write=self._set_ofsl),
            C("SYNC", query=lambda a: str(self.s["SYNC"]), write=lambda a: num("SYNC", a, 0, 1, int)),
            C("DDEF", query=self._ddef_q, write=self._ddef_w),
            C("FPOP", query=lambda a: "1", write=lambda a: None),
            C("OEXP", query=self._oexp_q, write=self._oexp_w),
            C("AOFF", write=lambda a: self._channel(a, 3)),
            C("OAUX", query=lambda a: _fmt(self._aux_in(a))),
            C("AUXV", query=lambda a: f"{self.auxv[self._channel(a, 4)]:.3f}", write=self._auxv_w),
            C("OUTX", query=lambda a: str(self.s["OUTX"]), write=lambda a: num("OUTX", a, 0, 1, int)),
            C("OVRM", query=lambda a: str(self.s["OVRM"]), write=lambda a: num("OVRM", a, 0, 1, int)),
            C("KCLK", query=lambda a: str(self.s["KCLK"]), write=lambda a: num("KCLK", a, 0, 1, int)),
            C("ALRM", query=lambda a: str(self.s["ALRM"]), write=lambda a: num("ALRM", a, 0, 1, int)),
            C("LOCL", query=lambda a: "0", write=lambda a: None),
            C("SSET", write=lambda a: self._channel(a, 9)),
            C("RSET", write=lambda a: self._channel(a, 9)),
            C("AGAN", write=lambda a: self._auto_gain()),
            C("ARSV", write=lambda a: None),
            C("APHS", write=lambda a: self._auto_phase()),
            C("SRAT", query=lambda a: str(self.s["SRAT"]), write=lambda a: self._buffer_setting("SRAT", a, 14)),
            C("SEND", query=lambda a: str(self.s["SEND"]), write=lambda a: self._buffer_setting("SEND", a, 1)),
            C("TSTR", query=lambda a: str(self.s["TSTR"]), write=lambda a: num("TSTR", a, 0, 1, int)),
            C("FAST", query=lambda a: str(self.s["FAST"]), write=lambda a: num("FAST", a, 0, 2, int)),
            C("STRT", write=lambda a: self._scan_start(self._now())),
            C("STRD", write=lambda a: self._scan_start(self._now() + STRD_DELAY_S)),
            C("PAUS", write=lambda a: self._scan_pause()),
            C("REST", write=lambda a: self._buffer_reset()),
            C("TRIG", write=lambda a: self._trigger(self._now())),
            C("SPTS", query=lambda a: str(len(self._points()))),
            C("TRCA", query=self._trca),
            C("TRCB", query=lambda a: self._trace_binary(a, "<f")),
            C("TRCL", query=lambda a: self._trace_binary(a, None)),
            C("OUTP", query=lambda a: _fmt(self._quantity(self._index(a, 1, 4)))),
            C("OUTR", query=lambda a: _fmt(self._quantity(10 + self._index(a, 1, 2) - 1))),
            C("SNAP", query=self._snap),
        ]

    # ---- helpers ----------------------------------------------------------------------------------------
    def _exe_error(self) -> CommandError:
        return CommandError(-222, "Parameter out of range")

    def _numeric(self, key, args, low, high, kind=float) -> None:
        text = self.need(args)[0]
        try:
            value = float(text)
        except ValueError:
            raise CommandError(-104, "Data type error") from None
        if kind is int:
            if value != int(value):
                raise self._exe_error()
            value = int(value)
        if not low <= value <= high:
            raise self._exe_error()
        self.s[key] = value

    def _index(self, args, low, high) -> int:
        try:
            i = int(self.need(args)[0])
        except ValueError:
            raise CommandError(-104, "Data type error") from None
        if not low <= i <= high:
            raise self._exe_error()
        return i

    def _channel(self, args, high) -> int:
        return self._index(args, 1, high)

    def summary_bits(self) -> int:
        """Serial poll: bit 1 IFC (no command execution in progress: each command runs at once here) besides the
        error (2) and LIA (3) summaries."""
        return super().summary_bits() | 2

    def _enable(self, key: str, args) -> None:
        self.s[key] = self.bits_written(int(self.s[key]), args)

    def unlock_reference(self, seconds: float) -> None:
        """Fault injection: the reference input loses its signal for ``seconds`` (LIAS bit 3, UNLK)."""
        self.unlocked_until = self.lab.now() + seconds

    def _reference_status(self) -> None:
        if self.lab.now() < self.unlocked_until:
            self.lias |= 1 << 3

    def _read_lias(self, args) -> str:
        """LIAS?: the overloads are evaluated on the present signal, the reference on the present time."""
        self.outputs()
        self._reference_status()
        return self.read_clear("lias", args)

    def _set_phase(self, args) -> None:
        self._numeric("PHAS", args, -360.0, 729.99)
        p = self.s["PHAS"]
        self.s["PHAS"] = ((p + 180.0) % 360.0) - 180.0

    def _set_freq(self, args) -> None:
        self._numeric("FREQ", args, 0.001, 102000.0 / int(self.s["HARM"]))

    def _set_harm(self, args) -> None:
        self._numeric("HARM", args, 1, min(19999, int(102000.0 / self.s["FREQ"])), int)
        self._on_change(self.lab.now())

    def _set_slvl(self, args) -> None:
        self._numeric("SLVL", args, 0.004, 5.000)
        self.s["SLVL"] = round(self.s["SLVL"], 3)  # 2 mV resolution on the instrument; 1 mV here
        self._on_change(self.lab.now())

    def _set_oflt(self, args) -> None:
        self._change_filter(lambda: self._numeric("OFLT", args, 0, 19, int))

    def _set_ofsl(self, args) -> None:
        self._change_filter(lambda: self._numeric("OFSL", args, 0, 3, int))

    def _ddef_q(self, args) -> str:
        j, k = self.ddef[self._channel(args, 2)]
        return f"{j},{k}"

    def _ddef_w(self, args) -> None:
        args = self.need(args, 2)
        ch = self._channel(args[:1], 2)
        j = self._index(args[1:2], 0, 4)
        k = self._index(args[2:3], 0, 2) if len(args) > 2 else 0
        self.ddef[ch] = [j, k]

    def _oexp_q(self, args) -> str:
        x, j = self.oexp[self._channel(args, 3)]
        return f"{x:.2f},{j}"

    def _oexp_w(self, args) -> None:
        args = self.need(args, 3)
        ch = self._channel(args[:1], 3)
        try:
            x = float(args[1])
        except ValueError:
            raise CommandError(-104, "Data type error") from None
        if not -105.0 <= x <= 105.0:
            raise self._exe_error()
        self.oexp[ch] = [x, self._index(args[2:3], 0, 2)]

    def _aux_in(self, args) -> float:
        self._channel(args, 4)
        return 0.0

    def _auxv_w(self, args) -> None:
        args = self.need(args, 2)
        ch = self._channel(args[:1], 4)
        try:
            v = float(args[1])
        except ValueError:
            raise CommandError(-104, "Data type error") from None
        if not -10.5 <= v <= 10.5:
            raise self._exe_error()
        self.auxv[ch] = v

    def _snap(self, args) -> str:
        # the usual index spellings straight from a table; anything else through _index (its errors)
        idx = [_SNAP_INDEX.get(a) or self._index([a], 1, 11) for a in self.need(args, 2)]
        if len(idx) > 6:
            raise self._exe_error()
        xy = self.outputs()  # one simultaneous sample of X and Y
        if idx == [1, 2]:
            return f"{xy[0]:.6e},{xy[1]:.6e}"
        return ",".join(_fmt(self._quantity(i, xy)) for i in idx)

    def _auto_gain(self) -> None:
        """AGAN: the smallest sensitivity that holds the settled signal."""
        r = abs(self._u)
        for i, fs in enumerate(SENSITIVITIES_V):
            if r < 0.8 * fs:
                self.s["SENS"] = i
                return
        self.s["SENS"] = len(SENSITIVITIES_V) - 1

    def _auto_phase(self) -> None:
        self.s["PHAS"] = round(math.degrees(cmath.phase(self._u)) if abs(self._u) else 0.0, 2)

    # ---- data buffer --------------------------------------------------------------------------------------
    def on_trigger(self, input_name: str, t: float) -> None:
        """A TTL edge at the rear-panel input ``trig_in`` (TRIG IN) at simulated time ``t``."""
        if input_name != "trig_in":
            raise ValueError(f"SR830 {self.name}: no trigger input {input_name!r} (it has 'trig_in')")
        self.lab.tick()
        t = max(t, self._t)
        self._advance(t)
        self._trigger(t)

    def _buffer_reset(self) -> None:
        """REST (and power-on): buffer empty, scan stopped."""
        self._buffer: deque = deque(maxlen=BUFFER_POINTS)
        self._scan = "reset"  # reset | running | paused | done
        self._scan_t0 = 0.0
        self._scan_k = 0
        self._last_trigger = -math.inf
        self._next_sample = math.inf

    def _buffer_setting(self, key: str, args, high: int) -> None:
        """SRAT and SEND: refused while a scan runs or waits for its trigger (pause or reset it first)."""
        if self._scan in ("running", "armed"):
            raise CommandError(-221, "Settings conflict;pause or reset the data buffer first")
        self._numeric(key, args, 0, high, int)

    def _scan_start(self, t0: float) -> None:
        """STRT/STRD: start (or resume) storing at ``t0``; with TSTR 1 and an internal rate (the only case the
        manual applies it to) the scan waits for a trigger instead."""
        if self._scan == "running" or self._scan == "done":
            return
        if self._scan == "reset" and self.s["TSTR"] == 1 and int(self.s["SRAT"]) != SRAT_TRIGGER:
            self._scan = "armed"
            return
        self._run_from(t0)

    def _run_from(self, t0: float) -> None:
        self._scan = "running"
        self._scan_t0 = t0
        self._scan_k = 0
        srat = int(self.s["SRAT"])
        self._next_sample = math.inf if srat == SRAT_TRIGGER else t0

    def _scan_pause(self) -> None:
        self._now()
        if self._scan == "running":
            self._scan = "paused"
            self._next_sample = math.inf

    def _trigger(self, t: float) -> None:
        """A trigger at ``t`` (filter already evolved to ``t``): starts an armed scan (TSTR 1), or takes a point
        when the sample rate is 'trigger' (SRAT 14). The instrument samples on its next 512 Hz tick (within 2 ms):
        taken here at the edge itself. Triggers closer than 1/512 s to the last one are ignored (manual)."""
        if self._scan == "armed":
            self._run_from(t)
        elif self._scan == "running" and int(self.s["SRAT"]) == SRAT_TRIGGER:
            if t - self._last_trigger < 1.0 / SAMPLE_RATES_HZ[-1]:
                return
            self._last_trigger = t
            self._store(self._stages[-1])

    def _take_sample(self, t: float, z: complex) -> None:
        self._store(z)
        self._scan_k += 1
        self._next_sample = self._scan_t0 + self._scan_k / SAMPLE_RATES_HZ[int(self.s["SRAT"])]
        if self._scan != "running":
            self._next_sample = math.inf

    def _skip_overwritten(self, t: float) -> None:
        if self.s["SEND"] != 1:  # one shot: stops when full
            return
        period = 1.0 / SAMPLE_RATES_HZ[int(self.s["SRAT"])]
        due = math.floor((t - self._next_sample) / period) + 1
        if due > BUFFER_POINTS:
            self._buffer.clear()  # every point now stored is overwritten by the ones due
            self._scan_k += due - BUFFER_POINTS
            self._next_sample = self._scan_t0 + self._scan_k * period

    def _store(self, z: complex) -> None:
        """Store the two channel displays of one reading of the filter output ``z``."""
        x, y = self._noisy(z)
        fs = SENSITIVITIES_V[int(self.s["SENS"])]
        if math.hypot(x, y) > fs:  # the displays saturate as the outputs do, and the output overload latches
            self.lias |= 1 << 2
            limit = SATURATION * fs
            x = max(-limit, min(limit, x))
            y = max(-limit, min(limit, y))
        ch1 = (x, math.hypot(x, y), self._noise_sigma(), 0.0, 0.0)[self.ddef[1][0]]
        ch2 = (y, math.degrees(math.atan2(y, x)), self._noise_sigma(), 0.0, 0.0)[self.ddef[2][0]]
        self._buffer.append((ch1, ch2))
        if len(self._buffer) == BUFFER_POINTS and self.s["SEND"] == 0:  # one shot: the scan ends when full
            self._scan = "done"
            self._next_sample = math.inf

    def _points(self) -> deque:
        self._now()
        return self._buffer

    def _trace_args(self, args) -> tuple[int, list[tuple[float, float]]]:
        """(channel index 0/1, the k points from bin j) of ``TRC? i,j,k``; bins beyond the stored points are an
        error, as on the instrument."""
        args = self.need(args, 3)
        ch = self._channel(args[:1], 2) - 1
        points = self._points()
        n = len(points)
        j = self._index(args[1:2], 0, n - 1)  # an empty buffer has no bin: refused
        k = self._index(args[2:3], 1, n - j)
        return ch, [points[i] for i in range(j, j + k)]

    def _trca(self, args) -> str:
        """TRCA?: each point as the manual prints it, signed with a three-digit exponent and followed by a comma
        ("-1.234567e-009,+7.654321e-009,")."""
        ch, pts = self._trace_args(args)
        out = []
        for p in pts:
            mantissa, _, exponent = f"{p[ch]:+.6e}".partition("e")
            out.append(f"{mantissa}e{exponent[0]}{int(exponent[1:]):03d},")
        return "".join(out)

    def _trace_binary(self, args, fmt: str | None) -> BinaryReply:
        ch, pts = self._trace_args(args)
        values = [p[ch] for p in pts]
        if fmt is not None:
            data = struct.pack(f"{fmt[0]}{len(values)}{fmt[1]}", *values)
        else:
            data = b"".join(struct.pack("<hh", *_non_normalised(v)) for v in values)
        return BinaryReply(data.decode("latin-1"))


def _non_normalised(value: float) -> tuple[int, int]:
    """TRCL's point format: (mantissa, exponent) with value = mantissa 2^(exponent - 124), |mantissa| < 2^15."""
    if value == 0.0:
        return 0, 124
    frac, exp = math.frexp(value)  # value = frac 2^exp, 0.5 <= |frac| < 1
    mantissa = round(frac * 2 ** 15)
    if abs(mantissa) == 2 ** 15:  # rounded up to the next power of two
        mantissa //= 2
        exp += 1
    return mantissa, exp - 15 + 124
