"""Step centres and plateau values of a staircase sampled anywhere: a uniform grid or an adaptive run's points.

Both work on the points sorted by gate voltage, with no assumption of equal spacing, so a grid and an adaptive run
are judged by the same rule:

- a **step centre** is where the conductance crosses the level halfway between the plateaus on either side of the
  riser (linear interpolation between the two points that straddle it): for a symmetric riser the maximum of the
  transconductance, and unlike a numerical derivative it does not amplify the noise of closely spaced points;
- a **plateau value** is the conductance at a gate voltage, interpolated linearly between the two nearest points.

:func:`plateaus_between_risers` is the plateau finder for points that are not a uniform grid (an adaptive run puts a
few points on each plateau, where :func:`qpclab.analysis.plateaus.find_plateaus` wants flat runs of several).
:func:`staircase_reference` finds the risers of a dense trace (peaks of the smoothed transconductance) and their
levels; :func:`step_centres` and :func:`plateau_values` then measure any other trace of the same device against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .io import AnalysisError
from .plateaus import Plateau, step_positions

__all__ = ["sorted_trace", "step_centres", "plateau_values", "plateau_middles", "StaircaseReference",
           "staircase_reference", "staircase_errors", "grid_points_needed", "level_crossings",
           "plateaus_between_risers"]


def sorted_trace(gate_V, g_G0) -> tuple[np.ndarray, np.ndarray]:
    """The finite points, sorted by gate voltage, repeated gate values averaged."""
    x = np.asarray(gate_V, dtype=float)
    y = np.asarray(g_G0, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        raise AnalysisError(f"{x.size} finite point(s): a staircase needs at least 3")
    xs, inverse = np.unique(x, return_inverse=True)
    ys = np.bincount(inverse, weights=y) / np.bincount(inverse)
    return xs, ys


def plateau_middles(centres) -> np.ndarray:
    """The gate voltages halfway between neighbouring step centres (the plateaus' middles)."""
    c = np.sort(np.asarray(centres, dtype=float))
    return 0.5 * (c[1:] + c[:-1])


def plateau_values(gate_V, g_G0, at) -> np.ndarray:
    """G (G0) at the gate voltages ``at``, interpolated linearly between the nearest points."""
    x, y = sorted_trace(gate_V, g_G0)
    return np.interp(np.asarray(at, dtype=float), x, y)


def step_centres(gate_V, g_G0, levels, near, window_V: float) -> np.ndarray:
    """For each riser (expected near ``near[i]``, V), the gate voltage where G crosses ``levels[i]`` (G0), within
    ``window_V`` of it; the crossing nearest to the expected centre if noise makes several; NaN if none."""
    x, y = sorted_trace(gate_V, g_G0)
    out = []
    for level, c in zip(np.asarray(levels, dtype=float), np.asarray(near, dtype=float)):
        below = y < level
        cross = np.flatnonzero(below[:-1] != below[1:])  # the interval (i, i + 1) straddles the level
        at = x[cross] + (level - y[cross]) * (x[cross + 1] - x[cross]) / (y[cross + 1] - y[cross])
        at = at[np.abs(at - c) <= window_V]
        out.append(at[np.argmin(np.abs(at - c))] if at.size else np.nan)
    return np.array(out, dtype=float)


@dataclass(frozen=True)
class StaircaseReference:
    """A dense trace's risers: ``centres`` (V), the ``levels`` (G0) halfway between the plateaus around each, the
    plateaus' ``middles`` (V) and ``values`` (G0) between neighbouring risers."""

    centres: np.ndarray
    levels: np.ndarray
    middles: np.ndarray
    values: np.ndarray


def staircase_reference(gate_V, g_G0, *, window_V: float = 0.004) -> StaircaseReference:
    """Risers of a dense, uniform trace (peaks of the transconductance smoothed over ``window_V``), the plateaus
    between them and the crossing levels; the centres are then the crossings of those levels (as for any trace)."""
    x, y = sorted_trace(gate_V, g_G0)
    peaks = np.sort(step_positions(x, y, window_V=window_V))
    if peaks.size < 2:
        raise AnalysisError(f"{peaks.size} riser(s) found: a reference staircase needs at least 2")
    middles = plateau_middles(peaks)
    # the plateau before the first riser and after the last one, half a spacing out (within the trace)
    outer = [max(x[0], peaks[0] - (peaks[1] - peaks[0]) / 2), min(x[-1], peaks[-1] + (peaks[-1] - peaks[-2]) / 2)]
    around = np.interp(np.concatenate([[outer[0]], middles, [outer[1]]]), x, y)
    levels = 0.5 * (around[:-1] + around[1:])
    window = 0.5 * float(np.min(np.diff(peaks)))
    centres = step_centres(x, y, levels, peaks, window)
    return StaircaseReference(centres, levels, middles, np.interp(middles, x, y))


def staircase_errors(reference: StaircaseReference, gate_V, g_G0) -> tuple[float, float]:
    """The largest deviation of a trace's step centres (V) and plateau values (G0) from ``reference``; the centre
    error is infinite when a riser is not found within half a riser spacing of the reference's."""
    window = 0.5 * float(np.min(np.diff(np.sort(reference.centres))))
    centres = step_centres(gate_V, g_G0, reference.levels, reference.centres, window)
    centre_error = float(np.max(np.abs(centres - reference.centres))) if np.all(np.isfinite(centres)) else np.inf
    return centre_error, float(np.max(np.abs(plateau_values(gate_V, g_G0, reference.middles) - reference.values)))


def grid_points_needed(gate_V, g_G0, reference: StaircaseReference, centre_tol_V: float,
                       plateau_tol_G0: float) -> int:
    """The fewest points a uniform grid needs to meet both tolerances: grids are every k-th point of the dense,
    uniform trace ``gate_V`` (in measured order, from its first point); the answer is the coarsest grid that meets
    them with every finer one meeting them too."""
    x = np.asarray(gate_V, dtype=float)
    y = np.asarray(g_G0, dtype=float)
    needed = x.size
    for k in range(2, x.size // 3):
        centre, plateau = staircase_errors(reference, x[::k], y[::k])
        if not (centre <= centre_tol_V and plateau <= plateau_tol_G0):
            break
        needed = x[::k].size
    return needed


def level_crossings(gate_V, g_G0, level: float) -> np.ndarray:
    """The gate voltages where the sorted trace crosses ``level`` (G0), up or down, interpolated linearly."""
    x, y = sorted_trace(gate_V, g_G0)
    below = y < level
    i = np.flatnonzero(below[:-1] != below[1:])
    return x[i] + (level - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i])


def plateaus_between_risers(gate_V, g_G0, *, unit: float = 1.0) -> list[Plateau]:
    """The plateaus of a staircase sampled anywhere (no flat runs of points needed): riser k is where G crosses
    (k + 1/2) ``unit`` (the mean of its crossings, if noise makes several); plateau k lies between risers k - 1 and
    k, and its statistics come from the points in the middle third between them (the risers' tails left out: the
    0.7 structure's reaches a quarter of the spacing into the plateau above), or
    from G interpolated at its middle if no point lies there. The plateau after the last riser is reported when the
    trace goes on for at least half a riser spacing past it (its middle third as far as the trace goes).

    Raises:
        AnalysisError: fewer than 3 points, or fewer than two risers (no plateau between risers).
    """
    x, y = sorted_trace(gate_V, g_G0)
    top = int(np.floor(np.max(y) / unit - 0.5))
    centres = []
    for k in range(top + 1):
        at = level_crossings(x, y, (k + 0.5) * unit)
        if at.size:
            centres.append((k, float(np.mean(at))))
    if len(centres) < 2:
        raise AnalysisError(f"plateau finding: {len(centres)} riser(s) (crossings of (k + 1/2) x {unit:g} G0): a "
                            f"plateau between risers needs at least two")
    bounds = [(k + 1, a, b) for (k, a), (_, b) in zip(centres, centres[1:])]
    last_k, last = centres[-1]
    spacing = last - centres[-2][1]
    if x[-1] - last >= 0.5 * spacing:
        bounds.append((last_k + 1, last, last + spacing))
    out = []
    for k, a, b in bounds:
        lo, hi = a + (b - a) / 3, min(x[-1], b - (b - a) / 3)  # the last plateau: as far as the trace goes
        inside = (x >= lo) & (x <= hi)
        xs, ys = x[inside], y[inside]
        if xs.size == 0:
            xs, ys = np.array([0.5 * (lo + hi)]), np.interp([0.5 * (lo + hi)], x, y)
        slope = float(np.polyfit(xs, ys, 1)[0]) if xs.size >= 3 else 0.0
        out.append(Plateau(index=k * unit, start_V=float(lo), stop_V=float(hi), mean_G0=float(np.mean(ys)),
                           std_G0=float(np.std(ys, ddof=1)) if ys.size > 1 else 0.0, slope_G0_per_V=slope,
                           n_points=int(inside.sum())))
    return out
