"""The saddle-point fit of a staircase, updated as the points arrive (a grid's or an adaptive run's, in any order).

:class:`OnlineSaddleFit` keeps the points; :meth:`OnlineSaddleFit.update` fits the saddle-point model
(:func:`qpclab.analysis.saddle_fit.saddle_model_G0`) to the points averaged in at most ``bins`` equal gate bins,
so an update costs about the same at 100 and at 1,000,000 points. The first fit starts from the first two
crossings of 0.5 and 1.5 G0 (pinch-off and spacing; width a quarter of the spacing) and may iterate longer; later
updates start from the previous fit and take a few iterations. Uncertainties are one standard deviation from the
Jacobian and the residuals of the binned points. Voltages only: the width includes the thermal smearing (give energies
after bias spectroscopy, with the lever arm, through the full fit).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

from .io import AnalysisError, Value
from .saddle_fit import SaddleFit, saddle_model_G0

__all__ = ["OnlineSaddleFit", "fit_scattered_staircase"]


class OnlineSaddleFit:
    """A saddle-point fit of G/G0 against gate voltage (V), updated as points are added."""

    def __init__(self, temperature_K: float, bins: int = 200, iterations: int = 15):
        self.temperature_K, self.bins, self.iterations = float(temperature_K), int(bins), int(iterations)
        self._x = np.empty(1024)
        self._y = np.empty(1024)
        self.n = 0
        self.fit: SaddleFit | None = None

    def add(self, gate_V: float, g_G0: float) -> None:
        if not (math.isfinite(gate_V) and math.isfinite(g_G0)):
            return
        if self.n == self._x.size:
            self._x = np.concatenate([self._x, np.empty(self.n)])
            self._y = np.concatenate([self._y, np.empty(self.n)])
        self._x[self.n], self._y[self.n] = gate_V, g_G0
        self.n += 1

    def binned(self) -> tuple[np.ndarray, np.ndarray]:
        """The points averaged in at most ``bins`` equal gate bins (empty bins left out), sorted by gate."""
        x, y = self._x[:self.n], self._y[:self.n]
        if self.n <= self.bins:
            order = np.argsort(x)
            return x[order], y[order]
        lo, hi = float(x.min()), float(x.max())
        index = np.minimum(((x - lo) / (hi - lo) * self.bins).astype(int), self.bins - 1)
        count = np.bincount(index, minlength=self.bins)
        keep = count > 0
        return (np.bincount(index, x, self.bins)[keep] / count[keep],
                np.bincount(index, y, self.bins)[keep] / count[keep])

    def update(self) -> SaddleFit | None:
        """Fit the points so far; None (and the last fit kept) while the data cannot be fitted yet."""
        x, y = self.binned()
        if self.fit is not None:
            start = (self.fit.v_pinch.value, self.fit.spacing_V.value, self.fit.width_V.value)
            iterations = self.iterations
        else:
            crossings = [_first_crossing(x, y, level) for level in (0.5, 1.5)]
            if None in crossings or not crossings[1] > crossings[0]:
                return None  # not two risers yet
            spacing = crossings[1] - crossings[0]
            start, iterations = (crossings[0], spacing, 0.25 * spacing), 10 * self.iterations
        n_modes = int(math.ceil((x.max() - start[0]) / start[1]) + 3)
        above = x >= start[0] - 0.6 * start[1]
        xf, yf = x[above], y[above]
        if xf.size < 6:
            return None

        def resid(q):
            return saddle_model_G0(xf, q[0], math.exp(q[1]), math.exp(q[2]), 1.0, 0.0, n_modes) - yf

        q0 = [start[0], math.log(start[1]), math.log(start[2])]
        res = least_squares(resid, q0, x_scale="jac", max_nfev=iterations)
        dof = max(1, xf.size - 3)
        rms = float(np.sqrt(np.mean(res.fun ** 2)))
        try:
            cov = np.linalg.inv(res.jac.T @ res.jac) * float(res.fun @ res.fun) / dof
        except np.linalg.LinAlgError:
            return None
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
        vp, spacing, width = res.x[0], math.exp(res.x[1]), math.exp(res.x[2])
        self.fit = SaddleFit(v_pinch=Value(vp, err[0], "V"), spacing_V=Value(spacing, spacing * err[1], "V"),
                             width_V=Value(width, width * err[2], "V"), temperature_K=0.0, lever=None, hw_x_eV=None,
                             hw_y_eV=None, rms_residual_G0=rms, n_points=self.n,
                             notes=[f"online fit: {xf.size} bins of {self.n} points"])
        return self.fit


def fit_scattered_staircase(gate_V, g_G0) -> SaddleFit:
    """The saddle-point fit (voltages) of a staircase sampled anywhere, e.g. an adaptive run's points: every point
    in the fit (no bins up to 100,000 points), started from the crossings of 0.5 and 1.5 G0 as in the online fit.
    :func:`qpclab.analysis.saddle_fit.fit_saddle_staircase` starts from transconductance peaks, which want a
    uniform grid.

    Raises:
        AnalysisError: fewer than two risers (no crossing of 0.5 and 1.5 G0) or too few points above pinch-off."""
    fit = OnlineSaddleFit(0.0, bins=100_000)
    for x, y in zip(np.asarray(gate_V, dtype=float), np.asarray(g_G0, dtype=float)):
        fit.add(float(x), float(y))
    result = fit.update() if fit.n >= 6 else None
    if result is None:
        raise AnalysisError(f"saddle fit: {fit.n} points with fewer than two risers (G crossing 0.5 and 1.5 G0) "
                            "or too few points above pinch-off")
    return result


def _first_crossing(x: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """The gate voltage where the sorted trace first rises through ``level`` (linear interpolation), or None."""
    up = np.flatnonzero((y[:-1] < level) & (y[1:] >= level))
    if up.size == 0:
        return None
    i = up[0]
    return float(x[i] + (level - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))
