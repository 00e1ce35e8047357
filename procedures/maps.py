"""2D maps: a gate swept fast, another axis stepped slowly.

- :class:`GateGateMap`: gate x gate (split-gate pairs: the two halves, or plunger x barrier);
- :class:`BiasMap`: gate x source-drain bias (bias spectroscopy: subband spacings, lever arm);
- :class:`FieldMap`: gate x magnetic field (Zeeman fan: spin-split steps, g-factor);
- :class:`TemperatureMap`: gate x mixing-chamber temperature (thermometry from the step width).

Each line: move the slow axis (safely: gates by their step and rate, the magnet at its rate until it holds, the
temperature until stable), then sweep the gate, optionally in alternating direction (snake) so the gate never
jumps back across the whole range.
"""

from __future__ import annotations

import time

from pymeasure.experiment import BooleanParameter, FloatParameter, Parameter

from ..instruments.station import Station
from .axes import Axis, GateAxis, axis_for
from .base import LockInProcedure, linspace_points

__all__ = ["GateMap", "GateGateMap", "BiasMap", "FieldMap", "TemperatureMap"]


def _slow_range(label: str, units: str, start: float, stop: float, step: float, largest_step: float):
    """The slow axis's ``<prefix>_start``, ``_stop``, ``_step`` parameters (assign them to those three names)."""
    return (FloatParameter(f"{label} start", units=units, default=start),
            FloatParameter(f"{label} stop", units=units, default=stop),
            FloatParameter(f"{label} step", units=units, default=step, minimum=1e-6, maximum=largest_step))


class GateMap(LockInProcedure):
    """Base of the maps: the fast axis is a gate; subclasses name the slow axis (kind, column, parameters)."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.3)
    stop = FloatParameter("Stop", units="V", default=-0.7)
    step = FloatParameter("Step", units="V", default=0.005, minimum=1e-6, maximum=1.0)
    alternate = BooleanParameter("Alternate direction", default=True)

    SLOW_KIND = "gate"
    SLOW_COLUMN = "Gate 2 (V)"
    DATA_COLUMNS = ["Gate (V)", "Gate 2 (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Line", "Time (s)"]

    #: subclasses define <SLOW_PREFIX>_start, _stop, _step parameters with their units (see _slow_range)
    SLOW_PREFIX = "gate2"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.DATA_COLUMNS = ["Gate (V)", cls.SLOW_COLUMN, "X (V)", "Y (V)", "G (S)", "G/G0", "Line", "Time (s)"]

    @property
    def slow_range(self) -> tuple[float, float, float]:
        p = self.SLOW_PREFIX
        return getattr(self, f"{p}_start"), getattr(self, f"{p}_stop"), getattr(self, f"{p}_step")

    def slow_axis(self, station: Station) -> Axis:
        return axis_for(station, self.SLOW_KIND)

    def fast_values(self) -> list[float]:
        return linspace_points(self.start, self.stop, self.step)

    def slow_values(self) -> list[float]:
        return linspace_points(*self.slow_range)

    def map_grid(self) -> tuple[list[float], list[float]]:
        """(fast-axis values, slow-axis values) of the map, for the live image."""
        return self.fast_values(), self.slow_values()

    def lines(self) -> list[tuple[float, list[float]]]:
        """(slow value, fast values in sweep order) for every line."""
        fast = self.fast_values()
        out = []
        for i, s in enumerate(self.slow_values()):
            out.append((s, fast[::-1] if (self.alternate and i % 2) else fast))
        return out

    def check(self, station: Station) -> None:
        super().check(station)
        fast = GateAxis(station, self.gate)
        slow = self.slow_axis(station)
        slow_start, slow_stop, _ = self.slow_range
        for axis, label, v in ((fast, "start", self.start), (fast, "stop", self.stop),
                               (slow, f"{self.SLOW_PREFIX} start", slow_start),
                               (slow, f"{self.SLOW_PREFIX} stop", slow_stop)):
            try:
                axis.check(v)
            except ValueError as exc:
                raise ValueError(f"{label}: {exc}") from None
        if isinstance(slow, GateAxis) and slow.name == self.gate:
            raise ValueError(f"the fast and the slow axis are the same gate {self.gate!r}")

    def planned_moves(self):
        """In run order: per line, the slow move (gates and bias only) then the fast sweep."""
        moves: list[tuple[str, list[float]]] = []
        slow_name = "bias" if self.SLOW_KIND == "bias" else self.slow_gate_name()
        for s, fast in self.lines():
            if fast:
                moves.append((self.gate, [fast[0]]))
            if self.SLOW_KIND in ("gate", "bias"):
                moves.append((slow_name, [s]))
            elif self.SLOW_KIND == "field":
                moves.append(("magnet", [s]))
            elif self.SLOW_KIND == "temperature":
                moves.append(("thermometer", [s]))
            moves.append((self.gate, fast))
        return moves

    def slow_gate_name(self) -> str:
        return ""

    def measure(self) -> None:
        fast = GateAxis(self.station, self.gate)
        slow = self.slow_axis(self.station)
        lines = self.lines()
        total = sum(len(f) for _, f in lines)
        done = 0
        resuming = self.resume_from > 0
        report_every = max(1, total // 1000)  # progress in steps of 0.1 %
        move, should_stop, emit = fast.mover(self.lab), self.should_stop, self.emit
        t0 = time.monotonic()
        for k, (s, values) in enumerate(lines):
            if self.resume_from >= done + len(values):  # the whole line is on disk already
                done += len(values)
                self._point_index += len(values)
                continue
            if values:
                fast.move(self.lab, values[0], self.should_stop)  # to the line's start before the slow move
            s_reached = slow.move(self.lab, s, self.should_stop)
            if self.should_stop():
                return
            slow_value = s if self.SLOW_KIND in ("gate", "bias") else s_reached
            with fast.sweeping(self.lab):
                for v in values:
                    if resuming and self.skip_point():
                        done += 1
                        continue
                    row = self.conductance_point({"Gate (V)": move(v, should_stop),  # the value the instrument holds
                                                  self.SLOW_COLUMN: slow_value, "Line": k})
                    row["Time (s)"] = time.monotonic() - t0
                    emit("results", row)
                    done += 1
                    if done % report_every == 0 or done == total:
                        emit("progress", 100.0 * done / total)
                    if should_stop():
                        return

    def estimated_duration(self) -> float:
        return sum(len(f) for _, f in self.lines()) * self.settle_seconds()


class GateGateMap(GateMap):
    """Gate x gate: sweep ``gate`` fast at each value of ``gate2``."""

    gate2 = Parameter("Gate 2", default="gate_right")
    gate2_start, gate2_stop, gate2_step = _slow_range("Gate 2", "V", -1.3, -0.7, 0.02, 1.0)

    SLOW_KIND = "gate"
    SLOW_COLUMN = "Gate 2 (V)"

    def slow_axis(self, station: Station) -> Axis:
        return GateAxis(station, self.gate2, column="Gate 2 (V)")

    def slow_gate_name(self) -> str:
        return self.gate2


class BiasMap(GateMap):
    """Gate x source-drain bias (bias spectroscopy). Bias values are at the bias source (V), before the divider."""

    bias_start, bias_stop, bias_step = _slow_range("Bias", "V", -1.0, 1.0, 0.1, 10.0)

    SLOW_KIND = "bias"
    SLOW_PREFIX = "bias"
    SLOW_COLUMN = "Bias (V)"


class FieldMap(GateMap):
    """Gate x magnetic field (Zeeman fan)."""

    field_start, field_stop, field_step = _slow_range("Field", "T", 0.0, 1.0, 0.1, 20.0)

    SLOW_KIND = "field"
    SLOW_PREFIX = "field"
    SLOW_COLUMN = "Field (T)"


class TemperatureMap(GateMap):
    """Gate x mixing-chamber temperature (the temperature column is the one read when the line starts)."""

    temperature_start, temperature_stop, temperature_step = _slow_range("Temperature", "K", 0.05, 0.5, 0.05, 10.0)

    SLOW_KIND = "temperature"
    SLOW_PREFIX = "temperature"
    SLOW_COLUMN = "Temperature (K)"
