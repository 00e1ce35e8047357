"""Fits drawn in the live window while a run goes on, fed from the run's in-memory buffer (:mod:`qpclab.live`).

- :class:`LiveSaddleFit`: the saddle-point fit of a staircase (:class:`~qpclab.analysis.online_fit.OnlineSaddleFit`:
  pinch-off, riser spacing and width, each with its uncertainty, and the risers' centres) as a text in the plot's
  corner and the fitted model as a dashed curve, for a grid run and an adaptive run alike (points in any order);
- :class:`LiveDiamonds`: the diamonds of a bias map (:class:`~qpclab.analysis.online_fit.OnlineDiamonds`: lever
  arm, subband spacing, the risers' gate spacing) as a text in the map's corner.

The fits run in the GUI thread on the plot's timer, throttled (:class:`LiveFit`) so that they never take more than
a small share of the time (``budget``) and never run more often than every ``period_s``: the run's thread keeps the
interpreter for the measurement.

Use in the Qt GUI thread only.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from .analysis.circuit import MeasurementCircuit
from .analysis.online_fit import DiamondEstimate, OnlineDiamonds, OnlineSaddleFit
from .analysis.saddle_fit import SaddleFit, saddle_model_G0
from .live import LiveData

__all__ = ["LiveFit", "LiveSaddleFit", "LiveDiamonds", "riser_centres"]


def riser_centres(fit: SaddleFit, low: float, high: float) -> np.ndarray:
    """The gate voltages (V) of the fitted risers between ``low`` and ``high``: riser n is half open at
    V_p + n * spacing (the saddle-point model's pinch-off V_p is where the lowest channel is half open)."""
    vp, spacing = fit.v_pinch.value, fit.spacing_V.value
    first = max(0, math.ceil((low - vp) / spacing))
    last = math.floor((high - vp) / spacing)
    return vp + spacing * np.arange(first, last + 1)


class LiveFit(QtCore.QObject):
    """An online fit of ``columns`` of a run, shown as ``text`` (a ``pg.TextItem`` in the plot's top-left corner).

    Every call of :meth:`update_data` feeds the fit the rows that arrived (:meth:`feed`); the fit itself
    (:meth:`fit`) runs when points have arrived since the last one, at most every ``period_s`` and at most a
    ``budget`` share of the time (the next fit waits ``cost / budget`` after one that took ``cost``);
    ``force=True`` fits at once. A fit that gives a result is drawn (:meth:`draw`) and kept in ``result``."""

    def __init__(self, data: LiveData, columns: Sequence[str], waiting: str, period_s: float = 1.0,
                 budget: float = 0.05, color="#d62728", wdg=None):
        super().__init__()
        self.live = data
        self.columns = tuple(columns)
        self.wdg = wdg
        self.period_s, self.budget = float(period_s), float(budget)
        self.result = None
        self.fits = 0                  # fits run so far
        self.cost_s = 0.0              # the last fit's duration
        self.points = 0                # points fed
        self._fitted = 0               # points fed at the last fit
        self._next = 0.0
        self.text = pg.TextItem(waiting, color=color, anchor=(0, 0), fill=pg.mkBrush(255, 255, 255, 210))
        self.text.setPos(8, 4)
        self.text.setZValue(20)
        self.color = pg.mkColor(color)

    @property
    def results(self):
        return self.live.results

    def items(self) -> list:
        """The plot items the fit draws besides its text."""
        return []

    def add_to(self, plot: pg.PlotItem) -> None:
        for item in self.items():
            plot.addItem(item, ignoreBounds=True)
        self.text.setParentItem(plot.vb)  # in the box's pixels: stays in its corner when the view moves

    def remove_from(self, plot: pg.PlotItem) -> None:
        for item in self.items():
            plot.removeItem(item)
        self.text.setParentItem(None)
        if self.text.scene() is not None:
            self.text.scene().removeItem(self.text)

    def set_color(self, color) -> None:  # the fit keeps its own colour
        pass

    def feed(self, *columns: np.ndarray) -> None:
        """Give the online fit the new rows' values of ``columns``."""
        raise NotImplementedError

    def fit(self):
        """Run the online fit on the points so far: its result, or None while it cannot be made."""
        raise NotImplementedError

    def draw(self, result) -> None:
        """Show a result."""
        raise NotImplementedError

    def update_data(self, force: bool = False) -> bool:
        """Feed the new rows; fit and redraw when due. Returns True if the fit ran."""
        n, columns = self.live.columns_view(self.columns, start=self.points)
        if n > self.points:
            self.feed(*columns)
            self.points = n
        now = time.perf_counter()
        if self.points == self._fitted or not (force or now >= self._next):
            return False
        result = self.fit()
        self.fits += 1
        self._fitted = self.points
        self.cost_s = time.perf_counter() - now
        self._next = now + max(self.period_s, self.cost_s / self.budget)
        if result is not None:
            self.result = result
            self.draw(result)
        return True


class LiveSaddleFit(LiveFit):
    """The online saddle-point fit of column ``y`` (G/G0) against column ``x`` (gate, V), drawn in a plot: ``text``
    says the fit, ``curve`` draws the model (dashed) over the measured gate range; ``risers`` their centres."""

    def __init__(self, data: LiveData, x: str, y: str, period_s: float = 1.0, budget: float = 0.05,
                 color="#d62728", wdg=None):
        super().__init__(data, (x, y), "saddle fit: waiting for two risers", period_s, budget, color, wdg)
        self.x, self.y = x, y
        self.online = OnlineSaddleFit(temperature_K=0.0)
        self.risers = np.empty(0)
        self._span = (math.inf, -math.inf)  # the gate range measured
        self.curve = pg.PlotDataItem(pen=pg.mkPen(color=color, width=1.5, style=QtCore.Qt.PenStyle.DashLine))
        self.curve.setZValue(5)

    def items(self) -> list:
        return [self.curve]

    def feed(self, x: np.ndarray, y: np.ndarray) -> None:
        for gate, g in zip(x.tolist(), y.tolist()):
            self.online.add(gate, g)
        if np.isfinite(x).any():
            self._span = (min(self._span[0], float(np.nanmin(x))), max(self._span[1], float(np.nanmax(x))))

    def fit(self) -> SaddleFit | None:
        return self.online.update()

    def draw(self, fit: SaddleFit) -> None:
        low, high = self._span
        gates = np.linspace(low, high, 400)
        n_modes = int(math.ceil((high - fit.v_pinch.value) / fit.spacing_V.value) + 3)
        model = saddle_model_G0(gates, fit.v_pinch.value, fit.spacing_V.value, fit.width_V.value, 1.0, 0.0,
                                n_modes)
        self.curve.setData(gates, model)
        self.risers = riser_centres(fit, low, high)
        shown = ", ".join(f"{v * 1e3:.1f}" for v in self.risers[:6]) + (" ..." if len(self.risers) > 6 else "")
        self.text.setText(f"saddle fit ({fit.n_points} points)\n"
                          f"pinch-off {fit.v_pinch.format(1e3, 'mV')}\n"
                          f"spacing {fit.spacing_V.format(1e3, 'mV')}\n"
                          f"width {fit.width_V.format(1e3, 'mV')}\n"
                          f"risers at {shown} mV")


class LiveDiamonds(LiveFit):
    """The online estimate of a bias map's diamonds from columns ``x`` (gate, V), ``y`` (source bias, V) and ``z``
    (G/G0), with the station's ``circuit`` (bias divider, series resistance): lever arm, subband spacing and the
    risers' gate spacing in ``text``."""

    def __init__(self, data: LiveData, x: str, y: str, z: str, circuit: MeasurementCircuit, period_s: float = 1.0,
                 budget: float = 0.05, color="#d62728", wdg=None):
        super().__init__(data, (x, y, z), "diamonds: waiting for split risers", period_s, budget, color, wdg)
        self.online = OnlineDiamonds(circuit)

    def feed(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
        for gate, bias, g in zip(x.tolist(), y.tolist(), z.tolist()):
            self.online.add(gate, bias, g)

    def fit(self) -> DiamondEstimate | None:
        return self.online.update()

    def draw(self, estimate: DiamondEstimate) -> None:
        self.text.setText(f"diamonds ({estimate.n_points} points, {estimate.splits} splittings)\n"
                          f"lever arm {estimate.lever_eV_per_V * 1e3:.3g} meV/V\n"
                          f"subband spacing {estimate.spacing_eV * 1e3:.3g} meV\n"
                          f"risers {estimate.gate_spacing_V * 1e3:.3g} mV apart")
