"""2D maps: a gate swept fast, another axis stepped slowly.

- :class:`GateGateMap`: gate x gate (split-gate pairs: the two halves, or plunger x barrier);
- :class:`BiasMap`: gate x source-drain bias (bias spectroscopy: subband spacings, lever arm);
- :class:`FieldMap`: gate x magnetic field (Zeeman fan: spin-split steps, g-factor);
- :class:`TemperatureMap`: gate x mixing-chamber temperature (thermometry from the step width).

Each line: bring the gate to the line's start, move the slow axis (safely: gates by their step and rate, the
magnet at its rate until it holds, the temperature until stable), then sweep the gate, optionally in alternating
direction (snake) so the gate never jumps back across the whole range. The slow column records the value reached
(read back from the instrument).
"""

from __future__ import annotations

from pymeasure.experiment import BooleanParameter, FloatParameter, Parameter

from ..instruments.station import Station
from .adaptive import AdaptivePlan, EdgeSampler, StoppingRule, check_sampling, sampling_parameters
from .axes import Axis, GateAxis, axis_for
from .base import GateSweepProcedure, ParameterError, check_value
from .plan import Line, Move, Plan, linspace_points
from .readouts import ConductanceReadout

__all__ = ["GateMap", "GateGateMap", "BiasMap", "FieldMap", "TemperatureMap"]


def _slow_range(label: str, units: str, start: float, stop: float, step: float, largest_step: float):
    """The slow axis's ``<prefix>_start``, ``_stop``, ``_step`` parameters (assign them to those three names)."""
    return (FloatParameter(f"{label} start", units=units, default=start),
            FloatParameter(f"{label} stop", units=units, default=stop),
            FloatParameter(f"{label} step", units=units, default=step, minimum=1e-6, maximum=largest_step))


class GateMap(GateSweepProcedure):
    """Base of the maps: the fast axis is a gate; subclasses name the slow axis (kind, column, parameters)."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.3)
    stop = FloatParameter("Stop", units="V", default=-0.85)
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

    def fast_values(self):
        return linspace_points(self.start, self.stop, self.step)

    def slow_values(self):
        return linspace_points(*self.slow_range, what=f"{self.SLOW_PREFIX}_step")

    def line_points(self) -> int:
        return len(self.fast_values())

    def map_grid(self):
        """(fast-axis values, slow-axis values) of the map, for the live image."""
        return self.fast_values(), self.slow_values()

    def check(self, station: Station) -> None:
        super().check(station)
        fast = GateAxis(station, self.gate)
        slow = self.slow_axis(station)
        slow_start, slow_stop, _ = self.slow_range
        check_value(fast, "start", self.start)
        check_value(fast, "stop", self.stop)
        check_value(slow, f"{self.SLOW_PREFIX}_start", slow_start)
        check_value(slow, f"{self.SLOW_PREFIX}_stop", slow_stop)
        if isinstance(slow, GateAxis) and slow.name == self.gate:
            raise ParameterError("gate", self.gate, "the fast and the slow axis are the same gate")

    def plan(self, station: Station) -> Plan:
        fast, slow = self.fast_values(), self.slow_values()
        back = fast[::-1]
        slow_axis = self.slow_axis(station)

        def line(k: int) -> Line:
            values = back if (self.alternate and k % 2) else fast
            return Line((Move(slow_axis, slow[k], self.SLOW_COLUMN),), values, {"Line": k})

        return Plan(fast=GateAxis(station, self.gate), fast_column="Gate (V)", lines=len(slow), line=line,
                    readout=ConductanceReadout(self.lockin_settings(), station.circuit), columns=self.DATA_COLUMNS,
                    fast_first=True, buffered=self.sweep_route(station, self.gate, len(fast)))


class GateGateMap(GateMap):
    """Gate x gate: sweep ``gate`` fast at each value of ``gate2``."""

    gate = Parameter("Gate", default="gate_left")
    gate2 = Parameter("Gate 2", default="gate_right")
    step = FloatParameter("Step", units="V", default=0.01, minimum=1e-6, maximum=1.0)  # each half: half the lever arm
    gate2_start, gate2_stop, gate2_step = _slow_range("Gate 2", "V", -1.3, -0.85, 0.075, 1.0)

    SLOW_KIND = "gate"
    SLOW_COLUMN = "Gate 2 (V)"

    def slow_axis(self, station: Station) -> Axis:
        return GateAxis(station, self.gate2, column="Gate 2 (V)")


class BiasMap(GateMap):
    """Gate x source-drain bias (bias spectroscopy). Bias values are at the bias source (V), before the divider.

    The defaults (2.8 V through the packaged labs' 1:1000 divider) reach past the diamonds' closure of the packaged
    QPC (e V = hbar omega_y = 2 meV) over its first four risers: lever arm and subband spacings.

    ``sampling = adaptive``: each bias row's gate values come from a learner (:class:`EdgeSampler`): the risers and
    their split branches resolved down to ``step``, the plateaus ``plateau_step`` apart; at most ``max_points`` in
    all (0: the grid's), each row its share."""

    bias_start, bias_stop, bias_step = _slow_range("Bias", "V", 0.0, 2.8, 0.35, 10.0)
    sampling, plateau_step, max_points = sampling_parameters(0.04, "the grid's")

    SLOW_KIND = "bias"
    SLOW_PREFIX = "bias"
    SLOW_COLUMN = "Bias (V)"
    #: an adaptive row: a riser's interval is split while its conductance changes by more than this (G0)
    RISE_G0 = 0.4

    def validate(self) -> None:
        super().validate()
        check_sampling(self.sampling, self.mode, self.step, self.plateau_step)

    def plan(self, station: Station) -> Plan:
        if self.sampling != "adaptive":
            return super().plan(station)
        fast, slow = self.fast_values(), self.slow_values()
        bounds = (min(self.start, self.stop), max(self.start, self.stop))
        slow_axis = self.slow_axis(station)
        return AdaptivePlan(fast=GateAxis(station, self.gate), fast_column="Gate (V)",
                            readout=ConductanceReadout(self.lockin_settings(), station.circuit),
                            columns=self.DATA_COLUMNS, bounds=bounds, upward=self.start <= self.stop, backlash=0.0,
                            sampler=lambda: EdgeSampler(bounds, self.step, self.plateau_step, self.RISE_G0),
                            stop=StoppingRule(self.step, self.max_points or len(fast) * len(slow)),
                            y_column="G/G0", line_column="Line",
                            lines=[((Move(slow_axis, value, self.SLOW_COLUMN),), {"Line": k})
                                   for k, value in enumerate(slow)])


class FieldMap(GateMap):
    """Gate x magnetic field (Zeeman fan). The defaults split the first three risers of the packaged QPC (|g| = 1.3:
    3.8 mV/T in gate voltage) beyond their width from 4 T on; 10 T takes 5 s on the fast_field lab's magnet."""

    start = FloatParameter("Start", units="V", default=-1.25)
    stop = FloatParameter("Stop", units="V", default=-0.95)
    field_start, field_stop, field_step = _slow_range("Field", "T", 0.0, 10.0, 2.0, 20.0)

    SLOW_KIND = "field"
    SLOW_PREFIX = "field"
    SLOW_COLUMN = "Field (T)"


class TemperatureMap(GateMap):
    """Gate x mixing-chamber temperature (the temperature column is the one read when the line starts). The
    defaults sweep the first riser finely at temperatures where k_B T is a visible part of its width (above
    ~0.3 K for the packaged QPC's hbar omega_x = 0.5 meV): the step-width thermometer."""

    start = FloatParameter("Start", units="V", default=-1.26)  # the first riser alone: the thermometer
    stop = FloatParameter("Stop", units="V", default=-1.14)
    step = FloatParameter("Step", units="V", default=0.002, minimum=1e-6, maximum=1.0)
    temperature_start, temperature_stop, temperature_step = _slow_range("Temperature", "K", 0.4, 1.2, 0.4, 10.0)

    SLOW_KIND = "temperature"
    SLOW_PREFIX = "temperature"
    SLOW_COLUMN = "Temperature (K)"
