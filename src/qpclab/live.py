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
- :class:`LiveMap` shows a 2D map on its grid (fast and slow axis values known before the run) as horizontal
  strips of ``pg.ImageItem``; a refresh writes only the new points and re-renders only the strips they touched.
  The colour scale grows to the data range (all strips are re-coloured only when it does).
- :func:`add_g0_grid` draws dashed horizontal lines at integer multiples of G0 on a plot of G/G0.

Everything here except :class:`LiveData` must be used in the Qt GUI thread. :class:`LiveData` is written from
the measurement thread and read from the GUI thread (it is locked).
"""

from __future__ import annotations

import math
import threading
from typing import Iterable, Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

__all__ = ["LiveData", "LiveCurve", "LiveMap", "minmax_decimate", "add_g0_grid", "is_g0_column",
           "nearest_index"]


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
        return getattr(self.live, "results", None)

    def _reset_cache(self) -> None:
        self._k = 1
        self._done = 0               # points folded into complete blocks
        self._bx = np.empty(0)
        self._by = np.empty(0)
        self._shown_n = -1

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

    def update_data(self, force: bool = False) -> bool:
        """Bring the drawn curve up to date with the buffer. Returns True if it changed."""
        n, (x, y) = self.live.columns_view((self.x, self.y))
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


# ---------------------------------------------------------------------------------------------------------------
# maps
# ---------------------------------------------------------------------------------------------------------------

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
    steps = np.diff(axis_sorted)
    half = 0.5 * np.concatenate([steps[:1], np.maximum(steps[:-1], steps[1:]), steps[-1:]]) * (1 + 1e-9)
    ok = np.abs(values - axis_sorted[i]) <= half[i]
    return i, ok


class LiveMap(QtCore.QObject):
    """A 2D map z(x, y) on a known grid, drawn as horizontal strips of ImageItems updated by blocks.

    ``x_values`` (fast axis) and ``y_values`` (slow axis) are the grid points the procedure will visit (any order;
    they are sorted for display). Records whose x or y is more than half a step from the grid are counted in
    ``off_grid`` and not drawn. Add it to a plot with :meth:`add_to`; call :meth:`update_data` on a timer."""

    def __init__(self, data: LiveData, x: str, y: str, z: str, x_values: Sequence[float],
                 y_values: Sequence[float], colormap: str = "viridis", strip_rows: int | None = None,
                 wdg=None):
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
        # strips of about 64k pixels: a refresh re-renders only the strips that received points
        self.strip_rows = int(strip_rows or max(1, min(ny, 65536 // max(nx, 1))))
        self.cmap = pg.colormap.get(colormap)
        self.lut = self.cmap.getLookupTable(nPts=256)
        self.levels: tuple[float, float] | None = None
        self._zmin, self._zmax = math.inf, -math.inf
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
        return getattr(self.live, "results", None)

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape

    def add_to(self, plot: pg.PlotItem) -> None:
        for item in self.items:
            plot.addItem(item)

    def remove_from(self, plot: pg.PlotItem) -> None:
        for item in self.items:
            plot.removeItem(item)

    def set_color(self, color) -> None:  # a map has no pen colour
        pass

    def update_data(self, force: bool = False) -> bool:
        """Write the records that arrived since the last call into the image; re-render the touched strips."""
        n, (x, y, z) = self.live.columns_view((self.x, self.y, self.z), start=self._consumed)
        if len(z) == 0 and not force:
            return False
        self._consumed = n
        ix, okx = nearest_index(self.x_axis, x)
        iy, oky = nearest_index(self.y_axis, y)
        ok = okx & oky
        self.off_grid += int(len(ok) - ok.sum())
        ix, iy, zz = ix[ok], iy[ok], z[ok]
        self.image[iy, ix] = zz
        finite = zz[np.isfinite(zz)]
        relevel = force
        if len(finite):
            lo, hi = float(finite.min()), float(finite.max())
            if lo < self._zmin or hi > self._zmax:
                self._zmin, self._zmax = min(lo, self._zmin), max(hi, self._zmax)
                relevel = True
        if relevel and math.isfinite(self._zmin):
            lo, hi = self._zmin, self._zmax
            if hi <= lo:
                hi = lo + (abs(lo) * 1e-6 or 1e-12)
            self.levels = (lo, hi)
            for item in self.items:
                item.setLevels(self.levels)  # re-colours every strip (only when the range grows)
        touched = np.unique(iy // self.strip_rows) if len(iy) else np.empty(0, dtype=int)
        for s in touched:
            item = self.items[int(s)]
            r0, r1 = item._rows
            item.updateImage(self.image[r0:r1])
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
