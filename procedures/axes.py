"""Sweepable axes: a gate, the bias line, the magnetic field, the fridge temperature.

A procedure steps an :class:`Axis` without caring what is behind it. Every axis checks a value against the
station's limits (:meth:`Axis.check`, called for all planned values before anything moves) and moves safely
(:meth:`Axis.move`): gates and bias through their SafeGate (step, rate, limits, read-back), the magnet at the
station's ramp rate until it holds, the temperature to a set point until stable.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

from ..instruments.connect import Lab
from ..instruments.station import Station

__all__ = ["Axis", "GateAxis", "FieldAxis", "TemperatureAxis", "axis_for"]


class Axis:
    name: str = "axis"
    column: str = "Value"
    unit: str = ""

    def check(self, value: float) -> None:
        raise NotImplementedError

    def move(self, lab: Lab, value: float, should_stop: Callable[[], bool]) -> float:
        """Go to ``value``; return the value reached (read back where the instrument tells)."""
        raise NotImplementedError

    def planned_moves(self, values: list[float]) -> list[tuple[str, list[float]]]:
        """(gate name, values) pairs for a dry run; empty for non-gate axes."""
        return []

    def sweeping(self, lab: Lab):
        """Context for a run of moves that nothing else interferes with (gates: one read-back per sweep)."""
        return nullcontext()


@dataclass
class GateAxis(Axis):
    """A gate (or virtual gate) by name, or the bias line (name 'bias')."""

    station: Station
    name: str
    column: str = "Gate (V)"
    unit: str = "V"

    def _spec(self):
        outputs = self.station.outputs()
        if self.name in outputs:
            return outputs[self.name]
        virtual = getattr(self.station, "virtual_gates", None) or {}
        if self.name in virtual:
            return None
        known = sorted(outputs) + sorted(virtual)
        raise ValueError(f"{self.name!r} is not a gate of the station; its gates are {known}")

    def check(self, value: float) -> None:
        spec = self._spec()
        if spec is not None:
            spec.check(value)

    def _gate(self, lab: Lab):
        return lab.bias if self.name == "bias" else lab.gates[self.name]

    def move(self, lab: Lab, value: float, should_stop) -> float:
        return self._gate(lab).ramp_to(value, should_stop=should_stop)

    def mover(self, lab: Lab) -> Callable[[float, Callable[[], bool]], float]:
        """``move(value, should_stop)``: :meth:`move` for this axis's gate, looked up once (for per-point loops)."""
        return self._gate(lab).ramp_to

    def sweeping(self, lab: Lab):
        gate = self._gate(lab)
        return gate.sweeping() if hasattr(gate, "sweeping") else nullcontext()

    def planned_moves(self, values):
        return [(self.name, list(values))]


@dataclass
class FieldAxis(Axis):
    """The magnet's field (T), ramped at the station's rate until the supply holds."""

    station: Station
    name: str = "field"
    column: str = "Field (T)"
    unit: str = "T"

    def check(self, value: float) -> None:
        if self.station.magnet is None:
            raise ValueError("the station has no magnet (station.magnet)")
        self.station.magnet.check(value)

    def move(self, lab: Lab, value: float, should_stop) -> float:
        lab.magnet.ramp_to(value, self.station.magnet.rate_T_per_s)
        lab.magnet.wait_until_holding(should_stop=should_stop)
        return lab.magnet.read_field()


@dataclass
class TemperatureAxis(Axis):
    """The mixing-chamber temperature (K): a set point, then wait until stable within a tolerance."""

    station: Station
    tolerance_K: float = 0.002
    hold_s: float = 0.0
    name: str = "temperature"
    column: str = "Temperature (K)"
    unit: str = "K"

    def check(self, value: float) -> None:
        if self.station.thermometer is None:
            raise ValueError("the station has no thermometer (station.thermometer)")
        self.station.thermometer.check(value)

    def move(self, lab: Lab, value: float, should_stop) -> float:
        lab.thermometer.set_setpoint(value)
        tol = max(self.tolerance_K, 0.01 * value)
        return lab.thermometer.wait_until_stable(value, tol, self.hold_s, should_stop=should_stop)


def axis_for(station: Station, kind: str, name: str = "") -> Axis:
    """Build an axis: kind 'gate' (with its name), 'bias', 'field' or 'temperature'."""
    if kind == "gate":
        return GateAxis(station, name)
    if kind == "bias":
        return GateAxis(station, "bias", column="Bias (V)")
    if kind == "field":
        return FieldAxis(station)
    if kind == "temperature":
        return TemperatureAxis(station)
    raise ValueError(f"unknown axis kind {kind!r}")
