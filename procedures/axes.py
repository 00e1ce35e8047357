"""Sweepable axes: a gate, the bias line, the magnetic field, the fridge temperature.

A plan steps an :class:`Axis` without caring what is behind it. Every axis checks a value against the
station's limits (:meth:`Axis.check`), moves safely (:meth:`Axis.move`): gates and bias through their SafeGate
(step, rate, limits, read-back), the magnet at the station's ramp rate until it holds, the temperature to a set
point until stable; and says how long a move takes without instruments (:meth:`Axis.estimate_s`, the dry run) and
under which name the instrument-level dry run (:mod:`qpclab.instruments.dryrun`) knows it (:attr:`Axis.output`).
"""

from __future__ import annotations

import abc
import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

from ..instruments.connect import Lab
from ..instruments.gates import SafeGate
from ..instruments.roles import Magnet
from ..instruments.station import Station

__all__ = ["Axis", "GateAxis", "FieldAxis", "TemperatureAxis", "axis_for"]


class Axis(abc.ABC):
    """What a plan moves: a gate, the bias, the field, the temperature."""

    name: str = "axis"
    column: str = "Value"
    unit: str = ""

    @abc.abstractmethod
    def check(self, value: float) -> None:
        """Refuse (ValueError naming the axis and its limits) a value the axis may not reach."""

    @abc.abstractmethod
    def move(self, lab: Lab, value: float, should_stop: Callable[[], bool]) -> float:
        """Go to ``value``; return the value reached (read back where the instrument tells)."""

    def mover(self, lab: Lab) -> Callable[[float, Callable[[], bool]], float]:
        """``move(value, should_stop)`` with the instrument looked up once (for the per-point loop)."""
        return lambda value, should_stop: self.move(lab, value, should_stop)

    @abc.abstractmethod
    def read(self, lab: Lab) -> float:
        """Where the axis is now (read from the instrument)."""

    @property
    def output(self) -> str:
        """The name the instrument-level dry run knows this axis by (a gate, "bias", "magnet", "thermometer")."""
        return self.name

    @abc.abstractmethod
    def estimate_s(self, start: float, target: float) -> float:
        """Seconds a move from ``start`` to ``target`` takes (for the dry run's time estimate)."""

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
        virtual = self.station.virtual_gates
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

    def read(self, lab: Lab) -> float:
        return self._gate(lab).read()

    def mover(self, lab: Lab) -> Callable[[float, Callable[[], bool]], float]:
        """``move(value, should_stop)``: :meth:`move` for this axis's gate, looked up once (for per-point loops)."""
        return self._gate(lab).ramp_to

    def sweeping(self, lab: Lab):
        """A physical gate's sweep is verified by read-back (SafeGate.sweeping; the executor checks compliance after
        every point's reading); a virtual gate's steps read back."""
        gate = self._gate(lab)
        return gate.sweeping(checked_per_point=True) if isinstance(gate, SafeGate) else nullcontext()

    def estimate_s(self, start: float, target: float) -> float:
        """At the gate's rate; a virtual gate at the rate of its slowest physical gate for this direction."""
        spec = self._spec()
        if spec is not None:
            return abs(target - start) / spec.rate
        outputs = self.station.outputs()
        coefficients = self.station.virtual_gates[self.name].coefficients
        return max(abs(c * (target - start)) / outputs[g].rate for g, c in coefficients.items())


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

    #: seconds from reaching the target until the supply reports holding and qpclab sees it (polls every 50 ms)
    HOLD_DETECT_S = 0.1

    @property
    def output(self) -> str:
        return "magnet"

    def move(self, lab: Lab, value: float, should_stop) -> float:
        magnet: Magnet = lab.magnet
        magnet.ramp_to(value, self.station.magnet.rate_T_per_s)
        magnet.wait_until_holding(should_stop=should_stop)
        return magnet.read_field()

    def read(self, lab: Lab) -> float:
        return lab.magnet.read_field()

    def estimate_s(self, start: float, target: float) -> float:
        if start == target:
            return self.HOLD_DETECT_S
        return abs(target - start) / self.station.magnet.rate_T_per_s + self.HOLD_DETECT_S


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

    @property
    def output(self) -> str:
        return "thermometer"

    def tolerance_at(self, kelvin: float) -> float:
        """How close to the set point counts as arrived (K): the axis's tolerance, at least 1 % of the value."""
        return max(self.tolerance_K, 0.01 * kelvin)

    def move(self, lab: Lab, value: float, should_stop) -> float:
        lab.thermometer.set_setpoint(value)
        return lab.thermometer.wait_until_stable(value, self.tolerance_at(value), self.hold_s,
                                                 should_stop=should_stop)

    def read(self, lab: Lab) -> float:
        return lab.thermometer.read_temperature()

    def estimate_s(self, start: float, target: float) -> float:
        """The mixing chamber relaxes to a new set point with the station's thermal time constant:
        tau ln(|change| / tolerance) until within the tolerance, then the hold time."""
        tau = self.station.thermometer.time_constant_s
        change, tol = abs(target - start), self.tolerance_at(target)
        return (tau * math.log(change / tol) if change > tol else 0.0) + self.hold_s


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
