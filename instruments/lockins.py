"""Lock-in amplifiers in the :class:`~qpclab.instruments.roles.LockIn` role.

Each adapter wraps a driver (pymeasure's where it has a working one) and is built by a factory
``make_<driver>(resource, visa_library, name, **options)`` that :mod:`qpclab.instruments.registry` names.
"""

from __future__ import annotations

from typing import Any

from .roles import LockIn
from .visa import timeout_kwargs

__all__ = ["SR830LockIn", "make_sr830"]


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



def make_sr830(resource: str, visa_library: str, name: str, **kw) -> SR830LockIn:
    """An SR830 through pymeasure's unmodified ``SR830``."""
    from pymeasure.instruments.srs import SR830

    return SR830LockIn(SR830(resource, visa_library=visa_library, **timeout_kwargs(kw)), name)
