"""Simulated Keysight X-series signal analyser (N9020A MXA / N9010A EXA), Spectrum Analyzer mode, Swept SA
measurement (X-Series "Spectrum Analyzer Mode User's & Programmer's Reference"; SCPI).

What the RF input sees: the lab's white voltage noise PSD S_V (V^2/Hz) at the noise amplifier's output
(:meth:`~qpclab.instruments.sim.lab.SimulatedLab.noise_psd_V2_per_Hz`), driven into the analyser's input, whose
hardware impedance is 50 ohm. The noise power density is P = S_V / 50 ohm (W/Hz), shown as dBm/Hz = 10 log10(P / 1 mW);
e.g. S_V = 5e-17 V^2/Hz gives 1e-18 W/Hz = -150 dBm/Hz. ``[:SENSe]:CORRection:IMPedance[:INPut][:MAGNitude]`` 50|75
(Input Z Correction) changes readings in voltage units only, not in power units (Keysight's reference: "the actual
impedance is set by internal hardware to 50 ohms"). A trace point holds the power in the resolution bandwidth's
noise bandwidth (1.056 RBW, Gaussian RBW filter), in the ``:UNIT:POWer`` unit (dBm, W, or V rms for the corrected
impedance).

Averaging (trace type Average, ``[:SENSe]:AVERage:COUNt`` N, ``[:SENSe]:AVERage:TYPE`` RMS|LOG|SCALar): one sweep's
point is exponentially distributed about its mean (noise through the RBW filter, one sample per point); N RMS
(power) averages scatter with relative standard deviation 1/sqrt(N); log-power averaging reads 2.51 dB low and
voltage averaging 1.05 dB low on noise, as on the instrument. The noise marker (``:CALCulate:MARKer1:FUNCtion
NOISe``) averages the points in its band (5 % of the span unless set), divides by the noise bandwidth and corrects
the averaging bias: it reads dBm/Hz. ``BPOWer`` (band power) integrates the band: dBm.

Timing uses ``lab.now()``: the auto sweep time is max(1 ms, 2 span / RBW^2); in single sweep (``:INITiate:CONTinuous
OFF``) ``:INITiate[:IMMediate]`` takes N sweeps when a trace averages, then stops. ``*OPC`` sets bit 0 of ``*ESR?``
once that is done; ``:STATus:OPERation:CONDition?`` has bit 3 (sweeping) and bit 4 (measuring) while it runs.
``*OPC?`` answers when the operation is complete; while it is still running and the lab runs on a manual clock it
does not answer (the client times out, as with a real measurement longer than its VISA timeout).

Errors: values outside the instrument's limits are refused with -222 "Data out of range" in the error queue
(``:SYSTem:ERRor[:NEXT]?``) and the execution-error bit of ``*ESR?``.
"""

from __future__ import annotations

import math
import struct
import time

from ...tables.keysight_xsa import INPUT_OHM, NOISE_BW_PER_RBW
from ..scpi import Command
from ..twin import CommandError, ScpiStatusTwin, parse_bool, parse_choice

F_MIN_HZ = 2.0  #: lowest centre frequency accepted (DC coupled, N9020A)
F_MAX_HZ = 26.5e9  #: option 526
RBW_RANGE_HZ = (1.0, 8e6)
LOG_BIAS_DB = -2.5068  #: mean of 10 log10 of an exponential variable
VOLT_BIAS_DB = 10 * math.log10(math.pi / 4)  #: (mean of its square root)^2: -1.049 dB

_UNITS = {"DBM": "DBM", "W": "W", "V": "V"}


class KeysightXSATwin(ScpiStatusTwin):
    grammar = "scpi"
    idn = "Keysight Technologies,N9020A,MY56070123,A.25.05"
    options = '"526,B25,EA3,PFR,P26"'  # 26.5 GHz (526), 25 MHz analysis BW, preamp

    def reset(self) -> None:
        super().reset()
        self.center = 13.25e9
        self.span = 26.5e9
        self.rbw = 3e6
        self.rbw_auto = True
        self.vbw = 3e6
        self.vbw_auto = True
        self.points = 1001
        self.sweep_time_auto = True
        self.sweep_time_set = 0.0
        self.aver_count = 100
        self.aver_type = "RMS"
        self.trace_type = {1: "WRIT", 2: "WRIT", 3: "WRIT", 4: "WRIT", 5: "WRIT", 6: "WRIT"}
        self.detector = "AVER"
        self.continuous = True
        self.unit = "DBM"
        self.impedance = 50.0
        self.attenuation = 10.0
        self.ref_level = 0.0
        self.marker = {i: {"mode": "OFF", "x": None, "func": "OFF", "band": None} for i in range(1, 13)}
        self.format = "ASC"
        self.byte_order = "NORM"
        self.mode = "SA"
        self.measurement = "SAN"
        self.gain_band = "LOW"
        self.gain_on = False
        self.rbw_type = "GAUS"
        self.sweep_type = "SWE"
        self.sweep_type_auto = True
        self._opc_armed = False
        self._traces: dict | None = None
        self._start()
        self.lab.subscribe(self._on_change)

    def _on_change(self, t: float) -> None:
        """The sample changed: what the input sees from now on (a running average is not re-weighted)."""
        self._psd = self.lab.noise_psd_V2_per_Hz()
        self._traces = None

    # ---- sweep model -----------------------------------------------------------------------------------------
    def sweep_time(self) -> float:
        if not self.sweep_time_auto:
            return self.sweep_time_set
        if self.span == 0:
            return 1e-3
        return max(1e-3, 2.0 * self.span / self.rbw ** 2)

    def _averaging(self) -> bool:
        return self.trace_type[1] == "AVER"

    def _n_sweeps(self) -> int:
        return self.aver_count if self._averaging() else 1

    def _start(self) -> None:
        self._t0 = self.lab.now()
        self._psd = self.lab.noise_psd_V2_per_Hz()
        self._traces = None
        self._opc_armed = False

    def _elapsed_sweeps(self) -> int:
        k = int((self.lab.now() - self._t0) / self.sweep_time() + 1e-9)
        return k if self.continuous else min(k, self._n_sweeps())

    def done(self) -> bool:
        return self.continuous or self._elapsed_sweeps() >= self._n_sweeps()

    def update_status(self) -> None:
        """A single sweep (or average) that ended since: the ``*OPC`` it armed sets bit 0 of ``*ESR``."""
        self.lab.tick()
        if self._opc_armed and self.done():  # continuous sweep: nothing pends, done() at once
            self.esr |= 1
            self._opc_armed = False

    def _point_powers(self, complete: bool = False) -> list[float]:
        """Trace 1 as linear power per point (W in the RBW noise bandwidth), averaged over the sweeps done
        (all of them if ``complete``: what a READ returns once its measurement is done)."""
        self.update_status()
        k = max(1, min(self._elapsed_sweeps(), self._n_sweeps()) if self._averaging() else 1)
        if complete:
            k = self._n_sweeps()
        key = (k, self._t0, self.points, self.aver_type)
        if self._traces is not None and self._traces[0] == key:
            return self._traces[1]
        mean = self._psd / INPUT_OHM * NOISE_BW_PER_RBW * self.rbw  # power into the 50 ohm hardware input
        rng = self.lab.rng
        out = []
        for _ in range(self.points):
            if self.aver_type == "RMS":
                out.append(mean * rng.gammavariate(k, 1.0 / k))
            elif self.aver_type == "LOG":
                out.append(mean * math.exp(sum(math.log(rng.expovariate(1.0)) for _ in range(k)) / k))
            else:  # SCALar: voltage averaging
                out.append(mean * (sum(math.sqrt(rng.expovariate(1.0)) for _ in range(k)) / k) ** 2)
        self._traces = (key, out)
        return out

    def _bias_correction(self) -> float:
        return {"RMS": 1.0, "LOG": 10 ** (-LOG_BIAS_DB / 10), "SCAL": 10 ** (-VOLT_BIAS_DB / 10)}[self.aver_type]

    def point_frequency(self, i: int) -> float:
        if self.points == 1:
            return self.center
        return self.center - self.span / 2 + i * self.span / (self.points - 1)

    def _in_band(self, m: dict) -> list[int]:
        x = m["x"] if m["x"] is not None else self.center
        band = m["band"] if m["band"] is not None else 0.05 * self.span
        lo, hi = x - band / 2, x + band / 2
        idx = [i for i in range(self.points) if lo - 1e-9 <= self.point_frequency(i) <= hi + 1e-9]
        if not idx:  # narrower than a bucket: the nearest point
            idx = [min(range(self.points), key=lambda i: abs(self.point_frequency(i) - x))]
        return idx

    def marker_value(self, n: int) -> float:
        m = self.marker[n]
        if m["mode"] == "OFF":
            raise CommandError(-221, "Settings conflict;marker is off")
        powers = self._point_powers()
        if m["func"] in ("NOIS", "BDEN"):
            idx = self._in_band(m)
            density = sum(powers[i] for i in idx) / len(idx) / (NOISE_BW_PER_RBW * self.rbw)
            density *= self._bias_correction()
            return self._to_unit(density, per_hz=True)
        if m["func"] == "BPOW":
            idx = self._in_band(m)
            band = m["band"] if m["band"] is not None else 0.05 * self.span
            density = sum(powers[i] for i in idx) / len(idx) / (NOISE_BW_PER_RBW * self.rbw)
            return self._to_unit(density * self._bias_correction() * band, per_hz=False)
        x = m["x"] if m["x"] is not None else self.center
        i = min(range(self.points), key=lambda j: abs(self.point_frequency(j) - x))
        return self._to_unit(powers[i], per_hz=False)

    def _to_unit(self, watts: float, per_hz: bool) -> float:
        if self.unit == "DBM":
            return 10 * math.log10(watts / 1e-3) if watts > 0 else -999.0
        if self.unit == "W":
            return watts
        return math.sqrt(watts * self.impedance)  # V (rms) across the input, or V/rtHz

    # ---- commands --------------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        return [
            *self.common_commands(),
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":STATus:OPERation:CONDition", query=lambda a: str(self._oper_condition())),
            C(":INITiate:CONTinuous", query=lambda a: "1" if self.continuous else "0", write=self._set_continuous),
            C(":INITiate[:IMMediate]", write=lambda a: self._start()),
            C(":INITiate:RESTart", write=lambda a: self._start()),
            C(":ABORt", write=lambda a: self._start()),
            C("[:SENSe]:FREQuency:CENTer", query=lambda a: _sci(self.center), write=self._set_center),
            C("[:SENSe]:FREQuency:SPAN", query=lambda a: _sci(self.span), write=self._set_span),
            C("[:SENSe]:FREQuency:STARt", query=lambda a: _sci(self.center - self.span / 2), write=self._set_start),
            C("[:SENSe]:FREQuency:STOP", query=lambda a: _sci(self.center + self.span / 2), write=self._set_stop),
            C("[:SENSe]:BANDwidth[:RESolution]", query=lambda a: _sci(self.rbw), write=self._set_rbw),
            C("[:SENSe]:BWIDth[:RESolution]", query=lambda a: _sci(self.rbw), write=self._set_rbw),
            C("[:SENSe]:BANDwidth[:RESolution]:AUTO", query=lambda a: _b(self.rbw_auto),
              write=lambda a: self._set_auto("rbw_auto", a)),
            C("[:SENSe]:BANDwidth:VIDeo", query=lambda a: _sci(self.vbw), write=self._set_vbw),
            C("[:SENSe]:BANDwidth:VIDeo:AUTO", query=lambda a: _b(self.vbw_auto),
              write=lambda a: self._set_auto("vbw_auto", a)),
            C("[:SENSe]:SWEep:POINts", query=lambda a: str(self.points), write=self._set_points),
            C("[:SENSe]:SWEep:TIME", query=lambda a: _sci(self.sweep_time()), write=self._set_sweep_time),
            C("[:SENSe]:SWEep:TIME:AUTO", query=lambda a: _b(self.sweep_time_auto),
              write=lambda a: self._set_auto("sweep_time_auto", a)),
            C("[:SENSe]:AVERage:COUNt", query=lambda a: str(self.aver_count), write=self._set_count),
            C("[:SENSe]:AVERage[:STATe]", query=lambda a: _b(self._averaging()), write=self._set_aver_state),
            C("[:SENSe]:AVERage:TYPE", query=lambda a: self.aver_type,
              write=lambda a: self._set_and_restart("aver_type", parse_choice(
                  self.need(a)[0], {"RMS": "RMS", "LOG": "LOG", "SCALar": "SCAL"}))),
            C("[:SENSe]:AVERage:CLEar", write=lambda a: self._start()),
            C("[:SENSe]:DETector:TRACe[1]", query=lambda a: self.detector, write=self._set_detector),
            C("[:SENSe]:DETector[:FUNCtion]", query=lambda a: self.detector, write=self._set_detector),
            C("[:SENSe]:CORRection:IMPedance[:INPut][:MAGNitude]", query=lambda a: f"{self.impedance:g}",
              write=self._set_impedance),
            C("[:SENSe]:POWer[:RF]:ATTenuation", query=lambda a: f"{self.attenuation:g}", write=self._set_atten),
            C(":DISPlay:WINDow[1]:TRACe:Y[:SCALe]:RLEVel", query=lambda a: f"{self.ref_level:g}",
              write=self._set_rlev),
            C(":TRACe#:TYPE", query=lambda a, n: self.trace_type[self._trace_no(n)], write=self._set_trace_type),
            C(":TRACe[:DATA]", query=self._trace_data),
            # modes and measurements as the X-series lists them: "<name> <number>" joined by ',' (no blank)
            C(":INSTrument:CATalog", query=lambda a: '"SA 1,BASIC 8"'),
            C(":INSTrument[:SELect]", query=lambda a: self.mode, write=self._set_mode),
            C(":CONFigure:CATalog", query=lambda a: '"SAN,CHP,OBW,ACP"'),
            C(":CONFigure:SANalyzer", write=lambda a: self._start()),
            C(":CONFigure", query=lambda a: self.measurement),
            C(":READ:SANalyzer#", query=lambda a, n: self._swept_sa(n, restart=True)),
            C(":FETCh:SANalyzer#", query=lambda a, n: self._swept_sa(n, restart=False)),
            C(":FORMat:BORDer", query=lambda a: self.byte_order,
              write=lambda a: setattr(self, "byte_order", parse_choice(self.need(a)[0],
                                                                       {"NORMal": "NORM", "SWAPped": "SWAP"}))),
            C("[:SENSe]:POWer[:RF]:GAIN:BAND", query=lambda a: self.gain_band,
              write=lambda a: setattr(self, "gain_band",
                                      parse_choice(self.need(a)[0], {"LOW": "LOW", "FULL": "FULL"}))),
            C("[:SENSe]:POWer[:RF]:GAIN[:STATe]", query=lambda a: _b(self.gain_on),
              write=lambda a: setattr(self, "gain_on", parse_bool(self.need(a)[0]))),
            C("[:SENSe]:BANDwidth[:RESolution]:TYPE", query=lambda a: self.rbw_type,
              write=lambda a: setattr(self, "rbw_type", parse_choice(
                  self.need(a)[0], {"DB3": "DB3", "DB6": "DB6", "IMPulse": "IMP", "NOISe": "NOIS", "GAUSsian": "GAUS",
                                    "FLATtop": "FLAT"}))),
            C("[:SENSe]:SWEep:TYPE", query=lambda a: self.sweep_type,
              write=lambda a: setattr(self, "sweep_type",
                                      parse_choice(self.need(a)[0], {"FFT": "FFT", "SWEep": "SWE"}))),
            C("[:SENSe]:SWEep:TYPE:AUTO", query=lambda a: _b(self.sweep_type_auto),
              write=lambda a: self._set_auto("sweep_type_auto", a)),
            C(":FORMat[:TRACe][:DATA]", query=lambda a: self.format, write=self._set_format),
            C(":UNIT:POWer", query=lambda a: self.unit, write=self._set_unit),
            C(":CALCulate:MARKer#:MODE", query=lambda a, n: self.marker[self._mk(n)]["mode"],
              write=self._set_marker_mode),
            C(":CALCulate:MARKer#[:SET]:X", query=lambda a, n: _sci(self._marker_x(n)), write=self._set_marker_x),
            C(":CALCulate:MARKer#:Y", query=lambda a, n: _sci(self.marker_value(self._mk(n)))),
            C(":CALCulate:MARKer#:FUNCtion", query=lambda a, n: self.marker[self._mk(n)]["func"],
              write=self._set_marker_func),
            C(":CALCulate:MARKer#:FUNCtion:BAND:SPAN", query=lambda a, n: _sci(self._band(n)),
              write=self._set_band),
            C(":CALCulate:MARKer#:AOFF", write=lambda a, n: self._markers_off()),
        ]

    # ---- helpers ---------------------------------------------------------------------------------------------
    def pop_error(self) -> str:
        if self.errors:
            code, msg = self.errors.popleft()
            return f'{code:+d},"{msg}"'
        return '+0,"No error"'

    def _num(self, args, low, high) -> float:
        text = self.need(args)[0].strip().upper()
        scale = 1.0
        for suffix, factor in (("GHZ", 1e9), ("MHZ", 1e6), ("KHZ", 1e3), ("HZ", 1.0), ("MS", 1e-3), ("US", 1e-6),
                               ("S", 1.0), ("DB", 1.0)):
            if text.endswith(suffix):
                text, scale = text[: -len(suffix)].strip(), factor
                break
        try:
            v = float(text) * scale
        except ValueError:
            raise CommandError(-104, "Data type error") from None
        if not math.isfinite(v) or not low <= v <= high:
            raise CommandError(-222, "Data out of range")
        return v

    def _int(self, args, low, high) -> int:
        v = self._num(args, low, high)
        if v != int(v):
            raise CommandError(-222, "Data out of range")
        return int(v)

    def bus_trigger(self) -> None:
        self._start()

    def operation_complete(self) -> None:
        """``*OPC``: armed now; bit 0 of ``*ESR`` is set when the single sweep (or its average) ends."""
        self._opc_armed = True
        self.update_status()

    def operation_complete_query(self) -> str | None:
        self.update_status()
        if self.continuous or self.done():
            return "1"
        remaining = self._t0 + self._n_sweeps() * self.sweep_time() - self.lab.now()
        if self.lab.clock is time.monotonic and remaining < 5.0:
            time.sleep(max(0.0, remaining))  # a real clock: the instrument answers when it is done
            return "1"
        raise _NoReply()

    def handle(self, message: str) -> list[str]:
        try:
            return super().handle(message)
        except _NoReply:
            return []

    def _oper_condition(self) -> int:
        self.update_status()
        return 0 if self.done() else (1 << 3) | (1 << 4)

    def _set_continuous(self, args) -> None:
        self.continuous = parse_bool(self.need(args)[0])
        self._start()

    def _set_and_restart(self, attr, value) -> None:
        setattr(self, attr, value)
        self._start()

    def _couple(self) -> None:
        if self.rbw_auto and self.span > 0:
            # span/RBW ratio ~ 106 (X-series default), clamped to the RBW range
            self.rbw = min(RBW_RANGE_HZ[1], max(RBW_RANGE_HZ[0], _round_125(self.span / 106.0)))
        if self.vbw_auto:
            self.vbw = self.rbw

    def _set_center(self, args) -> None:
        v = self._num(args, F_MIN_HZ, F_MAX_HZ)
        self.center = v
        self.span = min(self.span, 2 * (v - 0.0), 2 * (F_MAX_HZ - v))
        self._couple()
        self._start()

    def _set_span(self, args) -> None:
        v = self._num(args, 0.0, F_MAX_HZ)
        if 0 < v < 10.0:
            raise CommandError(-222, "Data out of range")
        if self.center - v / 2 < 0 or self.center + v / 2 > F_MAX_HZ:
            raise CommandError(-222, "Data out of range")
        self.span = v
        self._couple()
        self._start()

    def _set_start(self, args) -> None:
        lo = self._num(args, 0.0, F_MAX_HZ)
        hi = self.center + self.span / 2
        if lo >= hi:
            raise CommandError(-222, "Data out of range")
        self.center, self.span = (lo + hi) / 2, hi - lo
        self._couple()
        self._start()

    def _set_stop(self, args) -> None:
        hi = self._num(args, F_MIN_HZ, F_MAX_HZ)
        lo = self.center - self.span / 2
        if hi <= lo:
            raise CommandError(-222, "Data out of range")
        self.center, self.span = (lo + hi) / 2, hi - lo
        self._couple()
        self._start()

    def _set_rbw(self, args) -> None:
        self.rbw = self._num(args, *RBW_RANGE_HZ)
        self.rbw_auto = False
        if self.vbw_auto:
            self.vbw = self.rbw
        self._start()

    def _set_vbw(self, args) -> None:
        self.vbw = self._num(args, 1.0, 50e6)
        self.vbw_auto = False

    def _set_auto(self, attr, args) -> None:
        setattr(self, attr, parse_bool(self.need(args)[0]))
        self._couple()
        self._start()

    def _set_points(self, args) -> None:
        self.points = self._int(args, 1, 40001)
        self._start()

    def _set_sweep_time(self, args) -> None:
        self.sweep_time_set = self._num(args, 1e-6, 4000.0)
        self.sweep_time_auto = False
        self._start()

    def _set_count(self, args) -> None:
        self.aver_count = self._int(args, 1, 10000)
        self._start()

    def _set_aver_state(self, args) -> None:
        self.trace_type[1] = "AVER" if parse_bool(self.need(args)[0]) else "WRIT"
        self._start()

    def _set_detector(self, args) -> None:
        self.detector = parse_choice(self.need(args)[0], {
            "AVERage": "AVER", "NORMal": "NORM", "POSitive": "POS", "SAMPle": "SAMP", "NEGative": "NEG",
            "QPEak": "QPE", "EAVerage": "EAV", "RAVerage": "RAV"})

    def _set_impedance(self, args) -> None:
        v = self._num(args, 50.0, 75.0)
        if v not in (50.0, 75.0):
            raise CommandError(-222, "Data out of range")
        self.impedance = v

    def _set_atten(self, args) -> None:
        self.attenuation = self._num(args, 0.0, 70.0)

    def _set_rlev(self, args) -> None:
        self.ref_level = self._num(args, -170.0, 30.0)

    @staticmethod
    def _trace_no(n) -> int:
        i = int(n) if n else 1
        if not 1 <= i <= 6:
            raise CommandError(-114, "Header suffix out of range")
        return i

    def _set_trace_type(self, args, n) -> None:
        self.trace_type[self._trace_no(n)] = parse_choice(self.need(args)[0], {
            "WRITe": "WRIT", "AVERage": "AVER", "MAXHold": "MAXH", "MINHold": "MINH"})
        self._start()

    def _trace_data(self, args) -> str:
        name = (args[0] if args else "TRACE1").upper().replace("TRACE", "").replace("TRAC", "") or "1"
        if name != "1":
            raise CommandError(-224, "Illegal parameter value;only trace 1 is simulated")
        return self._block([self._to_unit(p, per_hz=False) for p in self._point_powers()])

    def _set_format(self, args) -> None:
        """:FORMat[:TRACe][:DATA] ASCii | REAL,32 | REAL,64 (INTeger,32 is not simulated)."""
        args = self.need(args)
        fmt = args[0].strip().upper()
        if fmt.startswith("ASC"):
            self.format = "ASC"
        elif fmt == "REAL" and (len(args) < 2 or args[1].strip() in ("32", "64")):
            self.format = f"REAL,{args[1].strip() if len(args) > 1 else '32'}"
        else:
            raise CommandError(-224, "Illegal parameter value")

    def _block(self, values: list[float]) -> str:
        """Values in the :FORMat: ASCII, or an IEEE 488.2 definite-length block of floats in the :FORMat:BORDer
        (the analyser ends it with its usual line feed); the bytes travel as latin-1 text."""
        if self.format == "ASC":
            return ",".join(_sci(v) for v in values)
        code = ("<" if self.byte_order == "SWAP" else ">") + ("d" if self.format == "REAL,64" else "f") * len(values)
        data = struct.pack(code, *values)
        size = str(len(data))
        return (f"#{len(size)}{size}".encode("ascii") + data).decode("latin-1")

    def _set_mode(self, args) -> None:
        if self.need(args)[0].strip().upper() not in ("SA", "BASIC"):
            raise CommandError(-224, "Illegal parameter value")
        self.mode = args[0].strip().upper()

    def _swept_sa(self, n, restart: bool) -> str:
        """:READ:SANalyzer<n>? (start a measurement, reply when it is complete: the wait is not simulated here) or
        :FETCh:SANalyzer<n>? (the present result); n = 1 gives the trace as frequency, amplitude pairs."""
        if (n or "1") != "1":
            raise CommandError(-224, "Illegal parameter value;only trace data (n = 1) is simulated")
        if restart:
            self._start()
        values = []
        for i, p in enumerate(self._point_powers(complete=restart)):
            values += [self.point_frequency(i), self._to_unit(p, per_hz=False)]
        return self._block(values)

    def _set_unit(self, args) -> None:
        u = self.need(args)[0].strip().upper()
        if u not in _UNITS:
            raise CommandError(-224, "Illegal parameter value")
        self.unit = _UNITS[u]

    def _mk(self, n) -> int:
        i = int(n) if n else 1
        if not 1 <= i <= 12:
            raise CommandError(-114, "Header suffix out of range")
        return i

    def _marker_x(self, n) -> float:
        m = self.marker[self._mk(n)]
        return m["x"] if m["x"] is not None else self.center

    def _set_marker_mode(self, args, n) -> None:
        self.marker[self._mk(n)]["mode"] = parse_choice(self.need(args)[0], {
            "POSition": "POS", "DELTa": "DELT", "FIXed": "FIX", "OFF": "OFF"})

    def _set_marker_x(self, args, n) -> None:
        m = self.marker[self._mk(n)]
        v = self._num(args, self.center - self.span / 2, self.center + self.span / 2)
        m["x"] = v
        if m["mode"] == "OFF":
            m["mode"] = "POS"

    def _set_marker_func(self, args, n) -> None:
        m = self.marker[self._mk(n)]
        m["func"] = parse_choice(self.need(args)[0], {
            "NOISe": "NOIS", "BPOWer": "BPOW", "BDENsity": "BDEN", "OFF": "OFF"})
        if m["func"] != "OFF" and m["mode"] == "OFF":
            m["mode"] = "POS"

    def _band(self, n) -> float:
        m = self.marker[self._mk(n)]
        return m["band"] if m["band"] is not None else 0.05 * self.span

    def _set_band(self, args, n) -> None:
        self.marker[self._mk(n)]["band"] = self._num(args, 0.0, F_MAX_HZ)

    def _markers_off(self) -> None:
        for m in self.marker.values():
            m.update(mode="OFF", func="OFF")


class _NoReply(Exception):
    """A query the instrument has not answered yet (its operation is still running)."""


def _sci(v: float) -> str:
    return f"{v:.10E}"


def _b(v: bool) -> str:
    return "1" if v else "0"


def _round_125(x: float) -> float:
    """Round to the 1-2-3-5 ... steps the X-series auto RBW uses (nearest of 1, 2, 3, 5 per decade; approximate)."""
    if x <= 0:
        return RBW_RANGE_HZ[0]
    e = math.floor(math.log10(x))
    m = x / 10 ** e
    best = min((1, 2, 3, 5, 10), key=lambda c: abs(math.log(m / c)))
    return best * 10 ** e
