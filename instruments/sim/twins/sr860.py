"""Simulated Stanford Research SR860 and SR865/SR865A DSP lock-in amplifiers (SR86x manual, chapter 4: Remote
Operation).

The SR86x command set differs from the SR830's: sensitivity is ``SCAL`` (index 0 = 1 V ... 27 = 1 nV), time
constants run from 1 us (``OFLT`` 0) to 30 ks (21), outputs are indexed from 0 (``OUTP? 0`` is X; the tokens
``X``, ``Y``, ``R``, ``THeta`` are accepted too), ``SNAP?`` takes two or three parameters and ``SNAPD?`` returns
X, Y, R, theta. The input has its own range (``IRNG``: 1 V, 300 mV, 100 mV, 30 mV, 10 mV peak); the sensitivity
scales the displays and analog outputs only, so read-outs are not clipped at full scale as on the SR830 but the
channel-output overload bits are set.

Physics as in :mod:`.sr830`: the input is what the lab computes for this lock-in's sine output through the
station's circuit; X and Y pass through the n-stage output filter in real time (``lab.now()``), and readings carry
the input noise density times the square root of the filter's equivalent noise bandwidth.

LIA status register (``LIAS?``, latched, cleared by reading or ``*CLS``) as SRS defines it, of which the twin sets:
bit 0 channel 1 output overload (X beyond the sensitivity's full scale), bit 1 channel 2 output overload (Y),
bit 4 input range overload. ``CUROVLDSTAT?`` returns the present (unlatched) overload state in the same bits.
Serial poll status byte: bit 2 ERR, 3 LIA, 4 MAV, 5 ESB, 6 MSS.
"""

from __future__ import annotations

import cmath
import math
import struct

from ...lockin_filter import enbw_Hz
from ...tables.sr86x import (CAPTURE_CONFIGS, CAPTURE_LENGTH_KB, CAPTURE_RATE_MAX_HZ, CAPTUREGET_MAX_KB,
                             INPUT_RANGES_V, SENSITIVITIES_V, TIME_CONSTANTS_S)
from ..binary import BinaryReply
from ..scpi import Command
from ..twin import CommandError
from .lockin_base import FilteredLockInTwin

#: SNAP?/OUTP? parameter tokens (manual spelling: capitals are the short form) -> index
_PARAM_TOKENS = ["X", "Y", "R", "THeta", "IN1", "IN2", "IN3", "IN4", "XNOise", "YNOise", "OUT1", "OUT2",
                 "PHAse", "SAMp", "LEVel", "FInt", "FExt"]


def _fmt(v: float) -> str:
    return f"{v:.6e}"


def _param_index(text: str, high: int) -> int:
    i = _token_index(text, _PARAM_TOKENS)
    if i > high:
        raise CommandError(-222, "Parameter out of range")
    return i


class SR860Twin(FilteredLockInTwin):
    grammar = "sr"
    idn = "Stanford_Research_Systems,SR860,003141,v1.51"
    #: SR86x manual, chapter 4 (command syntax): answers to several queries in one message come back as one
    #: semicolon-separated reply (the SR830 sends each with its own terminator)
    join_replies = True
    max_frequency_Hz = 500e3
    #: ``*OPC`` waits and sets no event bit, as the SR830's (bit 0 of the SR86x's standard event register is not
    #: confirmed from its manual here)
    operation_complete_bit = None

    def reset(self) -> None:
        super().reset()
        self.s = {
            "PHAS": 0.0, "FREQ": 1000.0, "HARM": 1, "HARMDUAL": 1, "SLVL": 0.0, "SOFF": 0.0, "REFM": 0,
            "RSRC": 0, "RTRG": 0, "REFZ": 0, "TBMODE": 0,
            "IVMD": 0, "ISRC": 0, "ICPL": 0, "IGND": 0, "IRNG": 0, "ICUR": 0,
            "SCAL": 0, "OFLT": 12, "OFSL": 3, "SYNC": 0, "ADVFILT": 1,
            "OVRM": 1, "DBLK": 0, "DLAY": 0, "GSPD": 0, "LIAE": 0, "ERRE": 0, "PSC": 1,
        }
        self.cdsp = {0: 0, 1: 1, 2: 2, 3: 3}
        self.cgrf = {0: 1, 1: 1, 2: 0, 3: 0}
        self.auxv = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}
        self.presets = {k: {i: d for i in range(4)} for k, d in (("PSTF", 1000.0), ("PSTA", 1e-3), ("PSTL", 0.0))}
        self.offsets = {0: [0, 0.0, 1], 1: [0, 0.0, 1], 2: [0, 0.0, 1]}  # COFA, COFP, CEXP per X/Y/R
        self.capture = {"len": 256, "cfg": 1, "rate": 0}
        self._capture_reset()
        self.lias = 0
        self.errs = 0
        self._start_filter()

    # ---- signal path --------------------------------------------------------------------------------------
    def _order(self) -> int:
        return int(self.s["OFSL"]) + 1

    def _tau(self) -> float:
        return TIME_CONSTANTS_S[int(self.s["OFLT"])]

    #: LIAS / CUROVLDSTAT bits
    CH1_OVERLOAD, CH2_OVERLOAD, INPUT_OVERLOAD = 1 << 0, 1 << 1, 1 << 4

    def _overload_now(self, x: float, y: float) -> int:
        """Overload bits now: the input beyond its range (peak), channel 1 (X) or 2 (Y) beyond full scale."""
        bits = 0
        if abs(self._u) * math.sqrt(2) > INPUT_RANGES_V[int(self.s["IRNG"])]:
            bits |= self.INPUT_OVERLOAD
        fs = SENSITIVITIES_V[int(self.s["SCAL"])]
        if abs(x) > fs:
            bits |= self.CH1_OVERLOAD
        if abs(y) > fs:
            bits |= self.CH2_OVERLOAD
        return bits

    def outputs(self) -> tuple[float, float]:
        """(X, Y) now: filter state, noise, phase rotation; an input overload clips at the input range."""
        x, y = self._sample_xy()
        bits = self._overload_now(x, y)
        self.lias |= bits
        if bits & self.INPUT_OVERLOAD:  # the ADC clips: at most the input range comes out (rms of a clipped sine)
            limit = INPUT_RANGES_V[int(self.s["IRNG"])] / math.sqrt(2)
            x = max(-limit, min(limit, x))
            y = max(-limit, min(limit, y))
        return x, y

    def _quantity(self, i: int, xy: tuple[float, float] | None = None) -> float:
        if i <= 3:
            x, y = xy if xy is not None else self.outputs()
            return (x, y, math.hypot(x, y), math.degrees(math.atan2(y, x)))[i]
        if 4 <= i <= 7:
            return 0.0  # aux inputs: nothing connected
        if i in (8, 9):
            return self._noise_sigma()
        if i in (10, 11):
            return self.auxv[i - 10]
        return {12: self._phase_reply(), 13: self.s["SLVL"], 14: self.s["SOFF"], 15: self.s["FREQ"],
                16: 0.0}[i]

    def _phase_reply(self) -> float:
        p = self.s["PHAS"]
        return ((p + 180.0) % 360.0) - 180.0

    # ---- commands -----------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        num = self._numeric
        simple = lambda key, lo, hi: C(key, query=lambda a: str(int(self.s[key])),  # noqa: E731
                                       write=lambda a: num(key, a, lo, hi, int))
        return [
            *self.common_commands(),
            C("*PSC", query=lambda a: str(int(self.s["PSC"])), write=lambda a: num("PSC", a, 0, 1, int)),
            C("LIAE", query=lambda a: str(int(self.s["LIAE"])), write=lambda a: num("LIAE", a, 0, 65535, int)),
            C("LIAS", query=self._read_lias),
            C("ERRE", query=lambda a: str(int(self.s["ERRE"])), write=lambda a: num("ERRE", a, 0, 255, int)),
            C("ERRS", query=lambda a: self.read_clear("errs", a, 15)),
            C("CUROVLDSTAT", query=lambda a: str(self._overload_now(*self.outputs()))),
            # reference
            C("PHAS", query=lambda a: f"{self._phase_reply():.6f}",
              write=lambda a: num("PHAS", a, -360000.0, 360000.0)),
            C("FREQ", query=lambda a: f"{self.s['FREQ']:.6e}", write=self._set_freq),
            C("FREQINT", query=lambda a: f"{self.s['FREQ']:.6e}", write=self._set_freq),
            C("FREQEXT", query=lambda a: _fmt(0.0)),
            C("FREQDET", query=lambda a: f"{self.s['FREQ'] * int(self.s['HARM']):.6e}"),
            C("HARM", query=lambda a: str(int(self.s["HARM"])), write=self._set_harm),
            C("HARMDUAL", query=lambda a: str(int(self.s["HARMDUAL"])), write=lambda a: num("HARMDUAL", a, 1, 99, int)),
            C("SLVL", query=lambda a: _fmt(self.s["SLVL"]), write=self._set_slvl),
            C("SOFF", query=lambda a: _fmt(self.s["SOFF"]), write=lambda a: num("SOFF", a, -5.0, 5.0)),
            simple("REFM", 0, 1), simple("RSRC", 0, 3), simple("RTRG", 0, 4), simple("REFZ", 0, 1),
            simple("TBMODE", 0, 1),
            C("TBSTAT", query=lambda a: "1"),
            # input
            simple("IVMD", 0, 1), simple("ISRC", 0, 1), simple("ICPL", 0, 1), simple("IGND", 0, 1),
            simple("ICUR", 0, 1),
            C("IRNG", query=lambda a: str(int(self.s["IRNG"])), write=self._set_irng),
            C("ILVL", query=lambda a: str(self._signal_level())),
            # gain and filter
            C("SCAL", query=lambda a: str(int(self.s["SCAL"])), write=lambda a: num("SCAL", a, 0, 27, int)),
            C("OFLT", query=lambda a: str(int(self.s["OFLT"])), write=self._set_oflt),
            C("OFSL", query=lambda a: str(int(self.s["OFSL"])), write=self._set_ofsl),
            simple("SYNC", 0, 1), simple("ADVFILT", 0, 1),
            C("ENBW", query=lambda a: _fmt(enbw_Hz(self._tau(), self._order()))),
            C("ARNG", write=lambda a: self._auto_range()),
            C("ASCL", write=lambda a: self._auto_scale()),
            C("APHS", write=lambda a: self._auto_phase()),
            # outputs
            C("OUTP", query=lambda a: _fmt(self._quantity(_param_index(self.need(a)[0], 3)))),
            C("SNAP", query=self._snap),
            C("SNAPD", query=lambda a: self._snapd()),
            C("AUXV", query=lambda a: _fmt(self.auxv[self._index(a, 0, 3)]), write=self._auxv_w),
            C("OAUX", query=lambda a: _fmt(0.0 * self._index(a, 0, 3))),
            C("COFA", query=lambda a: str(self.offsets[self._index(a, 0, 2)][0]),
              write=lambda a: self._offset_w(a, 0, 0, 1)),
            C("COFP", query=lambda a: f"{self.offsets[self._index(a, 0, 2)][1]:.4f}",
              write=lambda a: self._offset_w(a, 1, -999.99, 999.99)),
            C("CEXP", query=lambda a: str(self.offsets[self._index(a, 0, 2)][2]),
              write=lambda a: self._offset_w(a, 2, 0, 2)),
            # data capture buffer
            C("CAPTURELEN", query=lambda a: str(self.capture["len"]),
              write=lambda a: self._capture_setting("len", self._index(a, *CAPTURE_LENGTH_KB))),
            C("CAPTURECFG", query=lambda a: str(self.capture["cfg"]),
              write=lambda a: self._capture_setting("cfg", _token_index(self.need(a)[0], _CAPTURECFG_TOKENS))),
            C("CAPTURERATEMAX", query=lambda a: _fmt(self._capture_rate_max())),
            C("CAPTURERATE", query=lambda a: _fmt(self._capture_rate_max() / 2 ** self.capture["rate"]),
              write=lambda a: self._capture_setting("rate", self._index(a, 0, 20))),
            C("CAPTURESTART", write=self._capture_start),
            C("CAPTURESTOP", write=lambda a: self._capture_stop()),
            C("CAPTURESTAT", query=lambda a: str(self._capture_status())),
            C("CAPTUREBYTES", query=lambda a: str(self._captured_bytes())),
            C("CAPTUREPROG", query=lambda a: str(self._capture_progress_kb())),
            C("CAPTUREVAL", query=self._capture_val),
            C("CAPTUREGET", query=self._capture_get),
            # front panel and display
            simple("OVRM", 0, 1), simple("DBLK", 0, 1), simple("DLAY", 0, 5), simple("GSPD", 0, 16),
            C("CDSP", query=lambda a: str(self.cdsp[self._index(a, 0, 3)]),
              write=lambda a: self._dict_w(self.cdsp, a, 3, 16)),
            C("CGRF", query=lambda a: str(self.cgrf[self._index(a, 0, 3)]),
              write=lambda a: self._dict_w(self.cgrf, a, 3, 1)),
            C("DCAP", write=lambda a: None),
            C("PSTF", query=lambda a: _fmt(self.presets["PSTF"][self._index(a, 0, 3)]),
              write=lambda a: self._preset_w("PSTF", a, 1e-3, self.max_frequency_Hz)),
            C("PSTA", query=lambda a: _fmt(self.presets["PSTA"][self._index(a, 0, 3)]),
              write=lambda a: self._preset_w("PSTA", a, 1e-9, 2.0)),
            C("PSTL", query=lambda a: _fmt(self.presets["PSTL"][self._index(a, 0, 3)]),
              write=lambda a: self._preset_w("PSTL", a, -5.0, 5.0)),
        ]

    # ---- helpers ------------------------------------------------------------------------------------------
    def _parse(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise CommandError(-104, "Data type error") from None

    def _numeric(self, key, args, low, high, kind=float) -> None:
        value = self._parse(self.need(args)[0])
        if kind is int:
            if value != int(value):
                raise CommandError(-222, "Parameter out of range")
            value = int(value)
        if not low <= value <= high:
            raise CommandError(-222, "Parameter out of range")
        self.s[key] = value

    def _index(self, args, low, high) -> int:
        value = self._parse(self.need(args)[0])
        if value != int(value) or not low <= value <= high:
            raise CommandError(-222, "Parameter out of range")
        return int(value)

    def _read_lias(self, args) -> str:
        """LIAS?: the overloads are evaluated on the present signal first (16 bits: ``LIAS? i``, i up to 15)."""
        self.outputs()
        return self.read_clear("lias", args, 15)

    def _set_freq(self, args) -> None:
        self._numeric("FREQ", args, 1e-3, self.max_frequency_Hz / int(self.s["HARM"]))

    def _set_harm(self, args) -> None:
        self._numeric("HARM", args, 1, 99, int)
        if self.s["FREQ"] * self.s["HARM"] > self.max_frequency_Hz:
            self.s["HARM"] = max(1, int(self.max_frequency_Hz // self.s["FREQ"]))
            raise CommandError(-222, "Parameter out of range")
        self._on_change(self.lab.now())

    def _set_slvl(self, args) -> None:
        value = self._parse(self.need(args)[0])
        if not (value == 0.0 or 1e-9 <= value <= 2.0):
            raise CommandError(-222, "Parameter out of range")
        self.s["SLVL"] = value
        self._on_change(self.lab.now())

    def _set_irng(self, args) -> None:
        self._numeric("IRNG", args, 0, 4, int)

    def _set_oflt(self, args) -> None:
        self._change_filter(lambda: self._numeric("OFLT", args, 0, 21, int))

    def _set_ofsl(self, args) -> None:
        self._change_filter(lambda: self._numeric("OFSL", args, 0, 3, int))

    def _capture_rate_max(self) -> float:
        """Largest capture rate: 1.25 MHz divided by 2^n, at most about 4 / tau (approximation of the manual's
        time-constant dependent limit)."""
        rate = CAPTURE_RATE_MAX_HZ
        while rate > 4.0 / self._tau() and rate > CAPTURE_RATE_MAX_HZ / 2 ** 20:
            rate /= 2
        return rate

    def _signal_level(self) -> int:
        """ILVL?: 0 (low) .. 3 (near the range) .. 4 (overload) of the input against its range."""
        frac = abs(self._u) * math.sqrt(2) / INPUT_RANGES_V[int(self.s["IRNG"])]
        for level, edge in enumerate((0.1, 0.3, 0.6, 1.0)):
            if frac < edge:
                return level
        return 4

    def _auto_range(self) -> None:
        """ARNG: the smallest input range that holds the input signal."""
        peak = abs(self._u) * math.sqrt(2)
        for i in range(len(INPUT_RANGES_V) - 1, -1, -1):
            if peak < 0.9 * INPUT_RANGES_V[i]:
                self.s["IRNG"] = i
                return
        self.s["IRNG"] = 0

    def _auto_scale(self) -> None:
        """ASCL: the most sensitive scale that holds the settled signal."""
        r = abs(self._u)
        best = 0
        for i, fs in enumerate(SENSITIVITIES_V):
            if r < 0.8 * fs:
                best = i
        self.s["SCAL"] = best

    def _auto_phase(self) -> None:
        self.s["PHAS"] = round(math.degrees(cmath.phase(self._u)) if abs(self._u) else 0.0, 6)

    def _snap(self, args) -> str:
        args = self.need(args, 2)
        if len(args) > 3:
            raise CommandError(-222, "Parameter out of range")
        idx = [_param_index(a, 16) for a in args]
        xy = self.outputs()
        return ",".join(_fmt(self._quantity(i, xy)) for i in idx)

    def _snapd(self) -> str:
        xy = self.outputs()
        return ",".join(_fmt(self._quantity(i, xy)) for i in (0, 1, 2, 3))

    def _auxv_w(self, args) -> None:
        args = self.need(args, 2)
        ch = self._index(args[:1], 0, 3)
        v = self._parse(args[1])
        if not -10.5 <= v <= 10.5:
            raise CommandError(-222, "Parameter out of range")
        self.auxv[ch] = v

    def _offset_w(self, args, slot, low, high) -> None:
        args = self.need(args, 2)
        ch = self._index(args[:1], 0, 2)
        v = self._parse(args[1])
        if not low <= v <= high:
            raise CommandError(-222, "Parameter out of range")
        self.offsets[ch][slot] = int(v) if slot != 1 else v

    def _dict_w(self, table, args, high_key, high_value) -> None:
        args = self.need(args, 2)
        table[self._index(args[:1], 0, high_key)] = self._index(args[1:2], 0, high_value)

    def _preset_w(self, key, args, low, high) -> None:
        args = self.need(args, 2)
        i = self._index(args[:1], 0, 3)
        v = self._parse(args[1])
        if not low <= v <= high:
            raise CommandError(-222, "Parameter out of range")
        self.presets[key][i] = v


    # ---- data capture (SR86x manual: Data Capture) ----------------------------------------------------------
    def on_trigger(self, input_name: str, t: float) -> None:
        """A TTL edge at the rear-panel ``trig_in`` (TRIG IN) at simulated time ``t``: starts a capture waiting for
        its trigger (CAPTURESTART ..., TRIGstart), or takes one sample (SAMPpertrig)."""
        if input_name != "trig_in":
            model = self.idn.split(",")[1]
            raise ValueError(f"{model} {self.name}: no trigger input {input_name!r} (it has 'trig_in')")
        self.lab.tick()
        t = max(t, self._t)
        self._advance(t)
        if self._cap_state == "waiting":
            self._cap_state = "running"
            self._cap_triggered = True
            if self._cap_per_trigger:
                self._take_capture(self._stages[-1])
            else:
                self._cap_t0, self._cap_k, self._next_sample = t, 0, t
        elif self._cap_state == "running" and self._cap_per_trigger:
            self._take_capture(self._stages[-1])

    def _capture_reset(self) -> None:
        """No capture; the buffer empty (power-on, and a new CAPTURELEN/CAPTURECFG/CAPTURERATE)."""
        self._cap_data: list[float] = []  # floats in capture order, oldest first (wrapped in continuous mode)
        self._cap_state = "idle"  # idle | waiting (for a trigger) | running | stopped
        self._cap_triggered = False
        self._cap_wrapped = False
        self._cap_continuous = False
        self._cap_per_trigger = False
        self._cap_t0 = 0.0
        self._cap_k = 0
        self._next_sample = math.inf

    def _capture_setting(self, key: str, value: int) -> None:
        if self._cap_state in ("waiting", "running"):
            raise CommandError(-221, "Settings conflict;stop the capture first")
        self.capture[key] = value
        self._capture_reset()

    def _capture_start(self, args) -> None:
        """CAPTURESTART <ONE|CONTinuous>, <IMMediate|TRIGstart|SAMPpertrig>: clears the buffer and starts."""
        args = self.need(args, 2)
        continuous = _token_index(args[0], ("ONE", "CONTinuous")) == 1
        start = _token_index(args[1], ("IMMediate", "TRIGstart", "SAMPpertrig"))
        t = self._now()
        self._capture_reset()
        self._cap_continuous, self._cap_per_trigger = continuous, start == 2
        if start == 0:
            self._cap_state, self._cap_triggered = "running", True
            self._cap_t0, self._cap_k, self._next_sample = t, 0, t
        else:
            self._cap_state = "waiting"

    def _capture_stop(self) -> None:
        self._now()
        if self._cap_state in ("waiting", "running"):
            self._cap_state = "stopped"
        self._next_sample = math.inf

    def _capacity(self) -> int:
        """Floats the buffer holds: CAPTURELEN kB of 4-byte floats."""
        return self.capture["len"] * 1024 // 4

    def _take_sample(self, t: float, z: complex) -> None:
        self._take_capture(z)
        self._cap_k += 1
        self._next_sample = self._cap_t0 + self._cap_k * 2 ** self.capture["rate"] / self._capture_rate_max()
        if self._cap_state != "running":
            self._next_sample = math.inf

    def _skip_overwritten(self, t: float) -> None:
        if not self._cap_continuous:  # one shot: stops when full
            return
        period = 2 ** self.capture["rate"] / self._capture_rate_max()
        due = math.floor((t - self._next_sample) / period) + 1
        kept = self._capacity() // len(CAPTURE_CONFIGS[self.capture["cfg"]])
        if due > kept:
            self._cap_data.clear()  # all overwritten by the samples due
            self._cap_wrapped = True
            self._cap_k += due - kept
            self._next_sample = self._cap_t0 + self._cap_k * period

    def _take_capture(self, z: complex) -> None:
        """One capture sample of the filter output ``z``: the CAPTURECFG quantities, as the outputs read."""
        x, y = self._noisy(z)
        values = {"X": x, "Y": y, "R": math.hypot(x, y), "T": math.degrees(math.atan2(y, x))}
        self._cap_data.extend(values[q] for q in CAPTURE_CONFIGS[self.capture["cfg"]])
        if len(self._cap_data) >= self._capacity():
            self._cap_wrapped = True
            if self._cap_continuous:  # the oldest sample goes
                del self._cap_data[: len(self._cap_data) - self._capacity()]
            else:  # one shot: the capture ends with the buffer full
                del self._cap_data[self._capacity():]
                self._cap_state = "stopped"
                self._next_sample = math.inf

    def _capture_status(self) -> int:
        """CAPTURESTAT?: bit 0 recording, bit 1 triggered (started), bit 2 the buffer wrapped (full)."""
        self._now()
        return (1 if self._cap_state == "running" else 0) | (2 if self._cap_triggered else 0) | (
            4 if self._cap_wrapped else 0)

    def _captured_bytes(self) -> int:
        self._now()
        return 4 * len(self._cap_data)

    def _capture_progress_kb(self) -> int:
        """CAPTUREPROG?: kB captured, counted in 2 kB blocks; the capture must be stopped."""
        self._require_stopped()
        if self._cap_wrapped:
            return self.capture["len"]
        return 2 * math.ceil(4 * len(self._cap_data) / 2048)

    def _require_stopped(self) -> None:
        self._now()
        if self._cap_state in ("waiting", "running"):
            raise CommandError(-221, "Settings conflict;capture is running")

    def _capture_val(self, args) -> str:
        """CAPTUREVAL? n: sample n (0 the oldest) as comma-separated values; beyond the data, zeros."""
        self._now()
        per = len(CAPTURE_CONFIGS[self.capture["cfg"]])
        n = self._index(args, 0, self._capacity() // per - 1)
        chunk = self._cap_data[n * per: (n + 1) * per]
        return ",".join(_fmt(v) for v in chunk + [0.0] * (per - len(chunk)))

    def _capture_get(self, args) -> BinaryReply:
        """CAPTUREGET? i, j: j kB (at most 64) from offset i kB as a #n<count><bytes> block of little-endian floats;
        past CAPTURELEN it wraps, unfilled parts read zero. The capture must be stopped."""
        args = self.need(args, 2)
        self._require_stopped()
        offset = self._index(args[:1], 0, self.capture["len"] - 1)
        size = self._index(args[1:2], 1, CAPTUREGET_MAX_KB)
        cap = self._capacity()
        buffer = self._cap_data + [0.0] * (cap - len(self._cap_data))
        first = offset * 256
        values = [buffer[(first + i) % cap] for i in range(size * 256)]
        data = struct.pack(f"<{len(values)}f", *values)
        count = str(len(data))
        return BinaryReply(f"#{len(count)}{count}" + data.decode("latin-1"))


#: CAPTURECFG tokens, index = the numeric value
_CAPTURECFG_TOKENS = ("X", "XY", "RT", "XYRT")


def _token_index(text: str, tokens: tuple[str, ...]) -> int:
    """A parameter given as its index or as a token (short form: the capitals; or the whole word)."""
    t = text.strip().upper()
    if t.isdigit():
        i = int(t)
        if i < len(tokens):
            return i
        raise CommandError(-222, "Parameter out of range")
    for i, spelling in enumerate(tokens):
        short = "".join(ch for ch in spelling if ch.isupper() or ch.isdigit())
        if t in (short, spelling.upper()):
            return i
    raise CommandError(-224, "Illegal parameter value")


class SR865Twin(SR860Twin):
    """SR865A: the SR860 command set with the reference up to 4 MHz (the SR865 goes to 2 MHz)."""

    idn = "Stanford_Research_Systems,SR865A,004021,v1.51"
    max_frequency_Hz = 4e6
