"""Fits that follow a measurement as its points arrive (a grid's or an adaptive run's, in any order): the
saddle-point fit of a staircase (:class:`OnlineSaddleFit`) and the diamonds of a bias map (:class:`OnlineDiamonds`).

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
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .circuit import MeasurementCircuit
from .constants import G0
from .io import AnalysisError, Value
from .saddle_fit import SaddleFit, saddle_model_G0

__all__ = ["OnlineSaddleFit", "fit_scattered_staircase", "OnlineDiamonds", "DiamondEstimate"]


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


@dataclass(frozen=True)
class DiamondEstimate:
    """The online estimate of a bias map's diamonds: the gate lever arm (eV/V), the subband spacing (eV) and the
    gate-voltage spacing of the risers at zero bias (V), from ``splits`` riser splittings in ``n_points`` points."""

    lever_eV_per_V: float
    spacing_eV: float
    gate_spacing_V: float
    splits: int
    n_points: int

    def text(self) -> str:
        return (f"lever arm {self.lever_eV_per_V:.4g} eV/V, subband spacing {self.spacing_eV * 1e3:.3g} meV "
                f"(risers {self.gate_spacing_V * 1e3:.3g} mV apart; {self.splits} splittings, {self.n_points} points)")


class OnlineDiamonds:
    """The diamonds of a gate x bias map (G/G0 against gate and source bias, V) estimated as the points arrive, in
    any order and on any grid (an adaptive map's rows too): cheap enough to update at every refresh of a window.

    Each bias row's risers are the maxima of dG/dVg between its points. The zero-bias row gives the risers'
    positions V_n; at a bias the QPC sees V_qpc, each riser splits into two branches ``e V_qpc / alpha`` apart,
    whatever the bias asymmetry. V_qpc is the source bias after the ``circuit``'s divider, less the drop on its
    series resistance at the conductance between the branches (the full analysis integrates dI/dV along the bias
    instead: :func:`qpclab.analysis.bias_spectroscopy.fit_bias_spectroscopy`). The lever arm is the least-squares
    slope of V_qpc against the splittings; the subband spacing is alpha times the risers' spacing (a line through the
zero-bias risers). A split counts
    between a fifth and nine tenths of the risers' spacing (resolved, and before the branches of neighbouring risers
    meet)."""

    def __init__(self, circuit: MeasurementCircuit):
        self.divider, self.series_ohm = circuit.bias_divider, circuit.series_resistance_ohm
        self._points = np.empty((1024, 3))
        self.n = 0
        self.estimate: DiamondEstimate | None = None

    def add(self, gate_V: float, bias_V: float, g_G0: float) -> None:
        if not (math.isfinite(gate_V) and math.isfinite(bias_V) and math.isfinite(g_G0)):
            return
        if self.n == self._points.shape[0]:
            self._points = np.concatenate([self._points, np.empty_like(self._points)])
        self._points[self.n] = gate_V, bias_V, g_G0
        self.n += 1

    def update(self) -> DiamondEstimate | None:
        """The estimate from the points so far; None (the last one kept) until a zero-bias row shows two risers
        and a finite-bias row shows them split."""
        p = self._points[:self.n]
        keys = np.round(p[:, 1], 9)
        order = np.lexsort((p[:, 0], keys))
        x, keys, g = p[order, 0], keys[order], p[order, 2]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        rows = [(keys[a], x[a:b], g[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, keys.size]) if b - a >= 5]
        if not rows:
            return None
        zero = min(rows, key=lambda r: abs(r[0]))
        risers = _riser_peaks(zero[1], zero[2])
        risers = risers[np.interp(risers, zero[1], zero[2]) > 0.2]
        if risers.size < 2:
            return None
        index = np.round((risers - risers[0]) / np.median(np.diff(risers)))
        spacing = float(np.polyfit(index, risers, 1)[0]) if index[-1] > 0 else 0.0  # one line through all risers
        if not spacing > 0:
            return None
        v_qpc, split = [], []
        for bias, xs, gs in rows:
            if bias == zero[0]:
                continue
            peaks = _riser_peaks(xs, gs)
            for v in risers:
                left, right = peaks[(peaks < v) & (peaks > v - spacing)], peaks[(peaks > v) & (peaks < v + spacing)]
                if not (left.size and right.size):
                    continue
                s = float(right[0] - left[-1])
                if 0.2 * spacing <= s <= 0.9 * spacing:
                    g_between = float(np.interp(v, xs, gs)) * G0
                    v_qpc.append(abs(bias) * self.divider / (1.0 + self.series_ohm * g_between))
                    split.append(s)
        if len(split) < 3:
            return None
        s, vq = np.asarray(split), np.asarray(v_qpc)
        lever = float(vq @ s / (s @ s))
        self.estimate = DiamondEstimate(lever, lever * spacing, spacing, len(split), self.n)
        return self.estimate


def _riser_peaks(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The gate voltages of the maxima of dG/dVg of one sorted row above 0.3 of its largest: G interpolated
    linearly onto a uniform grid at the row's finest spacing (an adaptive row's too), differentiated, smoothed over
    three grid steps."""
    x, first = np.unique(x, return_index=True)
    g = g[first]
    if x.size < 5:
        return np.array([])
    step = max(float(np.min(np.diff(x))), (x[-1] - x[0]) / 2000)
    grid = np.arange(x[0], x[-1] + 0.5 * step, step)
    d = np.diff(np.interp(grid, x, g)) / step
    mid = grid[:-1] + 0.5 * step
    if d.size >= 3:
        d = np.convolve(np.r_[d[0], d, d[-1]], [0.25, 0.5, 0.25], mode="valid")
    top = float(np.max(d))
    if not top > 0:
        return np.array([])
    inner = (d[1:-1] >= d[:-2]) & (d[1:-1] > d[2:]) & (d[1:-1] > 0.3 * top)
    return mid[1:-1][inner]
