"""The conductance staircase: sweep one gate, read the lock-in, record G in units of G0.

Each point: step the gate (within its step, rate and limits), wait for the lock-in to settle (computed from its
time constant and filter slope), read X and Y together, and convert to conductance with the station's circuit
(excitation divider, preamp gain, series resistance).

``sampling = adaptive`` asks the gate values from a learner instead (:mod:`qpclab.procedures.adaptive`): the risers
resolved to ``step``, the plateaus at most ``plateau_step`` apart (points reached against the sweep approached from
``backlash`` past them: gate hysteresis), until the loss goal, the point budget
(``max_points``; 0: the points of a grid at ``step``) or the time budget (``time_budget``, s; 0: none).

Either way, once the points are in, the saddle-point fit of all of them, with its uncertainties, goes into the file as
``#Saddle fit:`` lines (:func:`write_saddle_fit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter

from ..analysis.io import AnalysisError, load_run
from ..analysis.online_fit import fit_scattered_staircase
from ..instruments.station import Station
from .adaptive import AdaptivePlan, StepSampler, StoppingRule, check_sampling, sampling_parameters
from .axes import GateAxis
from .base import GateSweepProcedure, ParameterError, check_value
from .plan import Line, Plan, linspace_points
from .readouts import ConductanceReadout

__all__ = ["Staircase", "write_saddle_fit"]

DIRECTIONS = {"up": (False,), "down": (True,), "up and down": (False, True)}


class Staircase(GateSweepProcedure):
    """Sweep a gate (or a virtual gate) and record the conductance staircase, up and/or down, repeated."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.4)
    stop = FloatParameter("Stop", units="V", default=0.0)
    step = FloatParameter("Step", units="V", default=0.004, minimum=1e-6, maximum=1.0)
    direction = ListParameter("Direction", choices=list(DIRECTIONS), default="up")
    repeats = IntegerParameter("Repeats", default=1, minimum=1, maximum=10000)
    sampling, plateau_step, max_points = sampling_parameters(0.04, "the grid's at the step")
    backlash = FloatParameter("Adaptive - approach points against the sweep from this far past", units="V",
                              default=0.01, minimum=0.0, maximum=1.0)
    time_budget = FloatParameter("Adaptive - time budget (0 = none)", units="s", default=0.0, minimum=0.0,
                                 maximum=1e7)

    DATA_COLUMNS = ["Gate (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Sweep", "Time (s)"]

    def validate(self) -> None:
        super().validate()
        check_sampling(self.sampling, self.mode, self.step, self.plateau_step)
        if self.sampling == "adaptive" and (self.direction not in ("up", "down") or self.repeats != 1):
            raise ParameterError("sampling", self.sampling, "adaptive sampling measures one staircase: use "
                                 "--direction up or down and --repeats 1")

    def line_points(self) -> int:
        return len(linspace_points(self.start, self.stop, self.step))

    def check(self, station: Station) -> None:
        super().check(station)
        axis = GateAxis(station, self.gate)
        check_value(axis, "start", self.start)
        check_value(axis, "stop", self.stop)

    def plan(self, station: Station) -> Plan:
        up = linspace_points(self.start, self.stop, self.step)
        if self.sampling == "adaptive":
            budget = self.max_points or len(up)
            bounds = (min(self.start, self.stop), max(self.start, self.stop))
            upward = (self.start <= self.stop) == (self.direction == "up")
            return AdaptivePlan(fast=GateAxis(station, self.gate), fast_column="Gate (V)",
                                readout=ConductanceReadout(self.lockin_settings(), station.circuit),
                                columns=self.DATA_COLUMNS, bounds=bounds,
                                upward=upward,
                                backlash=self.backlash,
                                sampler=lambda: StepSampler(bounds, self.step, self.plateau_step, upward),
                                stop=StoppingRule(self.step, budget, self.time_budget), y_column="G/G0",
                                lines=[((), {"Sweep": 0})], line_column="Sweep", conclusion=write_saddle_fit)
        pattern = [up[::-1] if down else up for down in DIRECTIONS[self.direction]]
        return Plan(fast=GateAxis(station, self.gate), fast_column="Gate (V)", lines=self.repeats * len(pattern),
                    line=lambda k: Line((), pattern[k % len(pattern)], {"Sweep": k}),
                    readout=ConductanceReadout(self.lockin_settings(), station.circuit), columns=self.DATA_COLUMNS,
                    conclusion=write_saddle_fit, buffered=self.sweep_route(station, self.gate, len(up)))


def write_saddle_fit(data_path: Path, comment: Callable[[str, str], None]) -> None:
    """The saddle-point fit (voltages, one standard deviation) of every point in the file, as ``#Saddle fit:``
    lines (:func:`qpclab.analysis.online_fit.fit_scattered_staircase`: any sampling, any order)."""
    data = load_run(data_path).data
    try:
        text = fit_scattered_staircase(data["Gate (V)"], data["G/G0"]).text()
    except AnalysisError as exc:
        text = f"no fit: {exc}"
    for line in text.splitlines():
        comment("Saddle fit", line.strip())
