"""Role interfaces: what procedures ask of an instrument, whatever its brand.

A procedure talks to a :class:`VoltageSource` (gates, DC bias), a :class:`LockIn`, a :class:`NoiseAnalyser`,
a :class:`Magnet` and a :class:`Thermometer`. Adapters that fill these roles from real drivers live beside this
file by kind (``sources.py``, ``lockins.py``, ``noise_analysers.py``, ``magnets.py``, ``thermometry.py``);
:mod:`qpclab.instruments.registry` maps a station file's driver names to them.
"""

from __future__ import annotations

import abc
from typing import Any

from .lockin_filter import order_for_slope, settle_time

__all__ = ["VoltageSource", "LockIn", "NoiseAnalyser", "Magnet", "Thermometer", "InstrumentError", "ComplianceError",
           "MAX_ERROR_READS"]

#: the most error-queue reads one drain makes: a queue still not empty after that is an instrument failure (a SCPI
#: queue holds at most a few dozen entries; one that refills as fast as it is read would otherwise hold the run)
MAX_ERROR_READS = 32


class InstrumentError(RuntimeError):
    """An instrument refused a setting or reported an error: names the instrument and what it said."""


class ComplianceError(InstrumentError):
    """A source is in compliance (its current limit holds the output: gate leakage, a short): names the output,
    its programmed level and, where known, the current limit. Raised by the first write or check that finds it;
    nothing is written to that output after it."""

    def __init__(self, output: str, volts: float | None = None, limit_A: float | None = None,
                 instrument: str | None = None):
        self.output = output
        self.volts = volts
        self.limit_A = limit_A
        self.instrument = instrument
        at = f" at {volts:g} V" if volts is not None else ""
        limit = f" (current limit {limit_A:g} A)" if limit_A is not None else ""
        source = f" ({instrument})" if instrument else ""
        super().__init__(f"{output}{source}: current compliance reached{at}{limit}: gate leakage or a short? "
                         "stopping")


class VoltageSource(abc.ABC):
    """A DC voltage output (one channel of it). Values in V."""

    name: str = "source"

    @abc.abstractmethod
    def read_voltage(self) -> float:
        """The output level read back from the instrument (never a cached value), V."""

    @abc.abstractmethod
    def write_voltage(self, volts: float) -> None:
        """Set the output level at once (no ramp: :class:`~qpclab.instruments.gates.SafeGate` does the ramping)."""

    @abc.abstractmethod
    def enable(self) -> None:
        """Prepare as a voltage source and switch the output on *at its present level* (no jump)."""

    def write_voltage_fast(self, volts: float) -> None:
        """Set the level without reading the error queue afterwards (inside a verified sweep, where
        :meth:`check_errors` runs periodically instead). Default: the checked write."""
        self.write_voltage(volts)

    def check_errors(self) -> None:
        """Raise :class:`InstrumentError` if the instrument reports errors (its error queue, read at most
        :data:`MAX_ERROR_READS` times). Default: nothing."""

    def output_enabled(self) -> bool:
        """True if the output drives the sample (on); a source that is switched off holds it at 0 V. Default:
        always on (a DAC's outputs are always connected)."""
        return True

    def in_compliance(self) -> bool:
        """True if the output is held by its current limit now (one short exchange, no error queue). Default: a
        source without a compliance state (a DAC) never is."""
        return False

    def write_voltage_watched(self, volts: float) -> bool:
        """:meth:`write_voltage_fast`, then :meth:`in_compliance`: True if the output is in compliance after the
        write. Sources that can combine the two in one exchange override this."""
        self.write_voltage_fast(volts)
        return self.in_compliance()

    def compliance_limit_A(self) -> float | None:
        """The current limit (A) for messages, if known without asking the instrument."""
        return None

    def quantize(self, volts: float) -> float:
        """The level the instrument will hold (and read back) for a requested one: its command format. Default:
        exactly the requested value."""
        return volts

    def resolution(self, volts: float) -> float:
        """The smallest change (V) the instrument can make near ``volts``: its command format or its DAC,
        whichever is coarser. Default 0 (no rounding)."""
        return 0.0

    def channel(self, number: int | None) -> "VoltageSource":
        """The source for one output channel (1, 2, ...); single-channel sources return themselves for None or 1.
        Multi-channel instruments (a DAC) override this."""
        if number in (None, 1):
            return self
        raise ValueError(f"{self.name} has a single output; channel {number} does not exist")

    def snapshot(self) -> dict[str, Any]:
        return {"voltage_V": self.read_voltage()}


class LockIn(abc.ABC):
    """A lock-in amplifier: X, Y in V rms; knows how long its output filter needs to settle."""

    name: str = "lockin"

    @property
    @abc.abstractmethod
    def time_constant(self) -> float:
        """Output filter time constant, s."""

    @property
    @abc.abstractmethod
    def filter_slope(self) -> int:
        """Output filter roll-off, dB/octave (6, 12, 18, 24)."""

    @property
    @abc.abstractmethod
    def excitation_V(self) -> float:
        """Sine output amplitude, V rms."""

    @abc.abstractmethod
    def read_xy(self) -> tuple[float, float]:
        """X and Y sampled together, V rms."""

    @abc.abstractmethod
    def overloaded(self) -> bool:
        """True if the output or input overloaded since the last check."""

    @abc.abstractmethod
    def reference_unlocked(self) -> bool:
        """True if the lock-in lost its reference since the last check (the suspenders' lock-in condition)."""

    def settle_time(self, tolerance: float = 1e-3) -> float:
        """Seconds after a change until the output is within ``tolerance`` of its final value."""
        return settle_time(self.time_constant, order_for_slope(self.filter_slope), tolerance)

    def snapshot(self) -> dict[str, Any]:
        return {"time_constant_s": self.time_constant, "filter_slope_dB": self.filter_slope,
                "excitation_V": self.excitation_V}




class NoiseAnalyser(abc.ABC):
    """A noise spectrum analyser: voltage noise power spectral density in V^2/Hz."""

    name: str = "noise_analyser"

    @abc.abstractmethod
    def configure(self, center_Hz: float, span_Hz: float, averages: int) -> None:
        """Set the band (centre and span, Hz) and the number of averages (RMS averaging)."""

    @abc.abstractmethod
    def measure_psd(self) -> float:
        """Start a fresh average, wait until it is complete, return the mean PSD over the band (V^2/Hz)."""

    def measure_spectrum(self) -> tuple[list[float], list[float]]:
        """(frequencies in Hz, PSD in V^2/Hz) of the last complete average; optional."""
        raise NotImplementedError(f"{type(self).__name__} does not return full spectra")

    def snapshot(self) -> dict[str, Any]:
        return {}


class Magnet(abc.ABC):
    """A superconducting magnet supply. Field in T, rate in T/s."""

    name: str = "magnet"

    @abc.abstractmethod
    def configure(self, limits_T: tuple[float, float] | None = None, rate_T_per_s: float | None = None) -> None:
        """The station's field limits and ramp rate: every later ramp is checked against them before sending."""

    @abc.abstractmethod
    def read_field(self) -> float:
        """The present field (T), read from the supply."""

    @abc.abstractmethod
    def ramp_to(self, field_T: float, rate_T_per_s: float | None = None) -> None:
        """Start a ramp to ``field_T`` (at ``rate_T_per_s`` if given); returns at once."""

    @abc.abstractmethod
    def is_holding(self) -> bool:
        """True once the target is reached and the supply holds it."""

    def wait_until_holding(self, timeout_s: float = 3600.0, should_stop=None, poll_s: float = 0.05) -> None:
        """Block until holding; polls ``should_stop`` (raises TimeoutError after ``timeout_s``)."""
        import time

        end = time.monotonic() + timeout_s
        while not self.is_holding():
            if should_stop is not None and should_stop():
                return
            if time.monotonic() > end:
                raise TimeoutError(f"{self.name}: not holding after {timeout_s:g} s")
            time.sleep(poll_s)

    def snapshot(self) -> dict[str, Any]:
        return {"field_T": self.read_field()}


class Thermometer(abc.ABC):
    """Fridge thermometry and temperature control (mixing chamber). Temperatures in K."""

    name: str = "thermometer"

    @abc.abstractmethod
    def configure(self, channel: int | None = None, limits_K: tuple[float, float] | None = None) -> None:
        """The station's thermometer channel and set-point limits (K): set points outside are refused."""

    @abc.abstractmethod
    def read_temperature(self) -> float:
        """Mixing-chamber temperature (K)."""

    @abc.abstractmethod
    def set_setpoint(self, kelvin: float) -> None:
        """Regulate the mixing chamber at ``kelvin``."""

    def wait_until_stable(self, target_K: float, tolerance_K: float, hold_s: float = 0.0,
                          timeout_s: float = 3600.0, should_stop=None, poll_s: float = 0.05) -> float:
        """Block until the temperature stays within ``tolerance_K`` of ``target_K`` for ``hold_s``; return it."""
        import time

        end = time.monotonic() + timeout_s
        inside_since = None
        while True:
            t = self.read_temperature()
            now = time.monotonic()
            if abs(t - target_K) <= tolerance_K:
                inside_since = inside_since if inside_since is not None else now
                if now - inside_since >= hold_s:
                    return t
            else:
                inside_since = None
            if should_stop is not None and should_stop():
                return t
            if now > end:
                raise TimeoutError(f"{self.name}: {t:g} K not within {tolerance_K:g} K of {target_K:g} K")
            time.sleep(poll_s)

    def snapshot(self) -> dict[str, Any]:
        return {"temperature_K": self.read_temperature()}
