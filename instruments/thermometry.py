"""Fridge thermometry and temperature control in the :class:`~qpclab.instruments.roles.Thermometer` role.

The adapter wraps our Lake Shore 372 driver (:mod:`qpclab.instruments.drivers.lakeshore372`) and is built by
``make_lakeshore372(resource, visa_library, name, **options)`` (named in :mod:`qpclab.instruments.registry`).
Options: ``channel`` (the mixing-chamber thermometer, 1-16), ``limits_K`` (allowed set points) and
``heater_range`` (sample-heater range index used when regulating, default 5 = 3.16 mA).

Set points outside the station's limits are refused before anything is sent; a set point the 372 itself
refuses (execution error in its event status register) raises
:class:`~qpclab.instruments.roles.InstrumentError` as well, naming the instrument and the value.
"""

from __future__ import annotations

import math
from typing import Any

from .drivers.lakeshore372 import SAMPLE_HEATER_RANGES_A, LakeShore372, LakeShore372Error
from .roles import InstrumentError, Thermometer
from .visa import open_driver

__all__ = ["LakeShore372Thermometer", "make_lakeshore372"]


class LakeShore372Thermometer(Thermometer):
    """A Lake Shore 372 reading the mixing chamber on ``channel`` and regulating it with the sample heater."""

    def __init__(self, driver: LakeShore372, name: str = "lakeshore372", channel: int | None = None,
                 limits_K: tuple[float, float] | None = None, heater_range: int = 5):
        self.driver = driver
        self.name = name
        self.channel = 6
        self.limits_K: tuple[float, float] | None = None
        if int(heater_range) not in range(1, 9):
            raise ValueError(f"{name}: heater_range {heater_range!r} must be 1-8 (see SAMPLE_HEATER_RANGES_A)")
        self.heater_range_index = int(heater_range)
        self.configure(channel, limits_K)

    def configure(self, channel: int | None = None, limits_K: tuple[float, float] | None = None) -> None:
        """Set the mixing-chamber channel (1-16) and the allowed set points (K), e.g. from ``station.thermometer``."""
        if channel is not None:
            if isinstance(channel, bool) or int(channel) != channel or not 1 <= int(channel) <= 16:
                raise ValueError(f"{self.name}: channel {channel!r} must be 1-16")
            self.channel = int(channel)
        if limits_K is not None:
            lo, hi = float(limits_K[0]), float(limits_K[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"{self.name}: limits_K {limits_K!r} must be finite with low < high")
            self.limits_K = (lo, hi)

    # ---- the role -------------------------------------------------------------------------------------
    def read_temperature(self) -> float:
        return float(self.driver.input(self.channel).kelvin)

    def set_setpoint(self, kelvin: float) -> None:
        """Regulate the mixing chamber at ``kelvin``: closed-loop PID on the channel, heater on, set point."""
        if isinstance(kelvin, bool) or not isinstance(kelvin, (int, float)) or not math.isfinite(kelvin):
            raise InstrumentError(f"{self.name}: set point {kelvin!r} K is not a finite number")
        if self.limits_K is not None:
            lo, hi = self.limits_K
            if not lo <= kelvin <= hi:
                raise InstrumentError(f"{self.name}: set point {kelvin:g} K is outside the station's limits "
                                      f"[{lo:g}, {hi:g}] K")
        heater = self.driver.sample_heater
        try:
            mode = heater.output_mode  # [mode, input, powerup, polarity, filter, delay] as text ("06" or "6")
            inp = str(mode[1]).strip()
            if int(float(mode[0])) != 5 or not (inp.isdigit() and int(inp) == self.channel):
                heater.output_mode = ("closed_loop", self.channel, 1, 0, 0, 0)
            heater.setpoint = kelvin
            if int(heater.range) == 0:
                heater.range = self.heater_range_index
        except (LakeShore372Error, ValueError) as exc:
            raise InstrumentError(f"{self.name}: set point {kelvin!r} K refused: {exc}") from None

    # ---- more of the 372 --------------------------------------------------------------------------------
    @property
    def setpoint(self) -> float:
        """The sample heater's set point (K)."""
        return float(self.driver.sample_heater.setpoint)

    @property
    def heater_range(self) -> int:
        """Sample heater range index (0 = off)."""
        return int(self.driver.sample_heater.range)

    @heater_range.setter
    def heater_range(self, index: int) -> None:
        try:
            self.driver.sample_heater.range = index
        except (LakeShore372Error, ValueError) as exc:
            raise InstrumentError(f"{self.name}: heater range {index!r} refused: {exc}") from None
        if index:
            self.heater_range_index = int(index)

    @property
    def heater_range_A(self) -> float:
        """Full-scale current of the present sample heater range (A)."""
        return SAMPLE_HEATER_RANGES_A[self.heater_range]

    def heater_off(self) -> None:
        """Stop heating (RANGE 0,0): the mixing chamber cools to base."""
        self.heater_range = 0

    def read_resistance(self) -> float:
        """The thermometer's resistance (ohm)."""
        return float(self.driver.input(self.channel).resistance)

    def snapshot(self) -> dict[str, Any]:
        return {"temperature_K": self.read_temperature(), "setpoint_K": self.setpoint,
                "heater_range": self.heater_range, "channel": self.channel, "limits_K": self.limits_K}


def make_lakeshore372(resource: str, visa_library: str, name: str, **kw) -> LakeShore372Thermometer:
    """A Lake Shore 372 through our driver; options ``channel``, ``limits_K``, ``heater_range``."""
    driver = open_driver(LakeShore372, resource, visa_library, name, kw)
    return LakeShore372Thermometer(driver, name, kw.get("channel"), kw.get("limits_K"),
                                   kw.get("heater_range", 5))
