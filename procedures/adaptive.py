"""Adaptive sampling: a plan whose points come from a learner (python-adaptive's ``Learner1D``), not from a grid.

A staircase spends most of a grid's points on flat plateaus. With ``--sampling adaptive`` the gate values come from a
learner (its loss :class:`StepLoss`) that puts them where the physics is decided: each riser's centre, where the
conductance crosses halfway between two plateaus, is bracketed until it is pinned (:meth:`StepLoss.pinned`), new
points in a riser going where a logistic step through its two ends crosses (:func:`riser_point`); plateaus are
sampled at most ``plateau_step`` apart, and once the risers are pinned each plateau between two risers gets a point
in its middle, where its value is read. The executor runs this plan with its own per-point loop
(:meth:`AdaptivePlan.run`), in the calling thread (no process pool around instruments):

    ask a pass of points -> order them along the gate's way -> for each: move (SafeGate), settle, read, write, tell

python-adaptive asks points in the order of their loss, which jumps a gate back and forth across the whole range
(adaptive issue #443); a pass is therefore asked at once (one point for every interval whose loss is above the goal)
and measured in order from the end nearer the gate (passes snake: no return sweeps). A point reached against the
sweep's direction is approached from the sweep's side (the gate goes ``backlash`` past it first), so a device with
gate hysteresis shows the same risers as in a grid sweep. Every move goes through the gate's SafeGate (step, rate,
limits, read-back) exactly as in a grid.

The run ends at the first of: every interval's loss at or below the goal (``step``) and every plateau's middle
measured, the point budget (``max_points``), the time budget (``time_budget``, s, counted on the run's time
column, so across a resume too). Rows keep the grid's columns, in measured order. A resume feeds the learner the
rows on disk and asks only new points. At the end the saddle-point fit of all points
(:class:`~qpclab.analysis.online_fit.OnlineSaddleFit`), with its uncertainties, goes into the file as
``#Saddle fit:`` comment lines.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import adaptive
import pandas as pd

from ..analysis.online_fit import OnlineSaddleFit
from ..instruments.connect import Lab
from .axes import Axis
from .plan import Line, LinearSweep, Plan, PlanError
from .point import PointMeasurer
from .readouts import Readout
from .writer import RunWriter

if TYPE_CHECKING:
    from .executor import RunControl

__all__ = ["AdaptivePlan", "StepLoss", "StoppingRule", "order_pass", "riser_point", "SAMPLINGS"]

#: the sampling modes a procedure with a ``sampling`` parameter offers
SAMPLINGS = ("grid", "adaptive")


class StepLoss:
    """The loss of an interval of a staircase, in volts: risers' centres pinned, plateaus sparse.

    Conductance plateaus lie near multiples of G0, so a riser's centre lies where G crosses a half-integer level
    k + 1/2 (G0). An interval whose ends straddle such a level holds a riser's centre: its loss is its width dx (V),
    until the crossing is pinned (:meth:`pinned`); every other interval (and a pinned one) has the loss
    ``dx * step / plateau_step``. With the loss goal ``step`` a riser's crossing is bracketed to ``step`` at worst,
    a plateau is sampled at most ``plateau_step`` apart. The learner hands the loss coordinates scaled by the data's
    extent; :meth:`observe` keeps that extent (the same bounding box the learner keeps) to convert back.
    """

    def __init__(self, step: float, plateau_step: float):
        if not 0 < step <= plateau_step:
            raise ValueError(f"the riser resolution {step:g} V must be positive and at most the plateau spacing "
                             f"{plateau_step:g} V")
        self.step, self.plateau_step = step, plateau_step
        self._x: tuple[float, float] | None = None
        self._y: tuple[float, float] | None = None

    def observe(self, x: float, y: float) -> None:
        """Widen the data's bounding box by (x, y); call before the learner is told the point."""
        if self._x is None:
            self._x, self._y = (x, x), (y, y)
        else:
            self._x = (min(self._x[0], x), max(self._x[1], x))
            self._y = (min(self._y[0], y), max(self._y[1], y))

    @staticmethod
    def crossing(ya: float, yb: float) -> int | None:
        """k if G goes across exactly one level k + 1/2 between ya and yb (G0); -1 if across several; else None."""
        low, high = min(ya, yb), max(ya, yb)
        levels = math.floor(high - 0.5) - math.ceil(low - 0.5) + 1
        if levels <= 0:
            return None
        return math.ceil(low - 0.5) if levels == 1 else -1

    @staticmethod
    def pinned(fa: float, fb: float) -> bool:
        """Whether the crossing of 1/2 between two points at fractions fa, fb of a riser (0: the plateau below,
        1: the one above) is known well from them: both on the riser's straight middle part, or one at 1/2."""
        return (0.25 <= fa <= 0.75 and 0.25 <= fb <= 0.75) or min(abs(fa - 0.5), abs(fb - 0.5)) <= 0.02

    def __call__(self, xs: Sequence[float], ys: Sequence[float]) -> float:
        x_span = (self._x[1] - self._x[0]) if self._x else 0.0
        y_span = (self._y[1] - self._y[0]) if self._y else 0.0
        dx = (xs[1] - xs[0]) * x_span
        floor = dx * self.step / self.plateau_step
        ya, yb = ys[0] * (y_span or 1.0), ys[1] * (y_span or 1.0)
        k = self.crossing(ya, yb)
        if k is None or (k >= 0 and self.pinned(ya - k, yb - k)):
            return floor
        return max(dx, floor)


def riser_point(xs: Sequence[float], ys: Sequence[float], i: int) -> float:
    """A new point in the interval (xs[i - 1], xs[i]) of the sorted points (ys in G0): where the riser whose centre
    it holds is expected to cross its half level, if both ends lie on that riser (a logistic step: its logit is
    linear in the gate voltage; kept a tenth of the interval from the ends); otherwise the middle."""
    a, b, ya, yb = xs[i - 1], xs[i], ys[i - 1], ys[i]
    k = StepLoss.crossing(ya, yb)
    if k is None or k < 0:
        return 0.5 * (a + b)
    fa, fb = ya - k, yb - k
    if not (0.05 < fa < 0.95 and 0.05 < fb < 0.95):
        return 0.5 * (a + b)
    la, lb = math.log(fa / (1 - fa)), math.log(fb / (1 - fb))
    t = -la / (lb - la)
    return a + min(max(t, 0.1), 0.9) * (b - a)


@dataclass(frozen=True)
class StoppingRule:
    """When an adaptive run ends: every loss at or below ``loss_goal``, ``max_points`` measured, or ``time_budget_s``
    (0: none) spent since the run started."""

    loss_goal: float
    max_points: int
    time_budget_s: float = 0.0

    def reached(self, points: int, elapsed_s: float) -> str:
        """Why the run ends now for its budgets ("" if it goes on; the loss goal: :meth:`AdaptivePlan.next_pass`)."""
        if points >= self.max_points:
            return f"point budget ({self.max_points} points) reached"
        if self.time_budget_s and elapsed_s >= self.time_budget_s:
            return f"time budget ({self.time_budget_s:g} s) spent"
        return ""


def order_pass(points: Sequence[float], position: float) -> list[float]:
    """A pass's points in one direction, from the end nearer ``position``: the gate travels at most one sweep."""
    ordered = sorted(points)
    if ordered and abs(position - ordered[-1]) < abs(position - ordered[0]):
        ordered.reverse()
    return ordered


def plateau_middles(xs: Sequence[float], ys: Sequence[float], near: float) -> list[float]:
    """The middles between neighbouring riser crossings (G across k + 1/2, interpolated) of the sorted points
    that have no point within ``near`` (V) yet."""
    crossings = []
    for i in range(1, len(xs)):
        k = StepLoss.crossing(ys[i - 1], ys[i])
        if k is not None and k >= 0:
            level = k + 0.5
            crossings.append(xs[i - 1] + (level - ys[i - 1]) * (xs[i] - xs[i - 1]) / (ys[i] - ys[i - 1]))
    out = []
    for a, b in zip(crossings, crossings[1:]):
        middle = 0.5 * (a + b)
        j = bisect.bisect(xs, middle)
        nearest = min((abs(xs[i] - middle) for i in (j - 1, j) if 0 <= i < len(xs)), default=math.inf)
        if nearest > near:
            out.append(middle)
    return out


class AdaptivePlan(Plan):
    """One line of at most ``stop.max_points`` points between ``bounds``, asked from a ``Learner1D`` with ``loss``;
    points are approached upward (``upward``) or downward, from ``backlash`` (V) past them where needed.

    As a :class:`Plan` it is the budget's worst case, a grid of ``max_points`` over the bounds: the dry run checks
    the bounds against the limits and estimates the time of the budget; the executor runs :meth:`run` instead of
    its grid loop. ``y_column`` is the row column the learner learns (G/G0)."""

    def __init__(self, *, fast: Axis, fast_column: str, readout: Readout, columns: Sequence[str],
                 bounds: tuple[float, float], upward: bool, backlash: float, loss: StepLoss, stop: StoppingRule,
                 y_column: str, constants: Mapping[str, int | float], fit: OnlineSaddleFit | None = None):
        if stop.max_points < 3:
            raise PlanError(f"a point budget of {stop.max_points} is too small for adaptive sampling (at least 3)")
        low, high = sorted(bounds)
        if not high > low:
            raise PlanError("adaptive sampling needs a range: start and stop are equal")
        sweep = LinearSweep(low, high, stop.max_points - 1)
        super().__init__(fast=fast, fast_column=fast_column, lines=1, line=lambda k: Line((), sweep, constants),
                         readout=readout, columns=columns)
        self.bounds, self.upward, self.loss, self.stop, self.y_column = (low, high), upward, loss, stop, y_column
        self.constants = dict(constants)
        self.fit = fit
        self.backlash = backlash
        self.end_reason = ""

    def learner(self) -> adaptive.Learner1D:
        """A fresh learner over the bounds (the function is never called: qpclab measures and tells)."""
        return adaptive.Learner1D(_measured_by_qpclab, self.bounds, loss_per_interval=self.loss)

    def tell(self, learner: adaptive.Learner1D, x: float, y: float) -> None:
        if math.isfinite(y):
            self.loss.observe(x, y)
            learner.tell(x, y)
            if self.fit is not None:
                self.fit.add(x, y)

    def stored_points(self, data_path: Path, rows: int) -> list[tuple[float, float]]:
        """The first ``rows`` (gate, y) pairs of a run file (the rows a resume continues after)."""
        data = pd.read_csv(data_path, comment="#", usecols=[self.fast_column, self.y_column], nrows=rows)
        return list(zip(data[self.fast_column].astype(float), data[self.y_column].astype(float)))

    def next_pass(self, learner: adaptive.Learner1D, left: int) -> list[float]:
        """The points of the next pass, at most ``left`` (none: the loss goal is reached). The learner picks the
        intervals (one point for every interval whose loss is above the goal; the first pass: the plateau spacing
        over the range); a point alone in an interval across a riser goes where the riser is expected to cross
        (:func:`riser_point`). Once the learner is done, a point in the middle of every plateau between two risers
        (where its value is read), if none lies within the riser resolution of it."""
        if not learner.data:
            n = math.ceil((self.bounds[1] - self.bounds[0]) / self.loss.plateau_step) + 1
        else:
            n = sum(1 for loss in learner.losses.values() if loss > self.stop.loss_goal)
        known = sorted(learner.data)
        values = [learner.data[x] for x in known]
        if n == 0:
            return plateau_middles(known, values, 0.25 * self.stop.loss_goal)[:left]
        asked, _ = learner.ask(max(1, min(n, left)), tell_pending=False)
        where = [bisect.bisect(known, x) for x in asked]
        return [riser_point(known, values, i) if 0 < i < len(known) and where.count(i) == 1 else float(x)
                for x, i in zip(asked, where)]

    def run(self, lab: Lab, writer: RunWriter, control: "RunControl", start_point: int, time_offset: float,
            data_path: Path | None) -> None:
        """The adaptive per-point loop (ask a pass, order it, then per point: move, settle, read, write, tell)."""
        learner = self.learner()
        if start_point:
            if data_path is None:
                raise PlanError("an adaptive run resumes from its file: no file given")
            for x, y in self.stored_points(data_path, start_point):
                self.tell(learner, x, y)
        fast = self.fast
        move_fast = fast.mover(lab)
        should_stop, note = control.should_stop, writer.comment
        total = self.stop.max_points
        point = start_point
        t0 = time.monotonic() - time_offset
        measure = PointMeasurer(fast, self.fast_column, self.readout, lab, writer, control, t0).measure
        lab.check_errors()
        position = next((g.read() for g in lab.outputs() if g.name == fast.output), self.bounds[0])
        low, high = self.bounds
        sign = 1.0 if self.upward else -1.0
        with fast.sweeping(lab):
            while not should_stop():
                self.end_reason = self.stop.reached(point, time.monotonic() - t0)
                if self.end_reason:
                    break
                xs = self.next_pass(learner, total - point)
                if not xs:
                    self.end_reason = (f"loss goal reached: every riser resolved ({self.stop.loss_goal:g} V), every "
                                       "plateau's middle measured")
                    break
                for x in order_pass(xs, position):
                    if self.backlash and (x - position) * sign < 0:  # against the sweep: come from its side
                        move_fast(min(high, max(low, x - sign * self.backlash)), should_stop)
                    row = measure(x, self.constants, point)
                    position = row[self.fast_column]
                    point += 1
                    self.tell(learner, x, float(row[self.y_column]))
                    if control.progress is not None:
                        control.progress(point, total)
                    if should_stop() or (self.stop.time_budget_s and
                                         time.monotonic() - t0 >= self.stop.time_budget_s):
                        break
        if self.end_reason:
            note("Adaptive", f"{self.end_reason} after {point} points")
        if self.fit is not None:
            fitted = self.fit.update()
            for line in (fitted.text() if fitted else "no fit: fewer than two risers measured").splitlines():
                note("Saddle fit", line.strip())
        lab.check_errors()


def _measured_by_qpclab(x: float) -> float:
    raise RuntimeError("an adaptive plan's points are measured by qpclab's executor, not by the learner")
