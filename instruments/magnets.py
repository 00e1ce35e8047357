"""Superconducting magnet supplies in the :class:`~qpclab.instruments.roles.Magnet` role.

The adapter wraps pymeasure's unmodified ``AMI430`` driver and is built by ``make_ami430(resource, visa_library,
name, **options)`` (named in :mod:`qpclab.instruments.registry`). Fields in T, rates in T/s: on connecting, the
adapter switches the 430 to tesla (``CONF:FIELD:UNITS 1``), rates per second (``CONF:RAMP:RATE:UNITS 0``) and one
ramp segment (``CONF:RAMP:RATE:SEG 1``), so pymeasure's ``target_field``/``ramp_rate_field``/``field`` are in
T and T/s.

Every setting is checked twice: against the station's limits (``limits_T``, ``rate_T_per_s``) and the supply's
own (coil constant times current limit) before anything is sent, and afterwards against the supply's error queue
(``SYST:ERR?``): a refusal raises :class:`~qpclab.instruments.roles.InstrumentError` naming the instrument and
the value, and no ramp is started.
"""

from __future__ import annotations

import math
from typing import Any

from .roles import InstrumentError, Magnet
from .visa import open_driver

__all__ = ["AMI430Magnet", "make_ami430", "AMI430_STATES"]

#: STATE? codes of the Model 430 (manual table 4-5)
AMI430_STATES = {1: "RAMPING", 2: "HOLDING", 3: "PAUSED", 4: "MANUAL UP", 5: "MANUAL DOWN", 6: "ZEROING",
                 7: "QUENCH", 8: "AT ZERO", 9: "HEATING SWITCH", 10: "COOLING SWITCH"}


class AMI430Magnet(Magnet):
    """An AMI Model 430 as the magnet, through pymeasure's unmodified ``AMI430``.

    ``limits_T`` (low, high) and ``rate_T_per_s`` are the station's envelope (``station.magnet``); without them
    only the supply's own limits apply.
    """

    def __init__(self, driver, name: str = "ami430", limits_T: tuple[float, float] | None = None,
                 rate_T_per_s: float | None = None):
        self.driver = driver
        self.name = name
        self.limits_T: tuple[float, float] | None = None
        self.rate_T_per_s: float | None = None
        self.configure(limits_T, rate_T_per_s)
        d = self.driver
        d.write("CONF:FIELD:UNITS 1")
        d.write("CONF:RAMP:RATE:UNITS 0")
        d.write("CONF:RAMP:RATE:SEG 1")
        self._check("units and ramp segments", "T, T/s, 1 segment")

    # ---- configuration ----------------------------------------------------------------------------------
    def configure(self, limits_T: tuple[float, float] | None = None, rate_T_per_s: float | None = None) -> None:
        """Set the station's field limits (T) and largest ramp rate (T/s)."""
        if limits_T is not None:
            lo, hi = (float(limits_T[0]), float(limits_T[1]))
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"{self.name}: limits_T {limits_T!r} must be finite with low < high")
            self.limits_T = (lo, hi)
        if rate_T_per_s is not None:
            r = float(rate_T_per_s)
            if not (math.isfinite(r) and r > 0):
                raise ValueError(f"{self.name}: rate_T_per_s {rate_T_per_s!r} must be > 0")
            self.rate_T_per_s = r

    def supply_limit_T(self) -> float:
        """The largest field the supply allows: coil constant (T/A) times its current limit (A)."""
        return float(self.driver.coilconst) * float(self.driver.ask("CURR:LIM?"))

    # ---- the role -------------------------------------------------------------------------------------
    def read_field(self) -> float:
        return float(self.driver.field)

    def ramp_to(self, field_T: float, rate_T_per_s: float | None = None) -> None:
        """Program the target (and rate) and start the ramp; returns at once. Refuses, before sending anything,
        a field outside the station's or the supply's limits and a rate above the station's limit."""
        if isinstance(field_T, bool) or not isinstance(field_T, (int, float)) or not math.isfinite(field_T):
            raise InstrumentError(f"{self.name}: field {field_T!r} T is not a finite number")
        if self.limits_T is not None:
            lo, hi = self.limits_T
            if not lo <= field_T <= hi:
                raise InstrumentError(f"{self.name}: field {field_T:g} T is outside the station's limits "
                                      f"[{lo:g}, {hi:g}] T")
        supply = self.supply_limit_T()
        if abs(field_T) > supply * (1 + 1e-9):
            raise InstrumentError(f"{self.name}: field {field_T:g} T is beyond the supply's limit {supply:g} T "
                                  f"(coil constant x current limit)")
        if rate_T_per_s is None:
            rate_T_per_s = self.rate_T_per_s
        if rate_T_per_s is not None:
            if (isinstance(rate_T_per_s, bool) or not isinstance(rate_T_per_s, (int, float))
                    or not math.isfinite(rate_T_per_s) or rate_T_per_s <= 0):
                raise InstrumentError(f"{self.name}: ramp rate {rate_T_per_s!r} T/s must be a number > 0")
            if self.rate_T_per_s is not None and rate_T_per_s > self.rate_T_per_s * (1 + 1e-9):
                raise InstrumentError(f"{self.name}: ramp rate {rate_T_per_s:g} T/s is above the station's limit "
                                      f"{self.rate_T_per_s:g} T/s")
        d = self.driver
        d.pause()
        if rate_T_per_s is not None:
            d.ramp_rate_field = rate_T_per_s
            self._check("ramp rate", f"{rate_T_per_s:g} T/s")
        d.target_field = field_T
        self._check("target field", f"{field_T:g} T")
        if self.has_switch() and not self.switch_heated():
            d.enable_persistent_switch()  # the 430 heats the switch (STATE 9), then starts the ramp
            self._check("persistent switch heater", "on")
        d.ramp()
        self._check("ramp to", f"{field_T:g} T")

    def is_holding(self) -> bool:
        return self.state() == 2

    # ---- more of the 430 --------------------------------------------------------------------------------
    def state(self) -> int:
        """The STATE? code (see :data:`AMI430_STATES`)."""
        return int(self.driver.state)

    def state_name(self) -> str:
        return AMI430_STATES.get(self.state(), "UNKNOWN")

    def target_T(self) -> float:
        return float(self.driver.target_field)

    def ramp_rate_T_per_s(self) -> float:
        value = self.driver.ramp_rate_field  # "<rate>,<upper bound>"
        return float(value[0] if isinstance(value, (list, tuple)) else value)

    def pause(self) -> None:
        self.driver.pause()

    def zero(self) -> None:
        """Ramp to zero field at the present rate."""
        self.driver.zero()

    def has_switch(self) -> bool:
        return bool(int(self.driver.ask("PS:INST?")))

    def switch_heated(self) -> bool:
        return bool(int(self.driver.ask("PSwitch?")))

    def heat_switch(self) -> None:
        self.driver.enable_persistent_switch()
        self._check("persistent switch heater", "on")

    def cool_switch(self) -> None:
        self.driver.disable_persistent_switch()
        self._check("persistent switch heater", "off")

    def _check(self, what: str, value: Any) -> None:
        """Raise InstrumentError if the supply's error queue holds an error (all of them are read)."""
        errors = []
        for _ in range(10):
            reply = str(self.driver.ask("SYST:ERR?")).strip()
            try:
                code = int(reply.split(",")[0])
            except ValueError:
                code = -1
            if code == 0:
                break
            errors.append(reply)
        if errors:
            raise InstrumentError(f"{self.name}: {what} {value} refused by the supply: {'; '.join(errors)}")

    def snapshot(self) -> dict[str, Any]:
        return {"field_T": self.read_field(), "target_T": self.target_T(), "rate_T_per_s": self.ramp_rate_T_per_s(),
                "state": self.state_name(), "limits_T": self.limits_T}


def make_ami430(resource: str, visa_library: str, name: str, **kw) -> AMI430Magnet:
    """An AMI 430 through pymeasure's unmodified ``AMI430``; options ``limits_T``, ``rate_T_per_s``."""
    from pymeasure.instruments.ami import AMI430

    driver = open_driver(AMI430, resource, visa_library, name, kw)
    return AMI430Magnet(driver, name, kw.get("limits_T"), kw.get("rate_T_per_s"))
