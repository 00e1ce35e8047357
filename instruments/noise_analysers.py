"""Noise analysers in the :class:`~qpclab.instruments.roles.NoiseAnalyser` role: voltage noise PSD in V^2/Hz.

Each adapter wraps a qpclab driver and is built by a factory ``make_<driver>(resource, visa_library, name,
**options)`` that :mod:`qpclab.instruments.registry` names.

Unit conversions (documented once, here):

- SR785: the display is set to FFT 1, log-magnitude view, rms peak units, dB off, PSD units on, so it reads
  Vrms/sqrt(Hz) per bin; the adapter squares it: S_V = y^2 (V^2/Hz).
- Keysight X-series: the noise marker reads the power density P in dBm/Hz delivered into the input impedance Z
  (50 ohm unless set to 75). The voltage PSD at the input is S_V = Z * 1 mW * 10^(dBm/10), e.g. -150 dBm/Hz into
  50 ohm is 5e-17 V^2/Hz (7.1 nV/sqrt(Hz)). Trace points are powers in the RBW's noise bandwidth, taken as
  1.056 RBW (Gaussian RBW filter) to turn them into a PSD.

Waiting: :meth:`measure_psd` starts a fresh average and polls the instrument's "average complete" flag (SR785
``DSPS? 1``, X-series ``*OPC`` + ``*ESR?`` bit 0). Both flags clear when read, so a lost reply would hide them: once
the average is overdue the adapters also ask a read-out that may be repeated (SR785 ``NAVG? 0``, X-series
``:STAT:OPER:COND?``). Between polls it calls ``self.sleep(seconds)``
(``time.sleep`` by default; a test with a manual clock sets it to the clock's ``advance``). ``timeout_s`` bounds the
wait beyond the expected duration.
"""

from __future__ import annotations

import math
import time
from typing import Any

from .roles import InstrumentError, NoiseAnalyser
from .tables.keysight_xsa import INPUT_OHM as XSA_INPUT_OHM, NOISE_BW_PER_RBW
from .tables.sr785 import MAX_SPAN_HZ as SR785_MAX_SPAN_HZ
from .visa import open_driver

__all__ = ["SR785NoiseAnalyser", "KeysightXSANoiseAnalyser", "make_sr785", "make_keysight_xsa",
           "dbm_per_hz_to_v2_per_hz", "v2_per_hz_to_dbm_per_hz"]

_MILLIWATT = 1e-3


def dbm_per_hz_to_v2_per_hz(dbm_per_hz: float, impedance_ohm: float = 50.0) -> float:
    """Power density in dBm/Hz into ``impedance_ohm`` -> voltage PSD across it (V^2/Hz)."""
    return impedance_ohm * _MILLIWATT * 10.0 ** (dbm_per_hz / 10.0)


def v2_per_hz_to_dbm_per_hz(v2_per_hz: float, impedance_ohm: float = 50.0) -> float:
    """Voltage PSD (V^2/Hz) across ``impedance_ohm`` -> power density in dBm/Hz."""
    return 10.0 * math.log10(v2_per_hz / impedance_ohm / _MILLIWATT)


class _PollingAnalyser(NoiseAnalyser):
    def __init__(self, driver, name: str, timeout_s: float = 60.0):
        self.driver = driver
        self.name = name
        self.timeout_s = float(timeout_s)
        self.sleep = time.sleep
        self.center_Hz = self.span_Hz = None
        self.averages = None
        self._have_average = False  # a complete average is on the instrument (measure_spectrum reads it)

    def _wait(self, expected_s: float, done) -> None:
        """Sleep the expected duration, then poll ``done()``; InstrumentError after expected + timeout_s."""
        waited = 0.0
        if expected_s > 0:
            self.sleep(expected_s)
            waited += expected_s
        poll = self._poll_s(expected_s)
        while not done():
            if waited > expected_s + self.timeout_s:
                raise InstrumentError(f"{self.name}: average not complete after {waited:.3g} s "
                                      f"(expected {expected_s:.3g} s)")
            self.sleep(poll)
            waited += poll

    @staticmethod
    def _poll_s(expected_s: float) -> float:
        """Seconds between two polls of an average expected to take ``expected_s``."""
        return max(0.01, min(1.0, 0.05 * expected_s))

    def _poll_with_fallback(self, expected_s: float, flag, fallback):
        """A ``done()`` for :meth:`_wait`: ``flag()`` (a status bit that reading clears), and once the measurement is
        overdue (polled "no" for another ``expected_s``) also ``fallback()`` (a read-out that may be repeated).

        A bit that clears when read does not survive a lost reply (timeout, corrupt or cut-off reply): the retried
        query reads 0 for ever and the poll would wait out ``timeout_s``. The fallback is asked only for an overdue
        measurement, so a normal one sends exactly the manual's sequence.
        """
        overdue_after = max(1, math.ceil(expected_s / self._poll_s(expected_s)))
        polls = 0

        def done() -> bool:
            nonlocal polls
            if flag():
                return True
            polls += 1
            return polls >= overdue_after and bool(fallback())

        return done

    def _check_int(self, what: str, value, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
                or not low <= value <= high:
            raise InstrumentError(f"{self.name}: {what} {value!r} is out of range ({low} to {high})")
        return int(value)

    def snapshot(self) -> dict[str, Any]:
        return {"center_Hz": self.center_Hz, "span_Hz": self.span_Hz, "averages": self.averages}


class SR785NoiseAnalyser(_PollingAnalyser):
    """An SR785 (channel 1, FFT 1 on display A) as a noise analyser, through qpclab's ``SR785`` driver."""

    MAX_SPAN_HZ = SR785_MAX_SPAN_HZ

    def check_errors(self, context: str) -> None:
        esr = self.driver.standard_event_status()
        if esr & 0b110000:
            kind = "execution error (parameter out of range)" if esr & 0b10000 else "command error"
            raise InstrumentError(f"{self.name}: SR785 reported a {kind} after {context} (*ESR? = {esr})")

    def configure(self, center_Hz: float, span_Hz: float, averages: int) -> None:
        span = float(span_Hz)
        center = float(center_Hz)
        if not (math.isfinite(span) and 0 < span <= self.MAX_SPAN_HZ):
            raise InstrumentError(f"{self.name}: span {span_Hz!r} Hz is out of range (0 to 102.4 kHz)")
        if not (math.isfinite(center) and span / 2 <= center <= self.MAX_SPAN_HZ - span / 2):
            raise InstrumentError(f"{self.name}: centre {center_Hz!r} Hz with span {span_Hz!r} Hz does not fit in "
                                  f"0 to 102.4 kHz")
        n = self._check_int("number of averages", averages, 1, 32767)
        d = self.driver
        d.measurement_type = 0  # FFT 1
        d.view = "log magnitude"
        d.peak_units = "rms"
        d.db_units = False
        d.psd_units = True
        d.window = "hanning"
        d.base_frequency = 102.4e3
        d.span = span
        d.center_frequency = center
        d.average_mode = "rms"
        d.average_type = "linear"
        if n >= 2:
            d.averages = n
            d.averaging_enabled = True
        else:
            d.averaging_enabled = False
        d.auto_range = True
        self._have_average = False
        self.check_errors(f"configure(center {center_Hz!r} Hz, span {span_Hz!r} Hz, averages {averages!r})")
        self.center_Hz, self.span_Hz, self.averages = float(d.center_frequency), float(d.span), n

    def _record_time(self) -> float:
        return self.driver.resolution_lines / float(self.driver.span)

    def measure_psd(self) -> float:
        d = self.driver
        n = self.averages or 1
        d.display_status_bit(1)  # clear a stale "average complete"
        d.start()
        expected = self._record_time() * n
        self._wait(expected, self._average_done(n, expected))
        self._have_average = True
        _, psd = self._read()
        return sum(psd) / len(psd)

    def _average_done(self, n: int, expected_s: float):
        """The poll for an average of ``n`` records (``expected_s`` long): the AVGA status bit (``DSPS? 1``);
        once the average is overdue, also ``NAVG? 0`` >= n (see :meth:`_PollingAnalyser._poll_with_fallback`)."""
        d = self.driver
        return self._poll_with_fallback(expected_s, lambda: d.average_complete(0), lambda: d.averages_done >= n)

    def _read(self) -> tuple[list[float], list[float]]:
        values = self.driver.read_display(0)
        return self._frequencies(len(values)), [v * v for v in values]

    def _frequencies(self, n_bins: int) -> list[float]:
        d = self.driver
        start = float(d.start_frequency)
        step = float(d.span) / max(1, n_bins - 1)
        return [start + j * step for j in range(n_bins)]

    def measure_spectrum(self) -> tuple[list[float], list[float]]:
        """(frequencies in Hz, PSD in V^2/Hz) of the last complete average (one is taken if there is none)."""
        if not self._have_average:
            self.measure_psd()
        return self._read()

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap.update({"units": "V^2/Hz (from Vrms/rtHz)", "window": "hanning"})
        return snap


class KeysightXSANoiseAnalyser(_PollingAnalyser):
    """A Keysight X-series analyser as a noise analyser: noise marker over the whole span, RMS averaging."""

    def check_errors(self, context: str) -> None:
        errors = []
        for _ in range(20):
            code, msg = self.driver.next_error()
            if code == 0:
                break
            errors.append(f"{code},{msg}")
        if errors:
            raise InstrumentError(f"{self.name}: X-series analyser refused {context}: {'; '.join(errors)}")

    def configure(self, center_Hz: float, span_Hz: float, averages: int) -> None:
        center, span = float(center_Hz), float(span_Hz)
        if not (math.isfinite(span) and span >= 10.0):
            raise InstrumentError(f"{self.name}: span {span_Hz!r} Hz is out of range (at least 10 Hz)")
        if not (math.isfinite(center) and center - span / 2 >= 0):
            raise InstrumentError(f"{self.name}: centre {center_Hz!r} Hz with span {span_Hz!r} Hz reaches below 0 Hz")
        n = self._check_int("number of averages", averages, 1, 10000)
        d = self.driver
        d.continuous = False
        d.power_unit = "DBM"
        d.detector = "AVER"
        d.average_type = "rms"
        d.center_frequency = center
        d.span = span
        d.average_count = n
        d.averaging_enabled = True
        d.marker1_function = "noise"
        d.marker1_frequency = center
        d.marker1_band_span = span
        self.check_errors(f"configure(center {center_Hz!r} Hz, span {span_Hz!r} Hz, averages {averages!r})")
        # dBm refers to the 50 ohm hardware input: Input Z Correction (:CORR:IMP 75) changes voltage units only
        self.impedance_ohm = XSA_INPUT_OHM
        self.center_Hz, self.span_Hz, self.averages = float(d.center_frequency), float(d.span), n
        self._have_average = False

    def _start_and_wait(self) -> None:
        d = self.driver
        d.event_status()  # clear
        d.start_measurement()
        expected = float(d.sweep_time) * (self.averages or 1)
        # *ESR? bit 0 (operation complete) clears when read; overdue: not sweeping, not measuring (:STAT:OPER:COND?)
        self._wait(expected, self._poll_with_fallback(expected, lambda: bool(d.event_status() & 1),
                                                      lambda: not d.operation_condition & 0b11000))

    def measure_psd(self) -> float:
        self._start_and_wait()
        self._have_average = True
        return dbm_per_hz_to_v2_per_hz(float(self.driver.marker1_value), self.impedance_ohm)

    def measure_spectrum(self) -> tuple[list[float], list[float]]:
        """(frequencies in Hz, PSD in V^2/Hz) from trace 1 of the last complete average (one is taken if there is
        none)."""
        if not self._have_average:
            self.measure_psd()
        d = self.driver
        dbm = d.trace_data()
        rbw = float(d.resolution_bandwidth)
        start, stop = float(d.start_frequency), float(d.stop_frequency)
        n = len(dbm)
        freqs = [start + i * (stop - start) / max(1, n - 1) for i in range(n)]
        psd = [self.impedance_ohm * _MILLIWATT * 10 ** (p / 10) / (NOISE_BW_PER_RBW * rbw) for p in dbm]
        return freqs, psd

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap.update({"units": "V^2/Hz (from noise marker dBm/Hz)", "impedance_ohm": getattr(self, "impedance_ohm",
                                                                                              None)})
        return snap


def make_sr785(resource: str, visa_library: str, name: str, **kw) -> SR785NoiseAnalyser:
    """An SR785 through qpclab's ``SR785`` driver."""
    from .drivers.sr785 import SR785

    return SR785NoiseAnalyser(open_driver(SR785, resource, visa_library, name, kw), name,
                              kw.get("wait_timeout_s", 60.0))


def make_keysight_xsa(resource: str, visa_library: str, name: str, **kw) -> KeysightXSANoiseAnalyser:
    """A Keysight N9010A/N9020A through qpclab's ``KeysightXSA`` driver."""
    from .drivers.keysight_xsa import KeysightXSA

    return KeysightXSANoiseAnalyser(open_driver(KeysightXSA, resource, visa_library, name, kw), name,
                                    kw.get("wait_timeout_s", 60.0))
