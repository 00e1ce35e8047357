"""Role interfaces: what procedures ask of an instrument, whatever its brand.

A procedure talks to a :class:`VoltageSource` (gates, DC bias) and a :class:`LockIn`; the classes here adapt the
drivers (pymeasure's where they exist) to those roles. Which driver fills a role is named in the station file;
:data:`ROLE_ADAPTERS` maps the station's driver names to adapters.
"""

from __future__ import annotations

import abc
from typing import Any

from .lockin_filter import order_for_slope, settle_time

__all__ = ["VoltageSource", "LockIn", "Keithley2400Source", "SR830LockIn", "ROLE_ADAPTERS", "InstrumentError"]


class InstrumentError(RuntimeError):
    """An instrument refused a setting or reported an error: names the instrument and what it said."""


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

    def settle_time(self, tolerance: float = 1e-3) -> float:
        """Seconds after a change until the output is within ``tolerance`` of its final value."""
        return settle_time(self.time_constant, order_for_slope(self.filter_slope), tolerance)

    def snapshot(self) -> dict[str, Any]:
        return {"time_constant_s": self.time_constant, "filter_slope_dB": self.filter_slope,
                "excitation_V": self.excitation_V}


# ---- adapters over pymeasure's drivers --------------------------------------------------------------------------
class Keithley2400Source(VoltageSource):
    """A Keithley 2400 as a voltage source, through pymeasure's unmodified ``Keithley2400`` driver."""

    def __init__(self, driver, name: str = "keithley2400", compliance_A: float | None = None):
        self.driver = driver
        self.name = name
        self.compliance_A = compliance_A

    def read_voltage(self) -> float:
        return float(self.driver.source_voltage)

    def write_voltage(self, volts: float) -> None:
        self.driver.source_voltage = volts

    def enable(self) -> None:
        d = self.driver
        if d.source_enabled and d.source_mode == "voltage":
            if self.compliance_A is not None:
                d.compliance_current = self.compliance_A
            return  # already sourcing: leave the level alone
        # An output that is off holds the sample at 0 V (NORMal output-off state): program 0 V before switching
        # on, so that enabling never applies a stale level.
        d.disable_source()
        d.source_mode = "voltage"
        d.source_voltage_range_auto_enabled = True
        d.source_voltage = 0.0
        if self.compliance_A is not None:
            d.compliance_current = self.compliance_A
        d.enable_source()

    def snapshot(self) -> dict[str, Any]:
        d = self.driver
        return {"voltage_V": float(d.source_voltage), "output_on": bool(d.source_enabled),
                "compliance_A": float(d.compliance_current)}


class SR830LockIn(LockIn):
    """An SR830 as a lock-in, through pymeasure's unmodified ``SR830`` driver."""

    def __init__(self, driver, name: str = "sr830"):
        self.driver = driver
        self.name = name

    @property
    def time_constant(self) -> float:
        return float(self.driver.time_constant)

    @time_constant.setter
    def time_constant(self, seconds: float) -> None:
        self.driver.time_constant = seconds

    @property
    def filter_slope(self) -> int:
        return int(self.driver.filter_slope)

    @filter_slope.setter
    def filter_slope(self, db: int) -> None:
        self.driver.filter_slope = db

    @property
    def excitation_V(self) -> float:
        return float(self.driver.sine_voltage)

    @excitation_V.setter
    def excitation_V(self, volts: float) -> None:
        self.driver.sine_voltage = volts

    @property
    def sensitivity(self) -> float:
        return float(self.driver.sensitivity)

    @sensitivity.setter
    def sensitivity(self, volts: float) -> None:
        self.driver.sensitivity = volts

    def read_xy(self) -> tuple[float, float]:
        x, y = self.driver.snap("X", "Y")
        return float(x), float(y)

    def overloaded(self) -> bool:
        status = int(self.driver.ask("LIAS?"))
        return bool(status & 0b101)

    def auto_gain(self) -> None:
        self.driver.auto_gain()

    def sensitivity_up(self) -> bool:
        """One sensitivity step coarser (after an overload); False if already at 1 V full scale."""
        values = self.driver.SENSITIVITIES
        now = self.sensitivity
        bigger = [v for v in values if v > now * 1.0001]
        if not bigger:
            return False
        self.sensitivity = bigger[0]
        return True

    def snapshot(self) -> dict[str, Any]:
        d = self.driver
        snap = super().snapshot()
        snap.update({"sensitivity_V": float(d.sensitivity), "frequency_Hz": float(d.frequency),
                     "phase_deg": float(d.phase), "input_config": str(d.input_config)})
        return snap


def _keithley2400(resource: str, visa_library: str, name: str, **kw):
    from pymeasure.instruments.keithley import Keithley2400

    return Keithley2400Source(Keithley2400(resource, visa_library=visa_library, **_timeout(kw)), name,
                              kw.get("compliance_A"))


def _sr830(resource: str, visa_library: str, name: str, **kw):
    from pymeasure.instruments.srs import SR830

    return SR830LockIn(SR830(resource, visa_library=visa_library, **_timeout(kw)), name)


def _timeout(kw: dict) -> dict:
    t = kw.get("timeout_s")
    return {"timeout": int(t * 1000)} if t else {}


#: station driver name -> factory(resource, visa_library, name, **options) returning a role adapter
ROLE_ADAPTERS = {
    "keithley2400": _keithley2400,
    "sr830": _sr830,
}
