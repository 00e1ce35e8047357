"""Plateau finding on a conductance staircase: position, width, mean value, flatness, distance from the integer.

A plateau is a run of gate voltages where the smoothed transconductance stays below a fraction of the steepest
riser, long enough to be more than noise, above the pinched-off region. Its value is assigned to the nearest
multiple of ``unit`` (1 for G0 steps; 0.5 for spin-resolved e^2/h steps; 2 for valley-degenerate 4e^2/h).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conductance import clean_trace, require_quiet, transconductance
from .io import AnalysisError

__all__ = ["Plateau", "find_plateaus", "step_positions"]


@dataclass(frozen=True)
class Plateau:
    """One plateau of a staircase (conductances in units of G0, voltages in V).

    Attributes:
        index: the plateau's nominal value in G0 (an integer multiple of ``unit``).
        start_V, stop_V, center_V, width_V: gate range of the plateau.
        mean_G0: mean conductance on it; std_G0: its standard deviation (noise plus ripple).
        slope_G0_per_V: fitted slope on the plateau (flatness); rise_G0: slope times width.
        deviation_G0: mean_G0 - index (how far it sits from its integer).
        n_points: number of points on it.
    """

    index: float
    start_V: float
    stop_V: float
    mean_G0: float
    std_G0: float
    slope_G0_per_V: float
    n_points: int

    @property
    def center_V(self) -> float:
        return 0.5 * (self.start_V + self.stop_V)

    @property
    def width_V(self) -> float:
        return self.stop_V - self.start_V

    @property
    def deviation_G0(self) -> float:
        return self.mean_G0 - self.index

    @property
    def rise_G0(self) -> float:
        return self.slope_G0_per_V * self.width_V


def _runs(mask: np.ndarray):
    """(start, stop) index pairs (stop exclusive) of the True runs in a boolean array."""
    m = np.concatenate([[False], mask, [False]]).astype(int)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _stats(xs, ys):
    """(mean, std, slope) over the central 60 % of a plateau (its edges carry the tails of the risers)."""
    n = xs.size
    k = int(0.2 * n)
    if n - 2 * k >= 3:
        xs, ys = xs[k:n - k], ys[k:n - k]
    slope = float(np.polyfit(xs, ys, 1)[0]) if xs.size >= 3 else 0.0
    return float(np.mean(ys)), float(np.std(ys, ddof=1)) if ys.size > 1 else 0.0, slope


def find_plateaus(gate_V, g_G0, *, unit: float = 1.0, slope_fraction: float = 0.12, min_points: int = 5,
                  min_value: float | None = None, window_V: float | None = None,
                  max_deviation: float = 0.35) -> list[Plateau]:
    """Find the plateaus of a staircase G/G0(Vg).

    Args:
        gate_V, g_G0: the trace (any order; repeated gate values are averaged; NaNs dropped).
        unit: plateau spacing in G0 (1, 0.5 or 2).
        slope_fraction: a point belongs to a plateau where |dG/dVg| < slope_fraction * max |dG/dVg|.
        min_points: shortest plateau (points).
        min_value: ignore flat regions below this G/G0 (default 0.6 * unit: the pinched-off region is no plateau).
        window_V: smoothing window for the transconductance (default 5 points).
        max_deviation: flat regions further than this (in units of ``unit``) from a multiple of ``unit`` are not
            reported as plateaus (a half-plateau at finite bias, a resonance).

    Raises:
        AnalysisError: too few points, no conductance above the pinched-off region, or no plateau.
    """
    x, y = clean_trace(gate_V, g_G0, "plateau finding", min_points=max(10, 2 * min_points))
    if min_value is None:
        min_value = 0.6 * unit
    if np.nanmax(y) < min_value:
        raise AnalysisError(f"plateau finding: the trace stays below {min_value:g} G0 (max {np.nanmax(y):.3g} G0): "
                            f"pinched off, no plateau")
    require_quiet(y, 0.1 * unit, "plateau finding")
    if window_V is None:
        window_V = 5 * float(np.median(np.diff(x)))  # 5 points: short enough for coarse sweeps (~10 per plateau)
    gx, d = transconductance(x, y, window_V)
    dmax = np.max(np.abs(d))
    if not dmax > 0:
        raise AnalysisError("plateau finding: the trace is constant: no steps, no plateaus")
    # the noise floor of the derivative: if it rivals the steepest riser the trace is too noisy to tell
    flat = np.abs(d) < slope_fraction * dmax
    plateaus: list[Plateau] = []
    for i0, i1 in _runs(flat):
        if i1 - i0 < min_points:
            continue
        xs, ys = x[i0:i1], y[i0:i1]
        mean = float(np.mean(ys))
        if mean < min_value:
            continue
        n = round(mean / unit) * unit
        if n <= 0 or abs(mean - n) > max_deviation * unit:
            continue
        mean, std, slope = _stats(xs, ys)
        plateaus.append(Plateau(index=float(n), start_V=float(xs[0]), stop_V=float(xs[-1]), mean_G0=mean,
                                std_G0=std, slope_G0_per_V=slope, n_points=int(i1 - i0)))
    # two flat stretches with the same index (split by a noise spike): keep them merged
    merged: list[Plateau] = []
    for p in plateaus:
        if merged and merged[-1].index == p.index:
            q = merged[-1]
            m = (x >= q.start_V) & (x <= p.stop_V)
            xs, ys = x[m], y[m]
            mean, std, slope = _stats(xs, ys)
            merged[-1] = Plateau(index=q.index, start_V=q.start_V, stop_V=p.stop_V, mean_G0=mean, std_G0=std,
                                 slope_G0_per_V=slope, n_points=int(m.sum()))
        else:
            merged.append(p)
    if not merged:
        raise AnalysisError(f"plateau finding: no plateau (no flat stretch of >= {min_points} points near a "
                            f"multiple of {unit:g} G0 above {min_value:g} G0)")
    return merged


def step_positions(gate_V, g_G0, *, window_V: float | None = None, min_height_fraction: float = 0.3,
                   min_separation_V: float | None = None) -> np.ndarray:
    """Gate voltages (V) of the risers: local maxima of dG/dVg above ``min_height_fraction`` of the largest.

    Peak positions are refined by a parabola through the three highest points.
    """
    x, d = transconductance(*clean_trace(gate_V, g_G0, "step positions"), window_V)
    return peak_positions(x, d, min_height_fraction=min_height_fraction, min_separation=min_separation_V)


def peak_positions(x, y, *, min_height_fraction: float = 0.3, min_height: float | None = None,
                   min_separation: float | None = None) -> np.ndarray:
    """Positions of the local maxima of y(x) (sorted x) above a threshold, parabola-refined."""
    from scipy.signal import find_peaks

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 3 or not np.any(np.isfinite(y)):
        return np.array([])
    top = np.nanmax(y)
    height = min_height if min_height is not None else min_height_fraction * top
    if not top > 0 or not np.isfinite(top):
        return np.array([])
    dist = None
    if min_separation is not None:
        dist = max(1, int(min_separation / np.median(np.diff(x))))
    idx, _ = find_peaks(np.nan_to_num(y, nan=-np.inf), height=height, distance=dist, prominence=0.5 * height)
    out = []
    for i in idx:
        if 0 < i < x.size - 1:
            y0, y1, y2 = y[i - 1], y[i], y[i + 1]
            den = y0 - 2 * y1 + y2
            shift = 0.5 * (y0 - y2) / den if den < 0 else 0.0
            shift = float(np.clip(shift, -0.5, 0.5))
            out.append(x[i] + shift * 0.5 * (x[i + 1] - x[i - 1]))
        else:
            out.append(x[i])
    return np.array(out)
