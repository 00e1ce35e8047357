"""Adaptive sampling: a plan whose points come from a learner (python-adaptive's ``Learner1D``), not from a grid.

A staircase spends most of a grid's points on flat plateaus. With ``--sampling adaptive`` the gate values come from a
learner (its loss :class:`StepLoss`) that puts them where the physics is decided: each riser's centre, where the
conductance crosses halfway between two plateaus, is bracketed until it is pinned (:meth:`StepLoss.pinned`), new
points in a riser going where a logistic step through its two ends crosses (:func:`riser_point`); plateaus are
sampled at most ``plateau_step`` apart, and once the risers are pinned each plateau between two risers gets a point
in its middle, where its value is read. The executor runs this plan with its own per-point loop
(:meth:`AdaptivePlan.run`), in the calling thread (no process pool around instruments):

    ask a pass of points -> order them along the gate's way -> for each: move (SafeGate), settle, read, write, tell,
    then refine the interval back to the point measured before at once while the gate is there

A staircase's sampler first walks the range once in the sweep's direction, a point at a time
(:meth:`StepSampler.ahead`): once two risers are known, their spacing (extrapolated: it changes smoothly with the
gate) puts a point in the middle of the plateau ahead, where its value is read, and one just before the next riser,
at about 0.3 of its rise (the risers' logistic scale, :func:`riser_scale`); the logistic through that point puts the
next just past the riser's centre, and the two pin it. A staircase thus costs about three points per riser and one
traverse of the range; what the walk left (a riser it stepped over, a middle it mispredicted) later passes take.

python-adaptive asks points in the order of their loss, which jumps a gate back and forth across the whole range
(adaptive issue #443); a pass is therefore asked at once (one point for every interval whose loss is above the goal)
and measured in order from the end nearer the gate (passes snake: no return sweeps). A riser found between two
points of a pass is resolved right there (:meth:`LineSampler.now`: short moves within the interval; the risers'
logistic scale, learned from the risers measured, puts the point next to a single one on a riser at the expected
centre: :func:`riser_scale`), so a riser costs a few short moves, not a pass over the range each. A point reached
against the sweep's direction is approached from the sweep's side (the gate goes ``backlash`` past it first), so a
device with gate hysteresis shows the same risers as in a grid sweep. Every move goes through the gate's SafeGate
(step, rate, limits, read-back) exactly as in a grid.

The run ends at the first of: every interval's loss at or below the goal (``step``) and every plateau's middle
measured, the point budget (``max_points``), the time budget (``time_budget``, s, counted on the run's time
column, so across a resume too). Rows keep the grid's columns, in measured order. A resume feeds the learner the
rows on disk and asks only new points. What follows from the points (the staircase's saddle fit) the plan's
conclusion writes into the file, as for a grid.

A map's rows (``lines``) are sampled one after the other, each by its own sampler (:class:`EdgeSampler`: at a
finite bias the risers split and half plateaus appear, so no level is assumed), after the row's moves (the bias),
as a grid's: the slow axis only goes one way.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

import adaptive
import pandas as pd
from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter

from ..analysis.io import load_run
from ..instruments.connect import Lab
from .axes import Axis
from .base import ParameterError
from .plan import MAX_POINTS, TIME_COLUMN, Line, LinearSweep, Move, PlanError, SteeredPlan
from .point import PointMeasurer, line_moves
from .readouts import Readout, UncuredOverload
from .suspenders import Guard, Trip
from .writer import RunWriter

if TYPE_CHECKING:
    from .executor import RunControl

__all__ = ["AdaptivePlan", "sampling_parameters", "LineSampler", "StepSampler", "EdgeSampler", "StepLoss",
           "StoppingRule", "order_pass", "riser_point", "riser_scale", "SAMPLINGS"]

#: the sampling modes a procedure with a ``sampling`` parameter offers
SAMPLINGS = ("grid", "adaptive")


def sampling_parameters(plateau_step_V: float, budget: str):
    """A procedure's ``sampling``, ``plateau_step`` (V) and ``max_points`` parameters (assign them to those three
    names); ``budget`` says what a point budget of 0 means."""
    return (ListParameter("Sampling (adaptive - the step is the resolution on the risers)", choices=list(SAMPLINGS),
                          default="grid"),
            FloatParameter("Adaptive - largest spacing on plateaus", units="V", default=plateau_step_V, minimum=1e-6,
                           maximum=1.0),
            IntegerParameter(f"Adaptive - point budget (0 = {budget})", default=0, minimum=0, maximum=MAX_POINTS))


def check_sampling(sampling: str, mode: str, step_V: float, plateau_step_V: float) -> None:
    """The rules of adaptive sampling's options, the same for the staircase and the maps (ParameterError naming the
    option): each point is picked from the last, so it runs stepped; the plateaus are sampled no finer than the
    risers."""
    if sampling != "adaptive":
        return
    if mode == "buffered":
        raise ParameterError("mode", mode, "adaptive sampling picks each point from the last: it runs stepped "
                             "(--mode stepped or auto)")
    if plateau_step_V < step_V:
        raise ParameterError("plateau_step", plateau_step_V, f"the plateau spacing must be at least the step "
                             f"({step_V:g} V)")


#: two points pin a riser's centre when the straight line between them crosses its half level within this fraction
#: of the riser resolution of where a logistic step through them does, or of the one at the half level
AGREE = 0.02

#: a riser's first point of the walk is put this many logistic scales before its expected centre, the next as far
#: past the centre found from it (fractions 0.3 and 0.7 of the riser: both on its straight middle part)
PROBE_SCALES = 0.85


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

    def pinned(self, fa: float, fb: float, dx: float) -> bool:
        """Whether the crossing of 1/2 between two points at fractions fa, fb of a riser (0: the plateau below,
        1: the one above), dx (V) apart, is known well from them: both on the riser's straight middle part within
        half the riser resolution (a riser need not be symmetric: the 0.7 structure); one at 1/2 with the straight
        line between them crossing 1/2 next to it; or both on the riser within the riser resolution where the
        straight line between them and a logistic step through them cross 1/2 close to each other. Close: within
        :data:`AGREE` of the riser resolution."""
        if 0.25 <= fa <= 0.75 and 0.25 <= fb <= 0.75 and dx <= 0.5 * self.step:
            return True
        half = fa if abs(fa - 0.5) <= abs(fb - 0.5) else fb
        if abs(half - 0.5) <= 0.02 and abs(half - 0.5) / abs(fb - fa) * dx <= AGREE * self.step:
            return True
        if not (0.1 < fa < 0.9 and 0.1 < fb < 0.9 and (fa - 0.5) * (fb - 0.5) < 0 and dx <= self.step):
            return False
        la, lb = _logit(fa), _logit(fb)
        return abs((0.5 - fa) / (fb - fa) + la / (lb - la)) * dx <= AGREE * self.step

    def __call__(self, xs: Sequence[float], ys: Sequence[float]) -> float:
        x_span = (self._x[1] - self._x[0]) if self._x else 0.0
        y_span = (self._y[1] - self._y[0]) if self._y else 0.0
        dx = (xs[1] - xs[0]) * x_span
        floor = dx * self.step / self.plateau_step
        ya, yb = ys[0] * (y_span or 1.0), ys[1] * (y_span or 1.0)
        return floor if self.pinned_or_flat(ya, yb, dx) else max(dx, floor)

    def pinned_or_flat(self, ya: float, yb: float, dx: float) -> bool:
        """Whether an interval dx (V) wide between G = ya and yb (G0) holds no riser centre, or one already
        pinned."""
        k = self.crossing(ya, yb)
        return k is None or (k >= 0 and self.pinned(ya - k, yb - k, dx))


def riser_point(xs: Sequence[float], ys: Sequence[float], i: int, scale: float | None = None) -> float:
    """A new point in the interval (xs[i - 1], xs[i]) of the sorted points (ys in G0): where the riser whose centre
    it holds is expected to cross its half level (a logistic step: its logit is linear in the gate voltage), if both
    ends lie on that riser, or one does and the riser's logistic ``scale`` (V) is known from the risers measured so
    far; kept a tenth of the interval from the ends; otherwise the middle."""
    a, b, ya, yb = xs[i - 1], xs[i], ys[i - 1], ys[i]
    k = StepLoss.crossing(ya, yb)
    if k is None or k < 0:
        return 0.5 * (a + b)
    fa, fb = ya - k, yb - k
    on_a, on_b = 0.05 < fa < 0.95, 0.05 < fb < 0.95
    if on_a and on_b:
        la, lb = _logit(fa), _logit(fb)
        t = -la / (lb - la)
    elif scale is not None and (on_a or on_b):
        centre = a - scale * _logit(fa) if on_a else b - scale * _logit(fb)
        t = (centre - a) / (b - a)
    else:
        return 0.5 * (a + b)
    return a + min(max(t, 0.1), 0.9) * (b - a)


def riser_scale(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The logistic scale (V) of the risers, the median over pairs of neighbouring points on a riser (0.03 < G - k <
    0.97, the same k); None before there is such a pair."""
    scales = []
    for a, b, ya, yb in zip(xs, xs[1:], ys, ys[1:]):
        k = math.floor(ya)
        if k == math.floor(yb) and 0.03 < ya - k < 0.97 and 0.03 < yb - k < 0.97 and yb != ya:
            scale = (b - a) / (_logit(yb - k) - _logit(ya - k))
            if scale > 0:
                scales.append(scale)
    return sorted(scales)[len(scales) // 2] if scales else None


def _logit(f: float) -> float:
    return math.log(f / (1 - f))


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


#: a plateau's middle is read (G0) from the points around it when they differ by at most this, or from the point
#: next to it when the straight line between them differs by at most this from that point there
FLAT_G0 = 0.002


def riser_crossings(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[int, float]]:
    """(k, V) for every interval of the sorted points across exactly one level k + 1/2 (G0): where the straight line
    between its ends crosses it."""
    out = []
    for i in range(1, len(xs)):
        k = StepLoss.crossing(ys[i - 1], ys[i])
        if k is not None and k >= 0:
            out.append((k, xs[i - 1] + (k + 0.5 - ys[i - 1]) * (xs[i] - xs[i - 1]) / (ys[i] - ys[i - 1])))
    return out


def plateau_middles(xs: Sequence[float], ys: Sequence[float], near: float) -> list[float]:
    """The middles between neighbouring riser crossings (:func:`riser_crossings`) of the sorted points whose value
    is not read yet (:data:`FLAT_G0`): neither the two points around a middle are flat, nor one lies within ``near``
    (V) of it with the straight line to the other flat there (a neighbour on a riser would tilt the value read)."""
    crossings = [c for _, c in riser_crossings(xs, ys)]
    out = []
    for a, b in zip(crossings, crossings[1:]):
        middle = 0.5 * (a + b)
        j = bisect.bisect(xs, middle)  # a middle lies between the points that cross its risers
        (xa, ya), (xb, yb) = (xs[j - 1], ys[j - 1]), (xs[j], ys[j])
        at = ya + (middle - xa) * (yb - ya) / (xb - xa)
        close, nearest = (ya, middle - xa) if middle - xa <= xb - middle else (yb, xb - middle)
        if abs(yb - ya) > FLAT_G0 and (nearest > near or abs(at - close) > FLAT_G0):
            out.append(middle)
    return out


class LineSampler(Protocol):
    """The learner of one line of an adaptive plan: told the measured points, asked the next pass."""

    def tell(self, x: float, y: float) -> None:
        """A measured point (gate V, the learned column); a point measured again replaces the earlier value."""

    def next_pass(self, left: int) -> list[float]:
        """At most ``left`` points to measure next; none: the line is done (its loss goal reached)."""

    def now(self, a: float, b: float) -> float | None:
        """A point to measure at once inside the interval between two measured points ``a`` and ``b``, or None."""


class StepSampler:
    """A staircase's line: :class:`StepLoss` (risers' centres pinned to ``step``, plateaus ``plateau_step`` apart),
    first one walk along the sweep (``upward`` or down) that reads every plateau's middle on its way
    (:meth:`ahead`), then passes for what the walk left: a point in a riser where its logistic crosses
    (:func:`riser_point`), then every plateau's middle not measured yet."""

    def __init__(self, bounds: tuple[float, float], step: float, plateau_step: float, upward: bool = True):
        self.bounds, self.goal, self.loss = bounds, step, StepLoss(step, plateau_step)
        self.upward = upward
        self.learner = adaptive.Learner1D(_measured_by_qpclab, bounds, loss_per_interval=self.loss)

    def tell(self, x: float, y: float) -> None:
        self.loss.observe(x, y)
        if x in self.learner.data:  # measured again (after a suspension): a learner keeps its first value; a new one
            data = {**self.learner.data, x: y}
            self.learner = adaptive.Learner1D(_measured_by_qpclab, self.bounds, loss_per_interval=self.loss)
            for known, value in data.items():
                self.learner.tell(known, value)
            return
        self.learner.tell(x, y)

    def next_pass(self, left: int) -> list[float]:
        """During the walk (until it reaches the far bound) its next point (:meth:`ahead`). Then one point for
        every interval whose loss is above the goal; a point alone in an interval across a riser goes where the
        riser is expected to cross (:func:`riser_point`). Once the learner is done, a point in the middle of every
        plateau between two risers (where its value is read), if none lies within a quarter of the riser
        resolution of it."""
        learner = self.learner
        known = sorted(learner.data)
        values = [learner.data[x] for x in known]
        walk = self.ahead(known, values)
        if walk is not None:
            return [walk][:left]
        n = sum(1 for loss in learner.losses.values() if loss > self.goal)
        if n == 0:
            return plateau_middles(known, values, 0.25 * self.goal)[:left]
        asked, _ = learner.ask(max(1, min(n, left)), tell_pending=False)
        where = [bisect.bisect(known, x) for x in asked]
        scale = riser_scale(known, values)
        return [riser_point(known, values, i, scale) if 0 < i < len(known) and where.count(i) == 1 else float(x)
                for x, i in zip(asked, where)]

    def ahead(self, known: Sequence[float], values: Sequence[float]) -> float | None:
        """The walk's next point (None once it has reached the far bound), from the sorted points measured:

        - a point refining a riser behind not pinned yet, the nearest first (:meth:`now`);
        - a plateau's middle behind the walk not measured yet (:func:`plateau_middles`: the first plateau, or one
          whose middle was mispredicted);
        - on a riser before its half level: as far past the centre the riser's logistic puts there
          (:data:`PROBE_SCALES`), so that two points pin it (half the riser resolution on, its scale unknown);
        - past a riser, once two risers are known: the middle of the plateau ahead, then a point just before the
          next riser, both where the risers' spacing (extrapolated from the last ones) puts them;
        - otherwise the plateau spacing ahead; never beyond the plateau spacing ahead nor the far bound."""
        sign = 1.0 if self.upward else -1.0
        start, end = self.bounds if self.upward else self.bounds[::-1]
        if not known:
            return start
        frontier = known[-1] if self.upward else known[0]
        if frontier == end:
            return None
        pairs = list(zip(known, known[1:]))
        for a, b in reversed(pairs) if self.upward else pairs:  # the walk's risers, the nearest first
            refine = self.now(a, b)
            if refine is not None:
                return refine
        behind = plateau_middles(known, values, 0.25 * self.goal)
        if behind:
            return min(behind, key=lambda m: abs(m - frontier))
        reach = self.loss.plateau_step

        def toward(target: float) -> float | None:
            """target if it lies ahead by more than a quarter of the riser resolution (at most ``reach``)."""
            ahead = (target - frontier) * sign
            if ahead <= 0.25 * self.goal:
                return None
            return end if ahead >= (end - frontier) * sign else frontier + sign * min(ahead, reach)

        scale = riser_scale(known, values)
        y = values[-1] if self.upward else values[0]
        k = math.floor(y)
        if 0.05 < y - k < 0.95 and (y - k - 0.5) * sign < 0:
            target = toward(frontier - scale * _logit(y - k) + sign * PROBE_SCALES * scale if scale is not None
                            else frontier + sign * 0.5 * self.goal)
            if target is not None:
                return target
        risers = riser_crossings(known, values)
        if not self.upward:
            risers.reverse()
        if len(risers) >= 2:
            (k1, c1), (k2, c2) = risers[-2:]
            spacing = abs(c2 - c1) / max(1, abs(k2 - k1))
            if len(risers) >= 3 and abs(k2 - k1) == 1 and abs(k1 - risers[-3][0]) == 1:
                spacing += spacing - abs(c1 - risers[-3][1])  # the spacing changes smoothly with the gate
            probe = PROBE_SCALES * scale if scale is not None else 0.5 * self.goal
            beyond = (c2 + sign * spacing - end) * sign >= 0  # the next riser past the far bound: no probe
            for target in (c2 + sign * 0.5 * spacing,) + (() if beyond else (c2 + sign * (spacing - probe),)):
                step = toward(target)
                if step is not None:
                    return step
        return frontier + sign * reach if (end - frontier) * sign > reach else end

    def now(self, a: float, b: float) -> float | None:
        """Inside an interval wider than a quarter of the riser resolution that holds a riser's centre not pinned yet:
        where the riser is expected to cross (:func:`riser_point`, with the scale learned from the points so far)."""
        a, b = sorted((a, b))
        data = self.learner.data
        if a not in data or b not in data or self.learner.neighbors[a][1] != b or b - a <= 0.25 * self.goal:
            return None  # a reading that was not a number, points between them, or refined enough
        ya, yb = data[a], data[b]
        if self.loss.pinned_or_flat(ya, yb, b - a):
            return None
        known = sorted(self.learner.data)
        return riser_point([a, b], [ya, yb], 1, riser_scale(known, [self.learner.data[x] for x in known]))


class EdgeSampler:
    """A line of a map: risers at any level (at a finite bias the risers split and half plateaus appear between
    them). An interval (dx in V, dy in G0) is split while ``hypot(dx / plateau_step, dy / rise)`` exceeds 1 and it
    is wider than ``step``: plateaus are sampled ``plateau_step`` apart, a riser of height h gets about h / rise
    intervals, none narrower than ``step``."""

    def __init__(self, bounds: tuple[float, float], step: float, plateau_step: float, rise_G0: float):
        if not 0 < step <= plateau_step:
            raise ValueError(f"the riser resolution {step:g} V must be positive and at most the plateau spacing "
                             f"{plateau_step:g} V")
        self.bounds, self.step, self.plateau_step, self.rise = bounds, step, plateau_step, rise_G0
        self.xs: list[float] = []
        self.ys: list[float] = []

    def tell(self, x: float, y: float) -> None:
        i = bisect.bisect_left(self.xs, x)
        if i < len(self.xs) and self.xs[i] == x:
            self.ys[i] = y
        else:
            self.xs.insert(i, x)
            self.ys.insert(i, y)

    def next_pass(self, left: int) -> list[float]:
        """The first pass: the plateau spacing over the range; then the middle of every interval still too coarse
        (and the first pass's points beyond the points measured, if it was cut off)."""
        low, high = self.bounds
        n = math.ceil((high - low) / self.plateau_step) + 1
        first = [low + (high - low) * k / (n - 1) for k in range(n)]
        if not self.xs:
            return first[:left]
        out = [x for x in first if x < self.xs[0] or x > self.xs[-1]]  # a row cut off in its first pass
        out += [0.5 * (a + b) for a, b, ya, yb in zip(self.xs, self.xs[1:], self.ys, self.ys[1:])
               if self._coarse(b - a, yb - ya)]
        return out[:left]

    def now(self, a: float, b: float) -> float | None:
        """The middle of an interval still too coarse (a riser's: its conductance changes by more than ``rise``)."""
        a, b = sorted((a, b))
        i = bisect.bisect_left(self.xs, a)
        if not (i + 1 < len(self.xs) and self.xs[i] == a and self.xs[i + 1] == b):
            return None  # a reading that was not a number, or points between them
        dy = self.ys[i + 1] - self.ys[i]
        return 0.5 * (a + b) if abs(dy) > self.rise and self._coarse(b - a, dy) else None

    def _coarse(self, dx: float, dy: float) -> bool:
        return dx > 2 * self.step * (1 - 1e-9) and math.hypot(dx / self.plateau_step, dy / self.rise) > 1


class AdaptivePlan(SteeredPlan):
    """``lines`` lines (each its moves and constants, as a grid's), the gate values of each asked from its own
    :class:`LineSampler` (``sampler()`` makes one) between ``bounds``; at most ``stop.max_points`` points in all
    (each line at most its share). Points are approached upward (``upward``) or downward, from ``backlash`` (V)
    past them where needed.

    As a :class:`Plan` it is the budget's worst case, a grid of the line's share over the bounds: the dry run checks
    the bounds and the moves against the limits and estimates the time of the budget; the executor runs :meth:`run`
    instead of its grid loop. ``y_column`` is the row column the samplers learn (G/G0), ``line_column`` the constant
    that numbers the lines."""

    def __init__(self, *, fast: Axis, fast_column: str, readout: Readout, columns: Sequence[str],
                 bounds: tuple[float, float], upward: bool, backlash: float, sampler: Callable[[], LineSampler],
                 stop: StoppingRule, y_column: str, lines: Sequence[tuple[tuple[Move, ...], Mapping[str, int | float]]],
                 line_column: str, conclusion: Callable[[Path, Callable[[str, str], None]], None] | None = None):
        share = stop.max_points // max(1, len(lines))
        if share < 3:
            raise PlanError(f"a point budget of {stop.max_points} is too small for adaptive sampling (at least 3 "
                            f"per line, {len(lines)} line(s))")
        low, high = sorted(bounds)
        if not high > low:
            raise PlanError("adaptive sampling needs a range: start and stop are equal")
        sweep = LinearSweep(low, high, share - 1)
        super().__init__(fast=fast, fast_column=fast_column, lines=len(lines),
                         line=lambda k: Line(lines[k][0], sweep, lines[k][1]), readout=readout, columns=columns,
                         conclusion=conclusion)
        self.bounds, self.upward, self.sampler, self.stop, self.y_column = (low, high), upward, sampler, stop, y_column
        self.line_column, self.share, self.backlash = line_column, share, backlash
        self.end_reason = ""

    def stored_rows(self, data_path: Path) -> pd.DataFrame:
        """The rows on disk, the latest of each plan point (a suspension measures points again)."""
        data = load_run(data_path).data
        return data[[self.fast_column, self.y_column, self.line_column]].astype(float)

    def run(self, lab: Lab, writer: RunWriter, control: "RunControl", start_point: int, time_offset: float,
            data_path: Path | None, guard: Guard | None = None) -> None:
        """The adaptive per-point loop: per line its moves, then passes (ask, order, then per point: move, settle,
        read, write, tell) until its sampler is done or its share spent; between points the suspenders, when due."""
        stored = pd.DataFrame(columns=[self.fast_column, self.y_column, self.line_column])
        if start_point:
            if data_path is None:
                raise PlanError("an adaptive run resumes from its file: no file given")
            stored = self.stored_rows(data_path)
        first = int(stored[self.line_column].max()) if len(stored) else 0
        should_stop, note = control.should_stop, writer.comment
        self.note = note
        total = self.stop.max_points
        self.point = start_point
        self.t0 = time.monotonic() - time_offset
        self.measure = PointMeasurer(self.fast, self.fast_column, self.readout, lab, writer, control, self.t0).measure
        self.position = self.fast.read(lab)  # a virtual gate too: its projection of the physical gates
        done_lines = 0
        for k in range(first, self.n_lines):
            line = self.line(k)
            sampler = self.sampler()
            mine = stored[stored[self.line_column] == k]
            for x, y in zip(mine[self.fast_column], mine[self.y_column]):
                self.tell(sampler, float(x), float(y))
            fixed = line_moves(line, lab, should_stop)
            if should_stop():
                break
            lab.check_errors()
            budget = min(total, self.point - len(mine) + self.share)
            with self.fast.sweeping(lab):
                line_done = self._measure_line(lab, sampler, fixed, budget, control, guard)
            lab.check_errors()
            if self.end_reason or should_stop():
                break
            done_lines += line_done
        if not self.end_reason and not should_stop():
            self.end_reason = (f"loss goal reached: every riser resolved ({self.stop.loss_goal:g} V), every plateau's "
                               "middle measured" if done_lines == self.n_lines - first
                               else f"each line's share of the point budget ({self.share} points) spent")
        if self.end_reason:
            note("Adaptive", f"{self.end_reason} after {self.point} points")

    @staticmethod
    def tell(sampler: LineSampler, x: float, y: float) -> None:
        if math.isfinite(y):
            sampler.tell(x, y)

    def _measure_line(self, lab: Lab, sampler: LineSampler, fixed: Mapping, budget: int, control: "RunControl",
                      guard: Guard | None) -> bool:
        """One line's passes until its sampler is done (True) or its budget (plan points) is spent. After each point
        of a pass, the interval back to the point measured before it is refined at once while the gate is there
        (:meth:`LineSampler.now`): a riser costs a few short moves, not a pass over the range per refinement."""
        move_fast, should_stop = self.fast.mover(lab), control.should_stop
        low, high = self.bounds
        sign = 1.0 if self.upward else -1.0
        check_at = guard.next_at if guard is not None else math.inf
        measured: list[float] = []  # this session's gate values on the line, in plan-point order
        first_point = self.point

        def point(x: float) -> bool:
            """Measure at x; False if a suspender tripped (the sampler then asks again from what it knows)."""
            nonlocal check_at
            if self.backlash and (x - self.position) * sign < 0:  # against the sweep: come from its side
                move_fast(min(high, max(low, x - sign * self.backlash)), should_stop)
            try:
                row = self.measure(x, fixed, self.point)
            except UncuredOverload as exc:
                if guard is None or guard.overload is None:
                    raise
                trip = Trip(guard.overload, str(exc))
            else:
                self.position = row[self.fast_column]
                self.point += 1
                measured.append(x)
                self.tell(sampler, x, float(row[self.y_column]))
                if control.progress is not None:
                    control.progress(self.point, self.stop.max_points)
                trip = guard.check(self.point) if row[TIME_COLUMN] + self.t0 >= check_at else None
                if guard is not None:
                    check_at = guard.next_at
            if trip is not None:
                self._suspended(lab, sampler, fixed, measured, first_point, trip, control, guard)
                check_at = guard.next_at
            return trip is None

        def over() -> bool:
            return should_stop() or self.point >= budget or bool(
                self.stop.time_budget_s and time.monotonic() - self.t0 >= self.stop.time_budget_s)

        previous = None  # the point measured last on this line: the interval back to it is refined at once
        while not should_stop():
            self.end_reason = self.stop.reached(self.point, time.monotonic() - self.t0)
            if self.end_reason or self.point >= budget:
                return False
            xs = sampler.next_pass(budget - self.point)
            if not xs:
                return True
            for x in order_pass(xs, self.position):
                tripped = not point(x)
                intervals = [] if previous is None or tripped else [(previous, x)]
                previous = x
                while intervals and not over():
                    a, b = intervals.pop()
                    z = sampler.now(a, b)
                    if z is not None:
                        tripped = not point(z)
                        if tripped:
                            break
                        intervals += [(a, z), (z, b)]
                if tripped or over():
                    break
        return False

    def _suspended(self, lab: Lab, sampler: LineSampler, fixed: Mapping, measured: list[float], first_point: int,
                   trip: Trip, control: "RunControl", guard: Guard) -> None:
        """Hold until the suspension is over, then measure again the points since the plan point it names (not
        before this line's first point of this session), in their order; their new values replace the old."""
        redo = guard.suspend(trip, self.point, control, self.note, floor=first_point)
        again = measured[redo - first_point:]
        control.point = self.point = redo
        for x in again:
            row = self.measure(x, fixed, self.point)
            self.position = row[self.fast_column]
            self.point += 1
            self.tell(sampler, x, float(row[self.y_column]))


def _measured_by_qpclab(x: float) -> float:
    raise RuntimeError("an adaptive plan's points are measured by qpclab's executor, not by the learner")
