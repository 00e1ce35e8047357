"""Tune a QPC: set its gate to a requested conductance (``--target-g0 0.5``) or to the middle of plateau N
(``--plateau N``), from a pinch-off sweep, and check it by reading.

    qpclab run tune --target-g0 0.5        (or --plateau 2)

1. **Pinch-off.** From ``start`` (open) the gate steps down by ``coarse_step`` until the device is pinched off (two
   readings below ``pinch_off_g0``, or the reading at ``stop``) or ``stop`` is reached; a device that does not pinch off by ``stop`` (which must
   lie within the gate's limits), that is closed already at ``start``, or that never reaches the target, is refused
   (:class:`~qpclab.analysis.tuning.TuneRefused`: one line, and ``qpclab run`` exits with 2). The saddle-point fit
   (:class:`~qpclab.analysis.online_fit.OnlineSaddleFit`) takes the points as they arrive, up to two risers above
   the goal (the spacing and the lever arm change with gate voltage: the risers worked on are fitted).
2. **Target.** On the first riser above pinch-off that rises through the target: probes inside the bracket of the
   two sweep points around it, the first where the fit puts the target, the next where the logit of the step
   between the bracket's ends crosses it (:mod:`qpclab.analysis.tuning`), until a reading is within a third of
   ``tolerance_g0``. **Plateau N**: halfway between the centres of the risers below and above plateau N.
3. **Check.** At the chosen gate voltage ``readings`` readings (each after the lock-in's settling) are averaged; a
   target not held within ``tolerance_g0`` is probed again once, then refused.

Every point is approached from above, as the sweep went (a point above the gate's present value is reached from
``backlash`` higher): gate hysteresis shifts every reading the same way. Every move is a SafeGate move within the
station's limits, steps and rates; the range [stop, start] is checked against the limits before anything moves.

The file has the staircase's columns plus ``Stage`` (0 the sweep, 1 the probes, 2 the check readings), every point in
measured order; the result and the fit are its ``#Tune:`` and ``#Saddle fit:`` comment lines, and the command line
prints the result. After a normal end the tuned gate stays where it was tuned (the station's other outputs go to
their end values); a refusal, an abort or an error bring everything to the safe values.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from ..analysis.online_fit import OnlineSaddleFit
from ..analysis.tuning import (TUNE_COMMENT, TuneRefused, TuneResult, fit_probe, next_probe, pinched_off,
                               plateau_middle, target_bracket)
from ..instruments.connect import Lab
from ..instruments.station import Station
from .axes import GateAxis
from .base import LockInProcedure, ParameterError, check_value
from .executor import RunControl
from .plan import Line, LinearSweep, PlanError, SteeredPlan, linspace_points
from .point import PointMeasurer
from .readouts import ConductanceReadout, Readout
from .suspenders import Guard
from .writer import RunWriter

__all__ = ["Tune", "TunePlan", "TuneRefused"]

#: probes of the target before the check (a logistic riser needs two or three)
MAX_PROBES = 12
#: rounds of probes and check before a target not held is refused
ROUNDS = 2
SWEEP, PROBE, CHECK = 0, 1, 2


class Tune(LockInProcedure):
    """Set a gate to a conductance (or the middle of plateau N) from a pinch-off sweep, checked by reading."""

    gate = Parameter("Gate", default="gate")
    target_g0 = FloatParameter("Target conductance", units="G0", default=0.5, minimum=0.05, maximum=50.0)
    plateau = IntegerParameter("Middle of plateau N instead (0 = the target conductance)", default=0, minimum=0,
                               maximum=50)
    start = FloatParameter("Start (open end of the sweep)", units="V", default=0.0)
    stop = FloatParameter("Stop (the sweep goes no lower)", units="V", default=-2.0)
    coarse_step = FloatParameter("Sweep step", units="V", default=0.01, minimum=1e-5, maximum=0.5)
    pinch_off_g0 = FloatParameter("Pinched off below", units="G0", default=0.02, minimum=1e-4, maximum=0.4)
    tolerance_g0 = FloatParameter("Tolerance on the target", units="G0", default=0.02, minimum=1e-4, maximum=0.5)
    readings = IntegerParameter("Readings averaged for the check", default=5, minimum=1, maximum=1000)
    backlash = FloatParameter("Approach points from this far above", units="V", default=0.01, minimum=0.0,
                              maximum=1.0)

    DATA_COLUMNS = ["Gate (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Stage", "Time (s)"]

    def validate(self) -> None:
        super().validate()
        if not self.start > self.stop:
            raise ParameterError("start", self.start, f"the sweep goes down from the open --start to --stop: start "
                                 f"must be above stop ({self.stop:g} V)")
        if not self.plateau and self.target_g0 <= self.pinch_off_g0:
            raise ParameterError("target_g0", self.target_g0, f"the target must be above the pinch-off level "
                                 f"--pinch-off-g0 {self.pinch_off_g0:g} G0")

    def check(self, station: Station) -> None:
        super().check(station)
        if self.gate == "bias":
            raise ParameterError("gate", self.gate, "tune moves a gate, not the bias")
        axis = GateAxis(station, self.gate)
        check_value(axis, "start", self.start)
        check_value(axis, "stop", self.stop)

    def goal(self) -> str:
        return f"middle of plateau {self.plateau}" if self.plateau else f"G = {self.target_g0:g} G0"

    def plan(self, station: Station) -> "TunePlan":
        if self.gate in station.virtual_gates:
            held, limits = tuple(station.virtual_gates[self.gate].coefficients), "limits of the gates it moves"
        else:
            held = (self.gate,)
            low, high = station.outputs()[self.gate].limits
            limits = f"gate limits [{low:g}, {high:g}] V"
        readout = ConductanceReadout(self.lockin_settings(), station.circuit)
        return TunePlan(self, GateAxis(station, self.gate), readout, held, limits)


class TunePlan(SteeredPlan):
    """The tune's points, decided as it measures (module docstring). As a :class:`Plan` it is its worst case: the
    whole sweep from start to stop, every probe and every check reading, on one line over [stop, start]."""

    def __init__(self, tune: Tune, fast: GateAxis, readout: Readout, held: tuple[str, ...], limits_text: str):
        self.tune, self.limits_text = tune, limits_text
        self.sweep = linspace_points(tune.start, tune.stop, tune.coarse_step, "--coarse-step")
        worst = len(self.sweep) + ROUNDS * (MAX_PROBES + tune.readings + 1)
        values = LinearSweep(tune.start, tune.stop, worst - 1)
        super().__init__(fast=fast, fast_column="Gate (V)", lines=1, line=lambda k: Line((), values, {"Stage": 0}),
                         readout=readout, columns=Tune.DATA_COLUMNS)
        self.held = held

    def run(self, lab: Lab, writer: RunWriter, control: RunControl, start_point: int, time_offset: float,
            data_path: Path | None, guard: Guard | None = None) -> None:
        """The tune (its module docstring's steps); a tune lasts seconds and is not suspended: ``guard`` is not
        checked (a tripped suspender shows in the next run)."""
        if start_point:
            raise PlanError("a tune is not resumed (the device may have changed since): run qpclab run tune again")
        with self.fast.sweeping(lab):
            _Tuning(self, lab, writer, control).run()


class _Tuning:
    """One tune on a connected station: the sweep, the probes, the check (the module docstring's steps)."""

    def __init__(self, plan: TunePlan, lab: Lab, writer: RunWriter, control: RunControl):
        self.plan, self.tune, self.writer, self.control = plan, plan.tune, writer, control
        self.measure_point = PointMeasurer(plan.fast, plan.fast_column, plan.readout, lab, writer, control,
                                           time.monotonic()).measure
        self.move = plan.fast.mover(lab)
        self.xs: list[float] = []
        self.gs: list[float] = []
        self.position: float | None = None
        self.point = 0
        self.fit = OnlineSaddleFit(0.0)
        self.result: TuneResult | None = None
        #: the fit takes the risers up to two above the goal: the ones the tune works on (the spacing and the lever
        #: arm change with gate voltage, and each riser more costs the fit time)
        self.fit_below = (self.tune.plateau or math.ceil(self.tune.target_g0)) + 2.5

    def measure(self, x: float, stage: int) -> float:
        """G/G0 at ``x``, reached from above (from ``backlash`` higher if the gate is below it), in the file."""
        tune = self.tune
        if self.position is not None and x > self.position and tune.backlash > 0:
            self.move(min(tune.start, x + tune.backlash), self.control.should_stop)
        row = self.measure_point(x, {"Stage": stage}, self.point)
        self.point += 1
        self.position = row["Gate (V)"]
        g = float(row["G/G0"])
        if math.isfinite(g):
            self.xs.append(self.position)
            self.gs.append(g)
            if g < self.fit_below:
                self.fit.add(self.position, g)
        if self.control.progress is not None:
            self.control.progress(self.point, self.plan.n_points)
        return g

    def run(self) -> None:
        if not self.sweep_to_pinch_off():
            return  # stopped
        tune = self.tune
        self.fit.update()
        if tune.plateau:
            if not self.check(plateau_middle(self.xs, self.gs, tune.plateau)):
                return
        elif not self.tune_to_target():
            return
        self.report()

    def sweep_to_pinch_off(self) -> bool:
        tune, stopping = self.tune, self.control.should_stop
        for x in self.plan.sweep:
            self.measure(x, SWEEP)
            if stopping():
                return False
            if pinched_off(self.gs, tune.pinch_off_g0):
                break
        else:  # at --stop: closed if the reading there is (the gate can go no lower for a second one)
            if pinched_off(self.gs, tune.pinch_off_g0, count=1):
                return True
            raise TuneRefused(f"the device does not pinch off within the limits: G = {self.gs[-1]:.3g} G0 at "
                              f"{self.xs[-1]:g} V, the lowest gate voltage searched (--stop {tune.stop:g} V; "
                              f"{self.plan.limits_text}); pinched off means below {tune.pinch_off_g0:g} G0")
        if len(self.gs) == 2:
            raise TuneRefused(f"the device is pinched off already at --start {tune.start:g} V (G = "
                              f"{self.gs[0]:.3g} G0): start the sweep where it is open")
        return True

    def tune_to_target(self) -> bool:
        tune, target, stopping = self.tune, self.tune.target_g0, self.control.should_stop
        bracket = target_bracket(self.xs, self.gs, target)
        if bracket is None:
            raise TuneRefused(f"G reaches at most {max(self.gs):.3g} G0 between pinch-off and --start "
                              f"{tune.start:g} V: the target {target:g} G0 is out of reach")
        a, ga, b, gb = bracket
        probe = fit_probe(self.fit.fit, a, b, target)
        for _ in range(ROUNDS):
            for _ in range(MAX_PROBES):
                if probe is None:
                    probe = next_probe(a, ga, b, gb, target)
                g = self.measure(probe, PROBE)
                if stopping():
                    return False
                if g < target:
                    a, ga = self.position, g
                else:
                    b, gb = self.position, g
                if abs(g - target) <= tune.tolerance_g0 / 3 or b - a < 1e-6:
                    break
                probe = None
            best = min(range(len(self.xs)), key=lambda i: abs(self.gs[i] - target))
            if not self.check(self.xs[best]):
                return False
            checked = self.result.g_G0
            if abs(checked - target) <= tune.tolerance_g0:
                return True
            # not held (drift, a switch of the background charges): probe again from what the check read
            if checked < target:
                a, ga = self.position, checked
            else:
                b, gb = self.position, checked
            probe = None
        raise TuneRefused(f"G does not stay within {tune.tolerance_g0:g} G0 of {target:g} G0: the check read "
                          f"{checked:.4f} G0 (sd {self.result.g_sd_G0:.2g}) at {self.position:g} V")

    def check(self, x: float) -> bool:
        """Average ``readings`` readings at ``x`` into :attr:`result`; False if the run was stopped."""
        tune = self.tune
        readings = []
        for _ in range(tune.readings):
            readings.append(self.measure(x, CHECK))
            if self.control.should_stop():
                return False
        sd = statistics.stdev(readings) if len(readings) > 1 else 0.0
        self.result = TuneResult(self.position, statistics.fmean(readings), sd, len(readings), tune.goal(),
                                 self.point)
        return True

    def report(self) -> None:
        result = self.result
        fitted = self.fit.update()
        for line in result.lines():
            self.writer.comment(TUNE_COMMENT, line)
        for line in (fitted.text() if fitted else "no fit: fewer than two risers measured").splitlines():
            self.writer.comment("Saddle fit", line.strip())
        self.control.event(result.summary())
