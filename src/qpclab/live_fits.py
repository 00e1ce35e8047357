"""Fits drawn in the live window while a run goes on, fed from the run's in-memory buffer (:mod:`qpclab.live`).

:class:`LiveSaddleFit` shows the saddle-point fit of a staircase (:class:`~qpclab.analysis.online_fit.OnlineSaddleFit`:
pinch-off, riser spacing and width, each with its uncertainty, and the risers' centres) as a text in the plot's
corner and the fitted model as a dashed curve, for a grid run and an adaptive run alike (the fit takes points in any
order). The fit runs in the GUI thread on the plot's timer; it is throttled so that it never takes more than a small
share of the time (``budget``) and never runs more often than every ``period_s``: the run's thread keeps the
interpreter for the measurement.

Use in the Qt GUI thread only.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from .analysis.online_fit import OnlineSaddleFit
from .analysis.saddle_fit import SaddleFit, saddle_model_G0
from .live import LiveData

__all__ = ["LiveSaddleFit", "riser_centres"]


def riser_centres(fit: SaddleFit, low: float, high: float) -> np.ndarray:
    """The gate voltages (V) of the fitted risers between ``low`` and ``high``: riser n is half open at
    V_p + n * spacing (the saddle-point model's pinch-off V_p is where the lowest channel is half open)."""
    vp, spacing = fit.v_pinch.value, fit.spacing_V.value
    first = max(0, math.ceil((low - vp) / spacing))
    last = math.floor((high - vp) / spacing)
    return vp + spacing * np.arange(first, last + 1)


class LiveSaddleFit(QtCore.QObject):
    """The online saddle-point fit of column ``y`` (G/G0) against column ``x`` (gate, V) of a run, drawn in a plot.

    Every call of :meth:`update_data` feeds the fit the rows that arrived; the fit itself runs when points have
    arrived since the last one, at most every ``period_s`` and at most a ``budget`` share of the time (the next fit
    waits ``cost / budget`` after one that took ``cost``). ``force=True`` fits at once. ``text`` (a ``pg.TextItem``
    in the plot's top-left corner) says the fit; ``curve`` draws the model over the measured gate range."""

    def __init__(self, data: LiveData, x: str, y: str, period_s: float = 1.0, budget: float = 0.05,
                 color="#d62728", wdg=None):
        super().__init__()
        self.live = data
        self.x, self.y = x, y
        self.wdg = wdg
        self.period_s, self.budget = float(period_s), float(budget)
        self.online = OnlineSaddleFit(temperature_K=0.0)
        self.result: SaddleFit | None = None
        self.risers = np.empty(0)
        self.fits = 0                  # fits run so far
        self.cost_s = 0.0              # the last fit's duration
        self._fed = 0
        self._span = (math.inf, -math.inf)  # the gate range measured
        self._fitted_n = 0
        self._next = 0.0
        self.curve = pg.PlotDataItem(pen=pg.mkPen(color=color, width=1.5, style=QtCore.Qt.PenStyle.DashLine))
        self.curve.setZValue(5)
        self.text = pg.TextItem("saddle fit: waiting for two risers", color=color, anchor=(0, 0))
        self.text.setPos(8, 4)
        self.color = pg.mkColor(color)

    @property
    def results(self):
        return getattr(self.live, "results", None)

    def add_to(self, plot: pg.PlotItem) -> None:
        plot.addItem(self.curve, ignoreBounds=True)
        self.text.setParentItem(plot.vb)  # in the box's pixels: stays in its corner when the view moves

    def remove_from(self, plot: pg.PlotItem) -> None:
        plot.removeItem(self.curve)
        self.text.setParentItem(None)
        if self.text.scene() is not None:
            self.text.scene().removeItem(self.text)

    def set_color(self, color) -> None:  # the fit keeps its own colour
        pass

    def update_data(self, force: bool = False) -> bool:
        """Feed the new rows; fit and redraw when due. Returns True if the fit ran."""
        n, (x, y) = self.live.columns_view((self.x, self.y), start=self._fed)
        for gate, g in zip(x.tolist(), y.tolist()):
            self.online.add(gate, g)
        if np.isfinite(x).any():
            self._span = (min(self._span[0], float(np.nanmin(x))), max(self._span[1], float(np.nanmax(x))))
        self._fed = n
        now = time.perf_counter()
        if self.online.n == self._fitted_n or not (force or now >= self._next):
            return False
        result = self.online.update()
        self.fits += 1
        self._fitted_n = self.online.n
        self.cost_s = time.perf_counter() - now
        self._next = now + max(self.period_s, self.cost_s / self.budget)
        if result is not None:
            self.result = result
            self._draw(result)
        return True

    def _draw(self, fit: SaddleFit) -> None:
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
