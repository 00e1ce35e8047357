"""Voltage sources (gates, DC bias) in the :class:`~qpclab.instruments.roles.VoltageSource` role.

Each adapter wraps a driver (pymeasure's where it has a working one) and is built by a factory
``make_<driver>(resource, visa_library, name, **options)`` that :mod:`qpclab.instruments.registry` names.
"""

from __future__ import annotations

from typing import Any

from .roles import VoltageSource
from .visa import timeout_kwargs

__all__ = ["Keithley2400Source", "make_keithley2400"]


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



def make_keithley2400(resource: str, visa_library: str, name: str, **kw) -> Keithley2400Source:
    """A Keithley 2400 through pymeasure's unmodified ``Keithley2400``."""
    from pymeasure.instruments.keithley import Keithley2400

    return Keithley2400Source(Keithley2400(resource, visa_library=visa_library, **timeout_kwargs(kw)), name,
                              kw.get("compliance_A"))
