"""Simulated Stanford Research SR830 DSP lock-in amplifier (SR830 manual, chapter 5: Remote Programming).

The input is the voltage the lab computes at the lock-in's A input for the lock-in's own sine output (through the
station's circuit). X and Y pass through the output filter (time constant OFLT, slope OFSL) in real time:
a gate step is seen as the filter predicts, and readings carry noise of the input noise density times the
filter's equivalent noise bandwidth. A signal above the sensitivity's full scale sets the output-overload bit
(LIAS bit 2) and the outputs saturate, as on the instrument.
"""

from __future__ import annotations

import cmath
import math

from ..scpi import Command
from ..twin import CommandError
from .lockin_base import FilteredLockInTwin

#: SENS index -> full scale (V rms)
SENSITIVITIES = [2e-9, 5e-9, 1e-8, 2e-8, 5e-8, 1e-7, 2e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4,
                 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0]
#: OFLT index -> time constant (s)
TIME_CONSTANTS = [10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1.0, 3.0, 10.0, 30.0,
                  100.0, 300.0, 1e3, 3e3, 10e3, 30e3]
#: outputs saturate at this multiple of full scale when overloaded
SATURATION = 1.09


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

    def reset(self) -> None:
        super().reset()
        self.s = {
            "PHAS": 0.0, "FMOD": 1, "FREQ": 1000.0, "RSLP": 0, "HARM": 1, "SLVL": 1.0,
            "ISRC": 0, "IGND": 0, "ICPL": 0, "ILIN": 0,
            "SENS": 26, "RMOD": 1, "OFLT": 8, "OFSL": 1, "SYNC": 0,
            "OUTX": 1, "OVRM": 0, "KCLK": 1, "ALRM": 1, "SRAT": 4, "SEND": 1, "TSTR": 0,
            "ESE": 0, "SRE": 0, "PSC": 1, "ERRE": 0, "LIAE": 0,
        }
        self.ddef = {1: [0, 0], 2: [0, 0]}
        self.oexp = {1: [0.0, 0], 2: [0.0, 0], 3: [0.0, 0]}
        self.auxv = {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0}
        self.lias = 0
        self.esr = 0
        self.errs = 0
        self.unlocked_until = -math.inf  #: fault injection: the reference is lost until then (lab clock)
        self._start_filter()  # output filter: complex stage outputs (X + iY, before the phase rotation)

    # ---- signal path ----------------------------------------------------------------------------------
    def _order(self) -> int:
        return int(self.s["OFSL"]) + 1

    def _tau(self) -> float:
        return TIME_CONSTANTS[int(self.s["OFLT"])]

    def outputs(self) -> tuple[float, float]:
        """(X, Y) now, with filter noise, phase rotation and overload saturation."""
        x, y = self._sample_xy()
        fs = SENSITIVITIES[int(self.s["SENS"])]
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
            C("*IDN", query=lambda a: self.idn),
            C("*RST", write=lambda a: self.reset()),
            C("*CLS", write=lambda a: self._cls()),
            C("*ESE", query=lambda a: self._bitq("ESE", a), write=lambda a: self._bitset("ESE", a)),
            C("*ESR", query=lambda a: self._read_clear("esr", a)),
            C("*SRE", query=lambda a: self._bitq("SRE", a), write=lambda a: self._bitset("SRE", a)),
            C("*STB", query=lambda a: str(self.status_byte()) if not a else str((self.status_byte() >> int(a[0])) & 1)),
            C("*PSC", query=lambda a: str(self.s["PSC"]), write=lambda a: num("PSC", a, 0, 1, int)),
            C("*OPC", query=lambda a: "1", write=lambda a: None),
            C("*WAI", write=lambda a: None),
            C("*TRG", write=lambda a: None),
            C("ERRE", query=lambda a: self._bitq("ERRE", a), write=lambda a: self._bitset("ERRE", a)),
            C("ERRS", query=lambda a: self._read_clear("errs", a)),
            C("LIAE", query=lambda a: self._bitq("LIAE", a), write=lambda a: self._bitset("LIAE", a)),
            C("LIAS", query=lambda a: self._read_clear("lias", a)),
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
            C("SRAT", query=lambda a: str(self.s["SRAT"]), write=lambda a: num("SRAT", a, 0, 14, int)),
            C("SEND", query=lambda a: str(self.s["SEND"]), write=lambda a: num("SEND", a, 0, 1, int)),
            C("TSTR", query=lambda a: str(self.s["TSTR"]), write=lambda a: num("TSTR", a, 0, 1, int)),
            C("STRT", write=lambda a: None),
            C("PAUS", write=lambda a: None),
            C("REST", write=lambda a: None),
            C("TRIG", write=lambda a: None),
            C("SPTS", query=lambda a: "0"),
            C("FAST", query=lambda a: "0", write=lambda a: None),
            C("OUTP", query=lambda a: _fmt(self._quantity(self._index(a, 1, 4)))),
            C("OUTR", query=lambda a: _fmt(self._quantity(10 + self._index(a, 1, 2) - 1))),
            C("SNAP", query=self._snap),
        ]

    # ---- helpers ----------------------------------------------------------------------------------------
    def _exe_error(self) -> CommandError:
        return CommandError(-222, "Parameter out of range")

    def push_error(self, code: int, message: str) -> None:
        super().push_error(code, message)
        self.esr |= (1 << 5) if -199 <= code <= -100 else (1 << 4)  # CMD or EXE bit of *ESR

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

    def status_byte(self) -> int:
        """Serial poll status: bit 0 SCN, 1 IFC, 2 ERR, 3 LIA, 4 MAV, 5 ESB, 6 SRQ."""
        return ((4 if self.errs & self.s["ERRE"] else 0) | (8 if self.lias & self.s["LIAE"] else 0)
                | (32 if self.esr & self.s["ESE"] else 0) | 2)

    def _cls(self) -> None:
        self.esr = self.errs = self.lias = 0
        self.errors.clear()

    def _bitq(self, key, args) -> str:
        v = int(self.s[key])
        return str(v) if not args else str((v >> self._index(args, 0, 7)) & 1)

    def _bitset(self, key, args) -> None:
        args = self.need(args)
        if len(args) == 1:
            self._numeric(key, args, 0, 255, int)
        else:
            bit = self._index(args[:1], 0, 7)
            on = self._index(args[1:], 0, 1)
            self.s[key] = (int(self.s[key]) & ~(1 << bit)) | (on << bit)

    def unlock_reference(self, seconds: float) -> None:
        """Fault injection: the reference input loses its signal for ``seconds`` (LIAS bit 3, UNLK)."""
        self.unlocked_until = self.lab.now() + seconds

    def _reference_status(self) -> None:
        if self.lab.now() < self.unlocked_until:
            self.lias |= 1 << 3

    def _read_clear(self, attr: str, args) -> str:
        """Read a status register (all, or bit i); reading clears what was read, as the manual says."""
        if attr == "lias":
            self.outputs()  # overload is evaluated on the present signal
            self._reference_status()
        value = getattr(self, attr)
        if args:
            bit = self._index(args, 0, 7)
            setattr(self, attr, value & ~(1 << bit))
            return str((value >> bit) & 1)
        setattr(self, attr, 0)
        return str(value)

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
        old_tau, old_order = self._tau(), self._order()
        self._numeric("OFLT", args, 0, 19, int)
        self._filter_changed(old_tau, old_order)

    def _set_ofsl(self, args) -> None:
        old_tau, old_order = self._tau(), self._order()
        self._numeric("OFSL", args, 0, 3, int)
        self._filter_changed(old_tau, old_order)

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
        for i, fs in enumerate(SENSITIVITIES):
            if r < 0.8 * fs:
                self.s["SENS"] = i
                return
        self.s["SENS"] = len(SENSITIVITIES) - 1

    def _auto_phase(self) -> None:
        self.s["PHAS"] = round(math.degrees(cmath.phase(self._u)) if abs(self._u) else 0.0, 2)
