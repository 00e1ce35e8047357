"""Simulated Stanford Research SR785 dynamic signal analyser, FFT measurement group, channel 1 input
(SR785 manual, chapter 5: Remote Programming).

Commands take the display ``d`` first (0 = DispA, 1 = DispB, 2 = both; queries only 0 or 1) and answer in their
default units (``FSPN? 0`` -> Hz). Frequency, average and window settings are shared by both displays here
(the SR785 links them in the FFT group).

What the input sees: the lab's white voltage noise PSD S (V^2/Hz) at the noise amplifier's output
(:meth:`~qpclab.instruments.sim.lab.SimulatedLab.noise_psd_V2_per_Hz`). A time record lasts T = lines / span
(the FFT line width is span / lines). Each record's power in a bin is S * ENBW * E with E exponentially
distributed (a complex Gaussian bin: chi-square with 2 degrees of freedom), ENBW the window's noise bandwidth in Hz.
RMS averaging of N records therefore scatters with relative standard deviation 1 / sqrt(N) per bin (Gamma(N)/N);
vector averaging of noise tends to zero as 1/N; peak hold keeps the largest record. Adjacent bins are drawn
independently (the Hanning window's bin-to-bin correlation is not modelled).

Timing uses ``lab.now()``: STRT starts a measurement; N records with overlap o take T + (N - 1) T (1 - o); the
display status word (``DSPS?``) bit 1 (AVGA) and bit 9 (AVGB) latch when the linear average is complete, bit 0/8
(NEWA/NEWB) when new records arrived. Reading a bit (``DSPS? i``) or the word clears what was read.
If the sample changes during an average, the PSD is time-weighted over the records.

Display units: view Log/Linear Magnitude gives ``UNPK`` peak units (Vpk, Vrms, Vpp) or dBV with ``UNDB 1``;
``PSDU 1`` divides the bin power by the window ENBW (..V/sqrt(Hz)); Magnitude Squared gives V^2 (or V^2/Hz).

Errors: a setting out of range sets the execution-error bit (bit 4) of the standard event status register
(``*ESR?``), an unknown or malformed command the command-error bit (bit 5), as the manual's status section says.
"""

from __future__ import annotations

import math
import re

from ...tables.sr785 import BASES_HZ, LINES, N_SPANS
from ..scpi import Command, split_args
from ..twin import CommandError, ScpiStatusTwin

WINDOW_ENBW_BINS = (1.0, 3.77, 1.5, 2.0, 1.80, 1.0, 1.0, 1.0, 1.0, 1.0)  #: FWIN index -> ENBW (bins)
VIEWS = 9
AVERAGE_MODES = ("none", "vector", "rms", "peak hold")


def _fmt(v: float) -> str:
    return f"{v:.7e}"


#: SR785 mnemonics are four characters and may hold a digit (``A1RG``, ``I1RG``): ``A1RG1`` is A1RG with 1.
_UNIT = re.compile(r"^\s*(\*[A-Za-z]{3}|[A-Za-z][A-Za-z0-9]{3})\s*(\?)?\s*(.*?)\s*$", re.S)


def split_sr785_message(message: str) -> list[tuple[str, list[str]]]:
    """Split ``FSPN 2,51200;DSPS?1`` into (header with its ``?``, args), four-character mnemonics."""
    out = []
    for unit in message.split(";"):
        if not unit.strip():
            continue
        m = _UNIT.match(unit)
        if m is None:
            out.append((unit.strip().upper(), []))
        else:
            out.append((m.group(1).upper() + (m.group(2) or ""), split_args(m.group(3))))
    return out


class SR785Twin(ScpiStatusTwin):
    grammar = "sr"
    idn = "Stanford_Research_Systems,SR785,s/n00785,ver152"
    join_replies = False
    #: serial poll (SR785 manual, "Status Byte"): bit 0 instrument status summary, 1 display status summary,
    #: 2 input status summary, 3 error status summary, 7 IFC (no command execution in progress): no error-queue bit
    error_available_bit = None
    #: standard event bit 0 is INP (input queue overflow), as on the other SRS instruments: ``*OPC`` only waits
    operation_complete_bit = None

    def __init__(self, lab, name, config=None):
        super().__init__(lab, name, config)
        self._split = split_sr785_message

    def reset(self) -> None:
        super().reset()
        self.f = {"FBAS": 1, "FLIN": 3, "FSPN": 102.4e3, "FCTR": 51.2e3, "FAVG": 0, "FAVM": 2, "FAVT": 0,
                  "FAVN": 10, "FOVL": 0.0, "FREJ": 1, "FWIN": 2}
        self.disp = {d: {"MEAS": 0, "VIEW": 0, "UNPK": 2, "UNDB": 1, "PSDU": 0, "MBIN": 400} for d in (0, 1)}
        self.inp = {"I1RG": -30, "A1RG": 1, "I1AR": 0, "I1CP": 0, "I1GD": 0, "I1MD": 0, "I1AF": 1}
        self.s = {"DSPE": 0, "INSE": 0, "OUTX": 0}
        self.dsps = 0
        self.inst = 0
        self.active = 0
        self._start_t = self.lab.now()
        self._segments: list[tuple[float, float]] = []  # (time, psd) from the start of the measurement
        self._running = False
        self._paused_at = None
        self._records_seen = 0
        self._avg_latched = False
        self._cache: tuple | None = None
        self.lab.subscribe(self._on_change)
        self._start()

    # ---- measurement model ---------------------------------------------------------------------------------
    def record_time_s(self) -> float:
        return LINES[int(self.f["FLIN"])] / self.f["FSPN"]

    def _n_target(self) -> int:
        return int(self.f["FAVN"]) if self.f["FAVG"] else 1

    def _duration(self, n: int) -> float:
        t = self.record_time_s()
        return t + max(0, n - 1) * t * (1.0 - self.f["FOVL"] / 100.0)

    def _start(self) -> None:
        self._start_t = self.lab.now()
        self._segments = [(self._start_t, self.lab.noise_psd_V2_per_Hz())]
        self._running = True
        self._paused_at = None
        self._records_seen = 0
        self._avg_latched = False
        self._cache = None
        self.dsps &= ~((1 << 1) | (1 << 9))

    def _on_change(self, t: float) -> None:
        if self._running:
            self._segments.append((t, self.lab.noise_psd_V2_per_Hz()))

    def _now(self) -> float:
        return self._paused_at if self._paused_at is not None else self.lab.now()

    def records_done(self) -> int:
        """Records completed since STRT (capped at N for a linear average; continues for exponential/off)."""
        elapsed = self._now() - self._start_t
        t = self.record_time_s()
        step = t * (1.0 - self.f["FOVL"] / 100.0)
        k = 0 if elapsed < t else 1 + int((elapsed - t) / step + 1e-9)
        if self.f["FAVG"] and self.f["FAVT"] == 0:
            k = min(k, int(self.f["FAVN"]))
        return k

    def update_status(self) -> None:
        self.lab.tick()
        k = self.records_done()
        if k > self._records_seen:
            self.dsps |= (1 << 0) | (1 << 8)
            self._records_seen = k
        if not self._avg_latched and k >= self._n_target():
            self.dsps |= (1 << 1) | (1 << 9)
            self._avg_latched = True
        self._check_overload()

    def _mean_psd(self, until: float) -> float:
        """Time-weighted input PSD (V^2/Hz) from the start of the measurement to ``until``."""
        segs = self._segments
        if until <= segs[0][0]:
            return segs[0][1]
        total = 0.0
        for i, (t0, p) in enumerate(segs):
            t1 = segs[i + 1][0] if i + 1 < len(segs) else until
            t1 = min(t1, until)
            if t1 > t0:
                total += (t1 - t0) * p
        return total / (until - segs[0][0])

    def bin_count(self) -> int:
        return LINES[int(self.f["FLIN"])] + 1

    def start_frequency(self) -> float:
        return self.f["FCTR"] - self.f["FSPN"] / 2.0

    def bin_frequency(self, j: int) -> float:
        return self.start_frequency() + j * self.f["FSPN"] / LINES[int(self.f["FLIN"])]

    def enbw_Hz(self) -> float:
        return WINDOW_ENBW_BINS[int(self.f["FWIN"])] * self.f["FSPN"] / LINES[int(self.f["FLIN"])]

    def _powers(self) -> list[float]:
        """Averaged power per bin (Vrms^2 in the window's ENBW) for the records done so far."""
        self.update_status()
        k = self.records_done()
        key = (k, self._start_t, self.f["FAVG"], self.f["FAVM"], self.bin_count())
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        n_bins = self.bin_count()
        if k == 0:
            powers = [0.0] * n_bins
        else:
            end = self._start_t + self._duration(k)
            mean = self._mean_psd(end) * self.enbw_Hz()
            rng = self.lab.rng
            mode = AVERAGE_MODES[int(self.f["FAVM"])] if self.f["FAVG"] else "none"
            n = min(k, int(self.f["FAVN"])) if mode != "none" else 1
            if mode == "rms":  # mean of n exponentials: Gamma(n, 1/n)
                powers = [mean * rng.gammavariate(n, 1.0 / n) for _ in range(n_bins)]
            elif mode == "vector":  # |mean of n complex Gaussians|^2: exponential with mean 1/n
                powers = [mean * rng.expovariate(1.0) / n for _ in range(n_bins)]
            elif mode == "peak hold":
                powers = [mean * max(rng.expovariate(1.0) for _ in range(n)) for _ in range(n_bins)]
            else:
                powers = [mean * rng.expovariate(1.0) for _ in range(n_bins)]
        self._cache = (key, powers)
        return powers

    def _check_overload(self) -> None:
        """Channel 1 input: the noise over the 102.4 kHz input bandwidth, crest factor 4, against the range."""
        rms = math.sqrt(self.lab.noise_psd_V2_per_Hz() * BASES_HZ[1])
        if self.inp["A1RG"]:
            # auto range: the smallest range (2 dB steps, -50..+34 dBV peak) above the peak
            need = 20 * math.log10(max(4 * rms, 1e-12))
            self.inp["I1RG"] = int(min(34, max(-50, 2 * math.ceil(need / 2))))
        elif 4 * rms > 10 ** (self.inp["I1RG"] / 20):
            self.inst |= 1 << 1  # CH1 overload (input status word)

    def display_values(self, d: int) -> list[float]:
        """What display d shows, bin by bin, in its view and units."""
        powers = self._powers()
        disp = self.disp[d]
        enbw = self.enbw_Hz()
        out = []
        for p in powers:
            if disp["PSDU"]:
                p = p / enbw
            view = int(disp["VIEW"])
            if view == 2:  # magnitude squared: V^2 (rms) or V^2/Hz
                out.append(p)
                continue
            a = math.sqrt(p)  # Vrms (or Vrms/rtHz)
            pk = int(disp["UNPK"])
            a *= {0: 1.0, 1: math.sqrt(2), 2: 1.0, 3: 2 * math.sqrt(2)}[pk]
            if disp["UNDB"]:
                a = 20 * math.log10(a) if a > 0 else -300.0
            out.append(a)
        return out

    def units(self, d: int) -> str:
        disp = self.disp[d]
        psd = "/\u221aHz" if disp["PSDU"] else ""
        if int(disp["VIEW"]) == 2:
            return "V\u00b2/Hz" if disp["PSDU"] else "V\u00b2"
        pk = {0: "", 1: "pk", 2: "rms", 3: "pp"}[int(disp["UNPK"])]
        return ("dBV" if disp["UNDB"] else "V") + pk + psd

    # ---- commands -------------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        return [
            *self.common_commands(),
            C("OUTX", query=lambda a: str(self.s["OUTX"]), write=lambda a: self._set_int("OUTX", a, 0, 1)),
            C("DSPS", query=lambda a: self._read_dsps(a)),
            C("DSPE", query=lambda a: str(self.s["DSPE"]), write=lambda a: self._set_int("DSPE", a, 0, 65535)),
            C("INST", query=lambda a: self.read_clear("inst", a, 15)),
            C("INSE", query=lambda a: str(self.s["INSE"]), write=lambda a: self._set_int("INSE", a, 0, 65535)),
            # frequency (FFT group)
            C("FBAS", query=lambda a: self._fq(a, "FBAS"), write=lambda a: self._fw_index(a, "FBAS", 1)),
            C("FLIN", query=lambda a: self._fq(a, "FLIN"), write=lambda a: self._fw_index(a, "FLIN", 3)),
            C("FSPN", query=lambda a: self._fq(a, "FSPN"), write=self._set_span),
            C("FCTR", query=lambda a: self._fq(a, "FCTR"), write=self._set_center),
            C("FSTR", query=lambda a: self._disp_q(a, lambda: _fmt(self.start_frequency())), write=self._set_start),
            C("FEND", query=lambda a: self._disp_q(a, lambda: _fmt(self.start_frequency() + self.f["FSPN"]))),
            # averaging and window
            C("FAVG", query=lambda a: self._fq(a, "FAVG"), write=lambda a: self._fw_index(a, "FAVG", 1)),
            C("FAVM", query=lambda a: self._fq(a, "FAVM"), write=lambda a: self._fw_index(a, "FAVM", 3)),
            C("FAVT", query=lambda a: self._fq(a, "FAVT"), write=lambda a: self._fw_index(a, "FAVT", 1)),
            C("FAVN", query=lambda a: self._fq(a, "FAVN"), write=lambda a: self._fw_int(a, "FAVN", 2, 32767)),
            C("FOVL", query=lambda a: self._fq(a, "FOVL"), write=self._set_overlap),
            C("FREJ", query=lambda a: self._fq(a, "FREJ"), write=lambda a: self._fw_index(a, "FREJ", 1)),
            C("FWIN", query=lambda a: self._fq(a, "FWIN"), write=lambda a: self._fw_index(a, "FWIN", 9)),
            C("NAVG", query=lambda a: self._disp_q(a, lambda: str(min(self._records_after_update(),
                                                                         self._n_target())))),
            # measurement control
            C("STRT", write=lambda a: self._start()),
            C("PAUS", write=lambda a: self._pause()),
            C("CONT", write=lambda a: self._cont()),
            # display set-up and units
            C("ACTD", query=lambda a: str(self.active), write=lambda a: setattr(self, "active", self._index(a, 0, 1))),
            C("MEAS", query=lambda a: self._dq(a, "MEAS"), write=lambda a: self._dw(a, "MEAS", 0, 1)),
            C("VIEW", query=lambda a: self._dq(a, "VIEW"), write=lambda a: self._dw(a, "VIEW", 0, VIEWS - 1)),
            C("UNPK", query=lambda a: self._dq(a, "UNPK"), write=lambda a: self._dw(a, "UNPK", 0, 3)),
            C("UNDB", query=lambda a: self._dq(a, "UNDB"), write=lambda a: self._dw(a, "UNDB", 0, 1)),
            C("PSDU", query=lambda a: self._dq(a, "PSDU"), write=lambda a: self._dw(a, "PSDU", 0, 1)),
            C("UNIT", query=lambda a: self.units(self._index(a, 0, 1))),
            C("ASCL", write=lambda a: self._index(a, 0, 2)),
            # data
            C("DSPN", query=lambda a: str(self.bin_count() + 0 * self._index(a, 0, 1))),
            C("DSPY", query=self._dspy),
            C("DBIN", query=self._dbin),
            C("MBIN", query=lambda a: self._dq(a, "MBIN"), write=self._set_mbin),
            C("MRKX", query=lambda a: _fmt(self.bin_frequency(self.disp[self._index(a, 0, 1)]["MBIN"]))),
            C("MRKY", query=lambda a: _fmt(self.display_values(d := self._index(a, 0, 1))[self.disp[d]["MBIN"]])),
            # channel 1 input
            C("I1RG", query=lambda a: f"{self._range_after_update()},0", write=self._set_range),
            C("A1RG", query=lambda a: str(self.inp["A1RG"]), write=lambda a: self._iw(a, "A1RG", 0, 1)),
            C("I1AR", query=lambda a: str(self.inp["I1AR"]), write=lambda a: self._iw(a, "I1AR", 0, 1)),
            C("I1CP", query=lambda a: str(self.inp["I1CP"]), write=lambda a: self._iw(a, "I1CP", 0, 2)),
            C("I1GD", query=lambda a: str(self.inp["I1GD"]), write=lambda a: self._iw(a, "I1GD", 0, 1)),
            C("I1MD", query=lambda a: str(self.inp["I1MD"]), write=lambda a: self._iw(a, "I1MD", 0, 1)),
            C("I1AF", query=lambda a: str(self.inp["I1AF"]), write=lambda a: self._iw(a, "I1AF", 0, 1)),
        ]

    # ---- helpers --------------------------------------------------------------------------------------------
    @staticmethod
    def _exe() -> CommandError:
        return CommandError(-222, "Parameter out of range")

    def _parse(self, text: str) -> float:
        t = text.strip()
        scale = 1.0
        for unit, factor in (("KHZ", 1e3), ("MHZ", 1e-3), ("UHZ", 1e-6), ("HZ", 1.0), ("K", 1e3)):
            if t.upper().endswith(unit) and unit != "":
                t, scale = t[: -len(unit)].strip(), factor
                break
        try:
            return float(t) * scale
        except ValueError:
            raise CommandError(-104, "Data type error") from None

    def _index(self, args, low, high) -> int:
        v = self._parse(self.need(args)[0])
        if v != int(v) or not low <= v <= high:
            raise self._exe()
        return int(v)

    def _display(self, args, allow_both=True) -> int:
        return self._index(args[:1], 0, 2 if allow_both else 1)

    def _set_int(self, key, args, low, high) -> None:
        self.s[key] = self._index(args, low, high)

    def _fq(self, args, key) -> str:
        self._display(args, allow_both=False)
        v = self.f[key]
        return _fmt(v) if isinstance(v, float) else str(v)

    def _disp_q(self, args, fn) -> str:
        self._display(args, allow_both=False)
        return fn()

    def _fw_index(self, args, key, high) -> None:
        args = self.need(args, 2)
        self._display(args)
        self.f[key] = self._index(args[1:], 0, high)
        if key in ("FLIN", "FAVG", "FAVM", "FAVT", "FWIN", "FBAS"):
            if key == "FBAS":
                self._clamp_band()
            self._start()

    def _fw_int(self, args, key, low, high) -> None:
        args = self.need(args, 2)
        self._display(args)
        self.f[key] = self._index(args[1:], low, high)
        self._start()

    def _fmax(self) -> float:
        return BASES_HZ[int(self.f["FBAS"])]

    def _clamp_band(self) -> None:
        span = min(self.f["FSPN"], self._fmax())
        spans = [self._fmax() / 2 ** n for n in range(N_SPANS)]
        span = min((s for s in spans if s >= span * (1 - 1e-9)), default=spans[0])
        self.f["FSPN"] = span
        self.f["FCTR"] = min(max(self.f["FCTR"], span / 2), self._fmax() - span / 2)

    def _set_span(self, args) -> None:
        args = self.need(args, 2)
        self._display(args)
        v = self._parse(args[1])
        if not 0 < v <= self._fmax() * (1 + 1e-9):
            raise self._exe()
        self.f["FSPN"] = v
        self._clamp_band()
        self._start()

    def _set_center(self, args) -> None:
        args = self.need(args, 2)
        self._display(args)
        v = self._parse(args[1])
        if not 0 <= v <= self._fmax():
            raise self._exe()
        self.f["FCTR"] = v
        self._clamp_band()
        self._start()

    def _set_start(self, args) -> None:
        args = self.need(args, 2)
        self._display(args)
        v = self._parse(args[1])
        if not 0 <= v <= self._fmax() - self.f["FSPN"]:
            raise self._exe()
        self.f["FCTR"] = v + self.f["FSPN"] / 2
        self._start()

    def _set_overlap(self, args) -> None:
        args = self.need(args, 2)
        self._display(args)
        v = self._parse(args[1])
        if not 0 <= v <= 99.8:
            raise self._exe()
        self.f["FOVL"] = v
        self._start()

    def _dq(self, args, key) -> str:
        return str(self.disp[self._display(args, allow_both=False)][key])

    def _dw(self, args, key, low, high) -> None:
        args = self.need(args, 2)
        d = self._display(args)
        v = self._index(args[1:], low, high)
        for dd in ((0, 1) if d == 2 else (d,)):
            self.disp[dd][key] = v

    def _set_mbin(self, args) -> None:
        args = self.need(args, 2)
        d = self._display(args)
        j = self._index(args[1:], 0, self.bin_count() - 1)
        for dd in ((0, 1) if d == 2 else (d,)):
            self.disp[dd]["MBIN"] = j

    def _iw(self, args, key, low, high) -> None:
        self.inp[key] = self._index(args, low, high)

    def _set_range(self, args) -> None:
        v = self._parse(self.need(args)[0])
        if not -50 <= v <= 34:
            raise self._exe()
        self.inp["I1RG"] = int(2 * round(v / 2))
        self.inp["A1RG"] = 0

    def _range_after_update(self) -> int:
        self._check_overload()
        return self.inp["I1RG"]

    def _records_after_update(self) -> int:
        self.update_status()
        return self.records_done()

    def _pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self.lab.now()

    def _cont(self) -> None:
        if self._paused_at is not None:
            self._start_t += self.lab.now() - self._paused_at
            self._paused_at = None

    def _dspy(self, args) -> str:
        args = self.need(args)
        d = self._index(args[:1], 0, 1)
        values = self.display_values(d)
        if len(args) > 1:
            return _fmt(values[self._index(args[1:2], 0, len(values) - 1)])
        return ",".join(_fmt(v) for v in values)

    def _dbin(self, args) -> str:
        args = self.need(args, 2)
        self._index(args[:1], 0, 1)
        return _fmt(self.bin_frequency(self._index(args[1:2], 0, self.bin_count() - 1)))

    def summary_bits(self) -> int:
        """Serial poll bit 0: an enabled instrument status bit (INST & INSE), 1: an enabled display status bit
        (DSPS & DSPE); bit 7 IFC (each command runs at once here)."""
        return (1 if self.inst & self.s["INSE"] else 0) | (2 if self.dsps & self.s["DSPE"] else 0) | 128

    def clear_events(self) -> None:
        self.dsps = self.inst = 0

    def _read_dsps(self, args) -> str:
        self.update_status()
        return self.read_clear("dsps", args, 15)
