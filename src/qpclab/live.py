"""Live plotting fed from memory: data buffers, a decimating curve, a block-updated map image, G0 grid lines.

pymeasure's stock live plots re-read the CSV file on every refresh (``ResultsCurve``) and loop over every row of
the file in Python (``ResultsImage``), so a refresh costs O(points) of file parsing and soon takes longer than
the refresh period. Here the procedure's emitted records are copied into a :class:`LiveData` buffer as they are
written (the file writing is untouched, see :mod:`qpclab.windows`), and the plot items read that buffer:

- :class:`LiveCurve` draws at most a few thousand points whatever the run length: consecutive points are cut
  into blocks of ``k`` (a power of two) and each block is drawn as its minimum and maximum in measurement order
  (so spikes, steps and the envelope of noise survive, and x need not be monotonic: up-and-down sweeps and
  repeats work). Complete blocks are cached, so a refresh only processes the points that arrived since the last
  one. When the user zooms in, the points in view are decimated afresh (exact when few enough).
- :class:`LiveLines` draws a run's line cuts (the lines of a map, the sweeps of a staircase), each a
  :class:`LineCut` in the colour of its slow-axis value; a line whose x goes back and forth (an adaptive run) is
  drawn sorted by x.
- :class:`LiveMap` shows a 2D map on its grid (fast and slow axis values known before the run) as horizontal
  strips of ``pg.ImageItem``; a refresh writes only the new points and re-renders only the strips they touched.
  The colour scale grows to the data range (all strips are re-coloured only when it does). It shows z or its
  derivative along the fast axis (:func:`gate_derivative`); an adaptive map's scattered points are triangulated.
- :func:`add_g0_grid` draws dashed horizontal lines at integer multiples of G0 on a plot of G/G0.

Everything here except :class:`LiveData` must be used in the Qt GUI thread. :class:`LiveData` is written from
the measurement thread and read from the GUI thread (it is locked).
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from typing import Iterable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import QhullError

__all__ = ["LiveData", "LiveCurve", "LineCut", "LiveLines", "LiveMap", "colour_levels", "minmax_decimate",
           "add_g0_grid", "is_g0_column", "nearest_index", "local_step", "gate_derivative", "derivative_label"]


class LiveData:
    """The records of one run, in memory: a growing float64 table, one column per data column.

    ``append`` is called from the measurement thread for each emitted record (a dict column -> value); values
    that are not numbers become NaN. ``column(name)`` returns a read-only view of the first ``len(self)`` values,
    safe to use from another thread (a view never sees a half-written row: the row is written before the length
    grows, and when the table grows a new array is made, old views keep the old one).
    """

    def __init__(self, columns: Sequence[str], capacity: int = 1024):
        self.columns = list(columns)
        self._index = {c: j for j, c in enumerate(self.columns)}
        self._table = np.full((max(16, int(capacity)), len(self.columns)), np.nan)
        self._n = 0
        self._lock = threading.Lock()
        self._results: weakref.ref | None = None

    @property
    def results(self):
        """The pymeasure Results this buffers in the window (its browser entry), if any; held weakly (the window's
        map from Results to buffer must not keep either alive)."""
        return self._results() if self._results is not None else None

    @results.setter
    def results(self, results) -> None:
        self._results = weakref.ref(results) if results is not None else None

    def __len__(self) -> int:
        return self._n

    def _grow(self, need: int) -> None:
        cap = self._table.shape[0]
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        table = np.full((cap, len(self.columns)), np.nan)
        table[: self._n] = self._table[: self._n]
        self._table = table

    @staticmethod
    def _num(value) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    def append(self, record: Mapping[str, object]) -> None:
        """Add one record (a dict column -> value; missing columns are NaN, unknown keys are ignored)."""
        row = [self._num(record.get(c, math.nan)) for c in self.columns]
        with self._lock:
            self._grow(self._n + 1)
            self._table[self._n] = row
            self._n += 1

    def extend(self, columns: Mapping[str, Sequence[float]]) -> None:
        """Add many records at once, given as a dict column -> sequence (all the same length)."""
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        m = lengths.pop() if lengths else 0
        if m == 0:
            return
        block = np.full((m, len(self.columns)), np.nan)
        for name, values in columns.items():
            j = self._index.get(name)
            if j is not None:
                block[:, j] = np.asarray(values, dtype=float)
        with self._lock:
            self._grow(self._n + m)
            self._table[self._n: self._n + m] = block
            self._n += m

    def column(self, name: str, start: int = 0) -> np.ndarray:
        """Values of column ``name`` from row ``start`` to the current end (a read-only view)."""
        try:
            j = self._index[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; the columns are {self.columns}") from None
        with self._lock:
            table, n = self._table, self._n
        view = table[start:n, j]
        view.flags.writeable = False
        return view

    def columns_view(self, names: Iterable[str], start: int = 0) -> tuple[int, list[np.ndarray]]:
        """(current length, views of the named columns from ``start``), all taken at the same length."""
        idx = [self._index[n] for n in names]
        with self._lock:
            table, n = self._table, self._n
        return n, [table[start:n, j] for j in idx]

    def to_dict(self) -> dict[str, np.ndarray]:
        with self._lock:
            table, n = self._table, self._n
        return {c: table[:n, j].copy() for j, c in enumerate(self.columns)}


# ---------------------------------------------------------------------------------------------------------------
# curves
# ---------------------------------------------------------------------------------------------------------------

def _block_minmax(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Min/max of y over consecutive blocks of k points (len(y) must be a multiple of k), in measurement order.

    Each block gives two points, (x at its y-minimum, ymin) and (x at its y-maximum, ymax), in the order they
    were measured. NaN values are skipped (a block of only NaN gives NaN, which breaks the line there)."""
    m = len(y) // k
    if m == 0:
        return np.empty(0), np.empty(0)
    if k == 1:
        return np.asarray(x, float).copy(), np.asarray(y, float).copy()
    yb = y[: m * k].reshape(m, k)
    xb = x[: m * k].reshape(m, k)
    nan = np.isnan(yb)
    if nan.any():
        lo = np.argmin(np.where(nan, np.inf, yb), axis=1)
        hi = np.argmax(np.where(nan, -np.inf, yb), axis=1)
    else:
        lo = np.argmin(yb, axis=1)
        hi = np.argmax(yb, axis=1)
    first = np.minimum(lo, hi)
    second = np.maximum(lo, hi)
    rows = np.arange(m)
    out_x = np.empty(2 * m)
    out_y = np.empty(2 * m)
    out_x[0::2] = xb[rows, first]
    out_x[1::2] = xb[rows, second]
    out_y[0::2] = yb[rows, first]
    out_y[1::2] = yb[rows, second]
    return out_x, out_y


def _block_size(n: int, max_points: int) -> int:
    """The smallest power of two k such that n points in blocks of k give at most max_points drawn points."""
    k = 1
    while n > max_points * k / 2 and k < (1 << 40):
        k *= 2
    return k if n > max_points else 1


def minmax_decimate(x: np.ndarray, y: np.ndarray, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Decimate a curve to at most ``max_points`` points, keeping each block's minimum and maximum in order.

    Index based (blocks of consecutive points), so it works for any x ordering. The last partial block is
    kept as raw points. Returns new arrays; if the curve already has few enough points, copies of x and y."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(y)
    if n <= max_points:
        return x.copy(), y.copy()
    k = _block_size(n, max_points)
    bx, by = _block_minmax(x, y, k)
    tail = (n // k) * k
    return np.concatenate([bx, x[tail:]]), np.concatenate([by, y[tail:]])


class LiveCurve(pg.PlotDataItem):
    """A curve of column ``y`` against column ``x`` of a :class:`LiveData`, decimated for display.

    Call :meth:`update_data` on a timer (cheap when nothing changed). ``max_points`` is the most points drawn
    (default: about two per screen pixel column of a large plot)."""

    def __init__(self, data: LiveData, x: str, y: str, max_points: int = 4000, wdg=None, **kwargs):
        kwargs.setdefault("antialias", False)
        super().__init__(**kwargs)
        self.live = data
        self.x, self.y = x, y
        self.wdg = wdg
        self.max_points = int(max_points)
        pen = self.opts.get("pen")
        self.color = pg.mkPen(pen).color() if pen is not None else pg.mkColor("w")
        self._reset_cache()
        self._zoom_key = None

    # pymeasure's window code reads these
    @property
    def results(self):
        return self.live.results

    def _reset_cache(self) -> None:
        self._k = 1
        self._done = 0               # points folded into complete blocks
        self._bx = np.empty(0)
        self._by = np.empty(0)
        self._shown_n = -1

    def add_to(self, plot: pg.PlotItem) -> None:
        plot.addItem(self)

    def remove_from(self, plot: pg.PlotItem) -> None:
        plot.removeItem(self)

    def set_columns(self, x: str | None = None, y: str | None = None) -> None:
        if x is not None:
            self.x = x
        if y is not None:
            self.y = y
        self._reset_cache()
        self.update_data()

    def set_color(self, color) -> None:
        self.setPen(pg.mkPen(color=color, width=pg.mkPen(self.opts["pen"]).widthF()))
        self.color = pg.mkColor(color)

    def _zoomed_range(self):
        vb = self.getViewBox()
        if vb is None or vb.autoRangeEnabled()[0]:
            return None
        lo, hi = vb.viewRange()[0]
        return float(lo), float(hi)

    def _view(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(points, x, y): the rows this curve draws, as views of the buffer."""
        n, (x, y) = self.live.columns_view((self.x, self.y))
        return n, x, y

    def update_data(self, force: bool = False) -> bool:
        """Bring the drawn curve up to date with the buffer. Returns True if it changed."""
        return self._draw(*self._view(), force)

    def _draw(self, n: int, x: np.ndarray, y: np.ndarray, force: bool) -> bool:
        zoom = self._zoomed_range()
        if zoom is not None:
            key = (n, zoom)
            if key == self._zoom_key and not force:
                return False
            self._zoom_key = key
            self._show_zoomed(x, y, zoom)
            return True
        if self._zoom_key is not None:
            self._zoom_key = None
            force = True
        if n == self._shown_n and not force:
            return False
        k = _block_size(n, self.max_points)
        if k != self._k:
            # the block size doubled (the run grew): refold everything once
            self._k, self._done = k, 0
            self._bx, self._by = np.empty(0), np.empty(0)
        complete = (n // self._k) * self._k
        if complete > self._done:
            bx, by = _block_minmax(x[self._done:complete], y[self._done:complete], self._k)
            self._bx = np.concatenate([self._bx, bx])
            self._by = np.concatenate([self._by, by])
            self._done = complete
        xs = np.concatenate([self._bx, x[complete:n]])
        ys = np.concatenate([self._by, y[complete:n]])
        self.setData(xs, ys, connect="finite")
        self._shown_n = n
        return True

    def _show_zoomed(self, x: np.ndarray, y: np.ndarray, zoom: tuple[float, float]) -> None:
        lo, hi = zoom
        inside = (x >= lo) & (x <= hi)
        # keep one neighbour on each side so the line runs to the plot edge
        near = inside.copy()
        near[1:] |= inside[:-1]
        near[:-1] |= inside[1:]
        idx = np.flatnonzero(near)
        xs, ys = x[idx], y[idx]
        if len(idx) <= self.max_points:
            ys = ys.copy()
            gaps = np.flatnonzero(np.diff(idx) > 1)
            if len(gaps):  # separate visits to this x range (repeats, up and down): do not join them
                xs = np.insert(xs, gaps + 1, np.nan)
                ys = np.insert(ys, gaps + 1, np.nan)
        else:
            xs, ys = minmax_decimate(xs, ys, self.max_points)
        self.setData(xs, ys, connect="finite")

    def displayed_points(self) -> int:
        xs, _ = self.getData()
        return 0 if xs is None else len(xs)


class LineCut(LiveCurve):
    """One line of a run: the rows ``first`` to ``end`` of the buffer (``end`` None while the line still grows).

    A line measured in order along x (a grid's line, up or down) is drawn as :class:`LiveCurve` draws (decimated
    by blocks, incrementally). A line whose x goes back and forth (an adaptive run's passes) is drawn sorted by x,
    so the curve never zig-zags in measured order (decimated after sorting when it is long)."""

    def __init__(self, data: LiveData, x: str, y: str, first: int, **kwargs):
        super().__init__(data, x, y, **kwargs)
        self.first = int(first)
        self.end: int | None = None
        self.sorted = False      # drawn sorted by x (its x is not monotonic)
        self._direction = 0.0    # +1 rising, -1 falling, 0 not known yet
        self._checked = 0        # points whose order is known

    def _view(self) -> tuple[int, np.ndarray, np.ndarray]:
        n, (x, y) = self.live.columns_view((self.x, self.y), start=self.first)
        if self.end is not None:
            stop = self.end - self.first
            x, y = x[:stop], y[:stop]
        return len(x), x, y

    def _check_order(self, x: np.ndarray) -> None:
        steps = np.diff(x[max(0, self._checked - 1):])
        self._checked = len(x)
        signs = np.sign(steps[np.isfinite(steps) & (steps != 0)])
        if self._direction:
            signs = np.concatenate([[self._direction], signs])
        if len(signs):
            self._direction = float(signs[0])
            self.sorted = bool(np.any(signs != signs[0]))

    def update_data(self, force: bool = False) -> bool:
        n, x, y = self._view()
        if not self.sorted:
            self._check_order(x)
        if not self.sorted:
            return self._draw(n, x, y, force)
        if n == self._shown_n and not force:
            return False
        order = np.argsort(x, kind="stable")
        xs, ys = minmax_decimate(x[order], y[order], self.max_points)
        self.setData(xs, ys, connect="finite")
        self._shown_n = n
        return True


def colour_levels(lo: float, hi: float) -> tuple[float, float]:
    """The colour scale for values from lo to hi: (lo, hi), widened around a single value (lo == hi)."""
    if hi > lo:
        return lo, hi
    half = 0.5 * abs(lo) or 0.5
    return lo - half, lo + half


class LiveLines(QtCore.QObject):
    """The line cuts of a run, each its own curve (:class:`LineCut`) coloured by its slow-axis value.

    Rows of the buffer with the same value of column ``slow`` in a row (the lines of a map, the sweeps of a
    staircase) make one line; its colour is ``colormap`` at its value on the scale ``levels`` (the lowest to the
    highest value seen so far: every line is re-coloured when it grows). Only the newest ``max_lines`` lines are
    drawn (the map shows them all). Add it to a plot with :meth:`add_to`; call :meth:`update_data` on a timer.

    A run whose slow value changes at nearly every point has no lines to draw (an adaptive map's scattered points:
    after ``SCATTER_AFTER`` lines of fewer than three points on average): it is then drawn as points
    (``scatter``, a ``pg.ScatterPlotItem``), each in the colour of its slow value."""

    SCATTER_AFTER = 20

    def __init__(self, data: LiveData, x: str, y: str, slow: str, colormap: str = "viridis",
                 max_points: int = 4000, max_lines: int = 200, linewidth: float = 1.0, wdg=None):
        super().__init__()
        self.live = data
        self.x, self.y, self.slow = x, y, slow
        self.wdg = wdg
        self.cmap = pg.colormap.get(colormap)
        self.max_points, self.max_lines, self.linewidth = int(max_points), int(max_lines), float(linewidth)
        self.lines: list[LineCut] = []
        self.values: list[float] = []
        self.levels: tuple[float, float] | None = None
        self.scatter: pg.ScatterPlotItem | None = None
        self._scatter_n = -1
        self._consumed = 0
        self._plot: pg.PlotItem | None = None
        self.color = pg.mkColor("k")

    @property
    def results(self):
        return self.live.results

    def _drawn(self) -> list:
        return [self.scatter] if self.scatter is not None else self.lines[-self.max_lines:]

    def add_to(self, plot: pg.PlotItem) -> None:
        self._plot = plot
        for item in self._drawn():
            plot.addItem(item)

    def remove_from(self, plot: pg.PlotItem) -> None:
        for item in self._drawn():
            plot.removeItem(item)  # (PlotItem.removeItem ignores an item it does not hold)
        self._plot = None

    def set_color(self, color) -> None:  # the lines are coloured by their slow-axis value, not by the run
        pass

    def colour_of(self, value: float) -> pg.QtGui.QColor:
        """The colour of a line at slow-axis ``value`` on the current scale."""
        return self.colours_of(np.array([value]))[0]

    def colours_of(self, values: np.ndarray) -> list:
        """The colours (QColor) of slow-axis ``values`` on the current scale (NaN: the scale's low end)."""
        lo, hi = self.levels if self.levels is not None else colour_levels(float(values[0]), float(values[0]))
        t = np.nan_to_num(np.clip((np.asarray(values, float) - lo) / (hi - lo), 0.0, 1.0), nan=0.0)
        return self.cmap.map(t, mode="qcolor")

    def _new_line(self, first: int, value: float) -> None:
        if self.lines:
            self.lines[-1].end = first
            if self.scatter is None:
                self.lines[-1].update_data()
        line = LineCut(self.live, self.x, self.y, first, max_points=self.max_points, wdg=self.wdg,
                       pen=pg.mkPen(color=self.colour_of(value), width=self.linewidth))
        self.lines.append(line)
        self.values.append(value)
        if self._plot is not None and self.scatter is None:
            self._plot.addItem(line)
            if len(self.lines) > self.max_lines:
                self._plot.removeItem(self.lines[-self.max_lines - 1])

    def _split(self) -> bool:
        """Cut the rows that arrived since the last call into lines. False if none arrived."""
        start = self._consumed
        n, (slow,) = self.live.columns_view((self.slow,), start=start)
        if len(slow) == 0:
            return False
        self._consumed = n
        same = (slow[1:] == slow[:-1]) | (np.isnan(slow[1:]) & np.isnan(slow[:-1]))
        for i in np.concatenate([[0], np.flatnonzero(~same) + 1]):
            value = float(slow[i])
            last = self.values[-1] if self.values else None
            if i == 0 and last is not None and (last == value or math.isnan(last) and math.isnan(value)):
                continue  # the newest line goes on
            self._new_line(start + int(i), value)
        return True

    def _to_scatter(self) -> None:
        if self._plot is not None:
            for line in self.lines[-self.max_lines:]:
                self._plot.removeItem(line)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None)
        if self._plot is not None:
            self._plot.addItem(self.scatter)

    def update_data(self, force: bool = False) -> bool:
        """Split the new rows into lines, re-colour if the scale grew, draw (every drawn line when the view is
        zoomed: each shows the points in view afresh)."""
        zoomed = self._plot is not None and not self._plot.vb.autoRangeEnabled()[0]
        if not self._split() and not force and not zoomed:
            return False
        if self.scatter is None and len(self.lines) >= self.SCATTER_AFTER and \
                len(self.live) < 3 * len(self.lines):
            self._to_scatter()
        finite = [v for v in self.values if math.isfinite(v)]
        levels = colour_levels(min(finite), max(finite)) if finite else None
        relevel = levels != self.levels
        self.levels = levels
        if self.scatter is not None:
            n, (x, y, slow) = self.live.columns_view((self.x, self.y, self.slow))
            if n != self._scatter_n or relevel or force:
                self.scatter.setData(x=np.array(x), y=np.array(y), brush=self.colours_of(slow))
                self._scatter_n = n
            return True
        if relevel:
            for line, value in zip(self.lines, self.values):
                line.set_color(self.colour_of(value))
        for line in self.lines[-self.max_lines:] if zoomed else self.lines[-2:]:
            line.update_data(force)
        return True


# ---------------------------------------------------------------------------------------------------------------
# maps
# ---------------------------------------------------------------------------------------------------------------

def local_step(axis_sorted: np.ndarray) -> np.ndarray:
    """The grid step at each node of a sorted axis (the larger of its two neighbouring steps; inf for one node)."""
    if len(axis_sorted) == 1:
        return np.array([math.inf])
    steps = np.diff(axis_sorted)
    return np.concatenate([steps[:1], np.maximum(steps[:-1], steps[1:]), steps[-1:]])


def nearest_index(axis_sorted: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest grid value for each value, and whether it is on the grid (within half a step)."""
    values = np.asarray(values, float)
    m = len(axis_sorted)
    if m == 1:
        idx = np.zeros(len(values), dtype=np.intp)
        ok = np.isfinite(values)
        return idx, ok
    i = np.clip(np.searchsorted(axis_sorted, values), 1, m - 1)
    left = axis_sorted[i - 1]
    right = axis_sorted[i]
    i = np.where(np.abs(values - left) <= np.abs(right - values), i - 1, i)
    half = 0.5 * local_step(axis_sorted) * (1 + 1e-9)
    ok = np.abs(values - axis_sorted[i]) <= half[i]
    return i, ok


def gate_derivative(image: np.ndarray, x_axis: np.ndarray) -> np.ndarray:
    """d image / dx along its rows (axis 1), x_axis the values of its columns: ``numpy.gradient`` over each run of
    finite pixels of a row (second order inside a run, one-sided at its ends), so a partial line and the gaps of a
    map being filled give the slope of what is measured; a pixel with no finite neighbour gives NaN."""
    out = np.full(image.shape, np.nan, dtype=float)
    for r, row in enumerate(image):
        finite = np.isfinite(row)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
        for a, b in zip(edges[0::2], edges[1::2]):
            if b - a >= 2:
                out[r, a:b] = np.gradient(row[a:b].astype(float), x_axis[a:b])
    return out


def derivative_label(z: str, x: str) -> str:
    """The name of d z / d x for a plot: ``dG/dV_g (G0/V)`` for G/G0 against a gate voltage, else ``d(z)/d(x)``."""
    name, unit = x[:-1].rsplit(" (", 1) if x.endswith(")") and " (" in x else (x, "")
    if is_g0_column(z) and unit == "V":
        return "dG/dV_g (G0/V)" if name.lower().startswith("gate") else f"dG/d{name} (G0/V)"
    return f"d({z})/d({name})" + (f" (per {unit})" if unit else "")


class LiveMap(QtCore.QObject):
    """A 2D map z(x, y) on a known grid, drawn as horizontal strips of ImageItems updated by blocks.

    ``x_values`` (fast axis) and ``y_values`` (slow axis) are the grid points the procedure will visit (any order;
    they are sorted for display). Records whose x or y is more than half a step beyond the grid are counted in
    ``off_grid`` and not drawn. Add it to a plot with :meth:`add_to`; call :meth:`update_data` on a timer.

    :meth:`show_derivative` switches the image between z (``image``) and d z / d x along the fast axis
    (``slope``, :func:`gate_derivative`: computed for the rows that received points, as they arrive; a partial line
    has the slope of its measured part). Each has its own colour scale, grown to its data range.

    A map whose points are not measured as a grid's (an adaptive map: a point more than a quarter step from every
    node, or two points in a row of the image with unmeasured pixels between them) becomes ``scattered``: the image
    is then the linear interpolation on the Delaunay triangulation of all points so far (pixels outside their hull
    stay empty), recomputed when points have arrived, at most every ``scatter_period_s`` and at most 5 % of the
    time (the next waits twenty times the last one's cost), so the plot never slows the run."""

    def __init__(self, data: LiveData, x: str, y: str, z: str, x_values: Sequence[float],
                 y_values: Sequence[float], colormap: str = "viridis", strip_rows: int | None = None,
                 scatter_period_s: float = 1.0, wdg=None):
        super().__init__()
        self.live = data
        self.x, self.y, self.z = x, y, z
        self.wdg = wdg
        self.x_axis = np.unique(np.asarray(x_values, float))
        self.y_axis = np.unique(np.asarray(y_values, float))
        if len(self.x_axis) == 0 or len(self.y_axis) == 0:
            raise ValueError(f"map {z!r}: the grid is empty ({len(self.x_axis)} x {len(self.y_axis)} values)")
        if not (np.all(np.isfinite(self.x_axis)) and np.all(np.isfinite(self.y_axis))):
            raise ValueError(f"map {z!r}: grid values must be finite numbers")
        ny, nx = len(self.y_axis), len(self.x_axis)
        self.image = np.full((ny, nx), np.nan, dtype=np.float32)
        self.slope = np.full((ny, nx), np.nan, dtype=np.float32)
        self.derivative = False
        self.scattered = False
        self.scatter_period_s = float(scatter_period_s)
        self._scatter_n, self._next_scatter = -1, 0.0
        self._quarter = (0.25 * local_step(self.x_axis), 0.25 * local_step(self.y_axis))
        self._last = np.empty(0, dtype=np.intp)  # (row, column) of the last point placed
        # strips of about 64k pixels: a refresh re-renders only the strips that received points
        self.strip_rows = int(strip_rows or max(1, min(ny, 65536 // max(nx, 1))))
        self.cmap = pg.colormap.get(colormap)
        self.lut = self.cmap.getLookupTable(nPts=256)
        self.levels: tuple[float, float] | None = None
        self._ranges = {False: [math.inf, -math.inf], True: [math.inf, -math.inf]}
        self._consumed = 0
        self.off_grid = 0
        self.items: list[pg.ImageItem] = []
        # pixels are drawn on a uniform grid spanning the axis values (a non-uniform grid is shown stretched)
        dx = (self.x_axis[-1] - self.x_axis[0]) / (nx - 1) if nx > 1 else 1.0
        dy = (self.y_axis[-1] - self.y_axis[0]) / (ny - 1) if ny > 1 else 1.0
        x0 = self.x_axis[0] - dx / 2
        for r0 in range(0, ny, self.strip_rows):
            r1 = min(ny, r0 + self.strip_rows)
            item = pg.ImageItem(axisOrder="row-major")
            item.setImage(self.image[r0:r1], autoLevels=False, levels=(0.0, 1.0), lut=self.lut)
            item.setRect(QtCore.QRectF(x0, self.y_axis[0] - dy / 2 + r0 * dy, nx * dx, (r1 - r0) * dy))
            item._rows = (r0, r1)
            self.items.append(item)
        self.color = pg.mkColor("k")

    @property
    def results(self):
        return self.live.results

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape

    @property
    def shown(self) -> np.ndarray:
        """The image on screen: ``slope`` when the derivative is shown, else ``image``."""
        return self.slope if self.derivative else self.image

    @property
    def label(self) -> str:
        """What the image shows: the z column, or its derivative along the fast axis."""
        return derivative_label(self.z, self.x) if self.derivative else self.z

    def add_to(self, plot: pg.PlotItem) -> None:
        for item in self.items:
            plot.addItem(item)

    def remove_from(self, plot: pg.PlotItem) -> None:
        for item in self.items:
            plot.removeItem(item)

    def set_color(self, color) -> None:  # a map has no pen colour
        pass

    def show_derivative(self, on: bool) -> None:
        """Show d z / d x along the fast axis (True) or z (False); every strip is re-drawn."""
        self.derivative = bool(on)
        self._relevel()
        self._render(range(len(self.items)))

    def _relevel(self) -> None:
        lo, hi = self._ranges[self.derivative]
        if not math.isfinite(lo):
            self.levels = None
            return
        if hi <= lo:
            hi = lo + (abs(lo) * 1e-6 or 1e-12)
        self.levels = (lo, hi)
        for item in self.items:
            item.setLevels(self.levels)  # re-colours every strip (only when a range changes)

    def _render(self, strips) -> None:
        shown = self.shown
        for s in strips:
            item = self.items[int(s)]
            r0, r1 = item._rows
            item.updateImage(shown[r0:r1])

    def _interpolate(self, force: bool) -> bool:
        """Scattered points: the image from the triangulation of all points (False while throttled)."""
        now = time.perf_counter()
        n = len(self.live)
        if n == self._scatter_n or (not force and now < self._next_scatter):
            return False
        _, (x, y, z) = self.live.columns_view((self.x, self.y, self.z))
        good = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
        x, y, z = x[good], y[good], z[good]
        self.image[:] = np.nan
        try:
            interpolate = LinearNDInterpolator(np.column_stack([x, y]), z, rescale=True)
            self.image[:] = interpolate(*np.meshgrid(self.x_axis, self.y_axis))
        except (QhullError, ValueError):  # fewer than three points, or all on a line: each in its pixel
            ix, okx = nearest_index(self.x_axis, x)
            iy, oky = nearest_index(self.y_axis, y)
            ok = okx & oky
            self.image[iy[ok], ix[ok]] = z[ok]
        self._scatter_n = n
        self._next_scatter = now + max(self.scatter_period_s, 20 * (time.perf_counter() - now))
        return True

    def update_data(self, force: bool = False) -> bool:
        """Bring the image up to date with the records that arrived since the last call; re-render the touched
        strips."""
        n, (x, y, z) = self.live.columns_view((self.x, self.y, self.z), start=self._consumed)
        pending = self.scattered and n != self._scatter_n
        if len(z) == 0 and not force and not pending:
            return False
        self._consumed = n
        ix, okx = nearest_index(self.x_axis, x)
        iy, oky = nearest_index(self.y_axis, y)
        ok = okx & oky
        self.off_grid += int(len(ok) - ok.sum())
        ix, iy, zz = ix[ok], iy[ok], z[ok]
        if not self.scattered and len(ix):
            qx, qy = self._quarter
            between = (np.abs(x[ok] - self.x_axis[ix]) > qx[ix]) | (np.abs(y[ok] - self.y_axis[iy]) > qy[iy])
            # a grid's line goes from pixel to pixel; a jump within a row leaves pixels between unmeasured
            rows, cols = np.concatenate([self._last[:1], iy]), np.concatenate([self._last[1:], ix])
            jumps = (rows[1:] == rows[:-1]) & (np.abs(np.diff(cols)) > 1)
            self.scattered = bool(between.any() or jumps.any())
            self._last = np.array([iy[-1], ix[-1]])
        if self.scattered:
            rows = np.arange(self.image.shape[0]) if self._interpolate(force) else np.empty(0, dtype=int)
        else:
            self.image[iy, ix] = zz
            rows = np.unique(iy)
        relevel = force
        if len(rows):
            self.slope[rows] = gate_derivative(self.image[rows], self.x_axis)
            # the ranges grow with a grid's points; a scattered map's image is new each time: its ranges too
            ranges = {key: [math.inf, -math.inf] if self.scattered else list(span)
                      for key, span in self._ranges.items()}
            for key, part in ((False, self.image[rows]), (True, self.slope[rows])):
                finite = part[np.isfinite(part)]
                if len(finite):
                    lo, hi = ranges[key]
                    ranges[key] = [min(float(finite.min()), lo), max(float(finite.max()), hi)]
            relevel = relevel or ranges[self.derivative] != self._ranges[self.derivative]
            self._ranges = ranges
        if relevel:
            self._relevel()
        self._render(np.unique(rows // self.strip_rows))
        return True

    def filled(self) -> int:
        return int(np.isfinite(self.image).sum())


# ---------------------------------------------------------------------------------------------------------------
# G0 grid lines
# ---------------------------------------------------------------------------------------------------------------

def is_g0_column(name: str) -> bool:
    """True for a column holding conductance in units of G0 (e.g. "G/G0", "G (G0)")."""
    s = name.replace(" ", "").lower()
    return s in ("g/g0", "g(g0)", "g(2e^2/h)", "g/(2e^2/h)") or s.endswith("/g0") or s.endswith("(g0)")


def add_g0_grid(plot: pg.PlotItem, n_max: int = 20, color="#999999") -> list[pg.InfiniteLine]:
    """Dashed horizontal lines at G = 1..n_max G0 on a plot whose y axis is G/G0 (they do not affect autorange).
    Returns the lines."""
    pen = pg.mkPen(color=color, style=QtCore.Qt.PenStyle.DashLine, width=1)
    lines = []
    for n in range(1, int(n_max) + 1):
        line = pg.InfiniteLine(pos=n, angle=0, movable=False, pen=pen)
        line.setZValue(-10)
        plot.addItem(line, ignoreBounds=True)
        lines.append(line)
    return lines
