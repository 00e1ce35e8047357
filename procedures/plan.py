"""A measurement as data: what moves, in which order, what is read at each point, and which columns it fills.

Every qpclab procedure declares its measurement as a :class:`Plan` (:meth:`QPCProcedure.plan`); the one executor
(:mod:`qpclab.procedures.executor`) runs any plan, the dry run (:mod:`qpclab.procedures.dryrun`) walks the same
plan without instruments, and resume finds its place in it by counting the rows on disk.

A plan is a sequence of *lines*. Each line first makes its :class:`Move` s in order (slow axes, parked outputs:
each moved safely and, where a column is named, the value reached recorded in every row of the line), then steps
the *fast* axis through the line's values, reading the :class:`~qpclab.procedures.readouts.Readout` at every
value. All lines have the same number of points, so a point's place (line, offset) follows from its index and a
plan of a trillion points costs no memory: lines are made on demand by ``line(k)``.

    staircase        lines = repeats x (up | down | up, down)   fast: the gate
    2D maps          lines = slow values (snake: alternate)     moves: the fast gate to the line start, the slow axis
    shot noise       lines = (reference pass, main pass)        moves: bias to 0, the gate; fast: the bias
    noise vs gate    one line                                   moves: the bias; fast: the gate
    Hall sweep       one line                                   fast: the field
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from ..instruments.connect import Lab
from ..instruments.source_lists import BufferedRoute
from .axes import Axis
from .readouts import Readout

if TYPE_CHECKING:  # the executor, the writer and the suspenders import this module
    from .executor import RunControl
    from .suspenders import Guard
    from .writer import RunWriter

__all__ = ["Plan", "SteeredPlan", "Line", "Move", "LinearSweep", "ReversedSweep", "linspace_points", "MAX_POINTS",
           "PlanError", "TIME_COLUMN"]

#: the largest plan qpclab runs: 1e8 points is 10,000 x 10,000 pixels, weeks at a lock-in's settling time
MAX_POINTS = 100_000_000

#: every row's time since the run started (continued across a resume), s
TIME_COLUMN = "Time (s)"


class PlanError(ValueError):
    """A plan that cannot be run as asked (too many points, columns that do not match the procedure)."""


@dataclass(frozen=True)
class Move:
    """Move ``axis`` to ``value`` safely before a line; ``column`` (if any) records the value reached."""

    axis: Axis
    value: float
    column: str | None = None


@dataclass(frozen=True)
class Line:
    """One line of a plan: its moves, then the fast axis's values; ``constants`` are columns fixed for the line."""

    moves: tuple[Move, ...]
    values: Sequence[float]
    constants: Mapping[str, int | float] = field(default_factory=dict)


class Plan:
    """``lines`` lines, each made by ``line(k)``, all of ``len(line(0).values)`` points.

    :param fast: the axis stepped inside a line; its reached value goes to ``fast_column``
    :param readout: what is read and converted at each point
    :param columns: the procedure's DATA_COLUMNS: the plan must fill exactly these
    :param fast_first: before a line's moves, bring the fast axis to the line's first value (maps: the gate never
        sweeps back across the whole range while the slow axis steps)
    :param conclusion: ``conclusion(data_path, comment)`` writes what follows from the points (a fit) into the file
        as ``comment(name, text)`` lines once they are measured (:meth:`conclude`)
    :param buffered: run each line hardware-timed over this route (:mod:`qpclab.procedures.buffered`); None: stepped
    """

    def __init__(self, *, fast: Axis, fast_column: str, lines: int, line: Callable[[int], Line], readout: Readout,
                 columns: Sequence[str], fast_first: bool = False,
                 conclusion: Callable[[Path, Callable[[str, str], None]], None] | None = None,
                 buffered: BufferedRoute | None = None):
        self.conclusion, self.buffered = conclusion, buffered
        if lines < 1:
            raise PlanError("the plan has no line")
        self.fast, self.fast_column, self.n_lines, self._line = fast, fast_column, int(lines), line
        self.readout, self.columns, self.fast_first = readout, tuple(columns), fast_first
        first = line(0)
        self.points_per_line = len(first.values)
        if self.points_per_line < 1:
            raise PlanError("a line of the plan has no point")
        self.n_points = self.n_lines * self.points_per_line
        if self.n_points > MAX_POINTS:
            raise PlanError(f"{self.n_points:.3g} points planned: more than qpclab runs in one plan "
                            f"({MAX_POINTS:.0e}); use a coarser step or fewer repeats")
        produced = {fast_column, TIME_COLUMN, *readout.columns, *first.constants,
                    *(m.column for m in first.moves if m.column)}
        if produced != set(self.columns):
            raise PlanError(f"the plan fills the columns {sorted(produced)}, the procedure declares "
                            f"{sorted(self.columns)}")

    def line(self, k: int) -> Line:
        if not 0 <= k < self.n_lines:
            raise IndexError(k)
        line = self._line(k)
        if len(line.values) != self.points_per_line:
            raise PlanError(f"line {k} has {len(line.values)} points, line 0 has {self.points_per_line}")
        return line

    def conclude(self, data_path: Path, comment: Callable[[str, str], None]) -> None:
        """After the points (a run that ends or is stopped between points): the conclusion, if any."""
        if self.conclusion is not None:
            self.conclusion(data_path, comment)

    def lines_from(self, point: int) -> Iterator[tuple[int, Line, int]]:
        """(line index, line, first offset to measure) from plan point ``point`` on (resume: the rows on disk)."""
        if not 0 <= point <= self.n_points:
            raise PlanError(f"point {point} is outside the plan's {self.n_points} points")
        first, offset = divmod(point, self.points_per_line)
        for k in range(first, self.n_lines):
            yield k, self.line(k), (offset if k == first else 0)

    def __repr__(self) -> str:
        return (f"Plan({self.n_lines} line(s) x {self.points_per_line} points, fast {self.fast.name}, "
                f"readout {type(self.readout).__name__})")

    #: outputs a normal end leaves where the run put them instead of bringing them to their end values (a tuned
    #: gate); every other ending brings them to their safe values as always
    held: tuple[str, ...] = ()


class SteeredPlan(Plan, metaclass=abc.ABCMeta):
    """A plan whose points are decided as it measures (adaptive sampling, ``qpclab run tune``): as a :class:`Plan`
    it is its worst case (the dry run checks its range against the limits and estimates its time); the executor
    runs :meth:`run` instead of its grid loop, inside the same finaliser (outputs safe, readout closed,
    ``#Status:`` line)."""

    @abc.abstractmethod
    def run(self, lab: Lab, writer: "RunWriter", control: "RunControl", start_point: int, time_offset: float,
            data_path: Path | None, guard: "Guard | None" = None) -> None:
        """Measure from plan point ``start_point`` (every point through
        :class:`~qpclab.procedures.point.PointMeasurer`) until done or stopped, checking ``guard`` (the station's
        suspenders, if any) between points."""


# ---- sweep values ---------------------------------------------------------------------------------------------


class LinearSweep(Sequence):
    """``n + 1`` equally spaced values from ``start`` to ``stop`` (inclusive), computed on demand: a 1e6-point plan
    costs no memory. Reversing (``sweep[::-1]``) gives the same values in the other order. With ``decimals`` (a grid
    of decimal numbers, e.g. 2 mV steps from -1.4 V) each value is the decimal it is (0.04, not the
    0.039999999999999994 that binary arithmetic makes of it)."""

    __slots__ = ("start", "stop", "n", "decimals")

    def __init__(self, start: float, stop: float, n: int, decimals: int | None = None):
        self.start, self.stop, self.n, self.decimals = float(start), float(stop), int(n), decimals

    def __len__(self) -> int:
        return self.n + 1

    def __getitem__(self, k):
        if isinstance(k, slice):
            if k == slice(None, None, -1):
                return ReversedSweep(self)
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k <= self.n:
            raise IndexError(k)
        if k == self.n:
            return self.stop  # the end point exactly, whatever the rounding of the steps
        value = self.start + (self.stop - self.start) * k / self.n
        return value if self.decimals is None else round(value, self.decimals)

    def __iter__(self):
        a, d, n, places = self.start, self.stop - self.start, self.n, self.decimals
        for k in range(n):
            yield a + d * k / n if places is None else round(a + d * k / n, places)
        yield self.stop

    def __repr__(self) -> str:
        return f"LinearSweep({self.start!r}, {self.stop!r}, {self.n + 1} points)"


class ReversedSweep(Sequence):
    """A sweep's values in reverse order (exactly the same floats)."""

    __slots__ = ("sweep",)

    def __init__(self, sweep: Sequence):
        self.sweep = sweep

    def __len__(self) -> int:
        return len(self.sweep)

    def __getitem__(self, k):
        if isinstance(k, slice):
            if k == slice(None, None, -1):
                return self.sweep
            return [self[i] for i in range(*k.indices(len(self)))]
        n = len(self.sweep)
        if k < 0:
            k += n
        return self.sweep[n - 1 - k]

    def __iter__(self):
        return reversed(self.sweep)


def linspace_points(start: float, stop: float, step: float, what: str = "step") -> LinearSweep:
    """Points from start to stop (inclusive) at about ``step`` spacing (equal steps, never larger than ``step``
    by more than rounding); a lazy sequence. ``what`` names the option in errors."""
    if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
        raise ValueError(f"{what} {step!r} must be a positive number")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ValueError(f"start {start!r} and stop {stop!r} must be finite numbers")
    n = abs(stop - start) / step
    if n > MAX_POINTS:
        raise PlanError(f"{what} {step!r} from {start!r} to {stop!r} makes {n:.3g} points: more than qpclab "
                        f"runs in one plan ({MAX_POINTS:.0e})")
    n = max(1, int(round(n)))
    return LinearSweep(start, stop, n, _decimal_grid(start, stop, (stop - start) / n, step))


def _decimals(x: float) -> int:
    """The decimal places of the shortest repr of ``x`` (1.4 -> 1, 2e-3 -> 3, 0.00028433323860458813 -> 20)."""
    mantissa, _, exponent = repr(float(x)).partition("e")
    places = len(mantissa.partition(".")[2].rstrip("0"))
    return max(0, places - int(exponent or 0))


def _decimal_grid(start: float, stop: float, delta: float, step: float) -> int | None:
    """The decimal places of a sweep whose start, stop and actual step are decimals of at most 12 places (None
    otherwise: the values stay the binary fractions of the range)."""
    places = max(_decimals(start), _decimals(stop), _decimals(step))
    if places > 12 or abs(round(delta, places) - delta) > 1e-12 * max(1.0, abs(delta)):
        return None
    return places
