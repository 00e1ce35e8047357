"""Raw lock-in readings to conductance (through the run's :class:`MeasurementCircuit`), transconductance, QPC bias.

Every conversion goes through :mod:`qpclab.analysis.circuit`: the one description of the wiring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from .circuit import MeasurementCircuit
from .constants import G0
from .io import AnalysisError, Run, require_columns

__all__ = ["add_conductance", "conductance_G0_from_run", "transconductance", "average_sweeps", "qpc_bias_V",
           "clean_trace", "trace_noise", "require_quiet"]


def add_conductance(df: pd.DataFrame, circuit: MeasurementCircuit, excitation_V: float) -> pd.DataFrame:
    """Copy of ``df`` with ``"G (S)"`` and ``"G/G0"`` recomputed from the in-phase reading ``"X (V)"``.

    The series resistance is subtracted (``circuit.conductance_S``); readings at or beyond the series-resistance
    limit become NaN.
    """
    require_columns(df, ["X (V)"], "conductance")
    if not (np.isfinite(excitation_V) and excitation_V > 0):
        raise AnalysisError(f"lock-in sine output {excitation_V!r} V: must be a positive number")
    out = df.copy()
    g = circuit.conductance_S(out["X (V)"].to_numpy(dtype=float), excitation_V)
    out["G (S)"] = g
    out["G/G0"] = g / G0
    return out


def conductance_G0_from_run(run: Run) -> pd.DataFrame:
    """The run's data with G recomputed from X using the circuit and sine output recorded with it."""
    return add_conductance(run.data, run.require_circuit(), run.excitation_V)


def clean_trace(x, y, what: str = "trace", min_points: int = 10):
    """Finite (x, y) pairs sorted by x, repeated x averaged. Refuses too few finite points."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise AnalysisError(f"{what}: x and y differ in length ({x.size} vs {y.size})")
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < min_points:
        raise AnalysisError(f"{what}: only {int(ok.sum())} finite points (need at least {min_points}); "
                            f"{int((~ok).sum())} NaN/inf values")
    x, y = x[ok], y[ok]
    ux, inv = np.unique(x, return_inverse=True)
    if ux.size < x.size:
        y = np.bincount(inv, weights=y) / np.bincount(inv)
        x = ux
    else:
        order = np.argsort(x)
        x, y = x[order], y[order]
    if ux.size < min_points:
        raise AnalysisError(f"{what}: only {ux.size} distinct x values (need at least {min_points})")
    return x, y


def average_sweeps(df: pd.DataFrame, x: str = "Gate (V)", y: str = "G/G0") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) averaged over sweeps (up, down, repeats) at equal x, sorted by x."""
    require_columns(df, [x, y], "average_sweeps")
    return clean_trace(df[x].to_numpy(dtype=float), df[y].to_numpy(dtype=float), f"{y} against {x}")


def transconductance(gate_V, g, window_V: float | None = None, polyorder: int = 2):
    """dG/dVg (units of g per V) on a sorted, uniform-or-not gate axis, Savitzky-Golay smoothed.

    ``window_V``: smoothing window in gate volts (default: 7 points). Returns (gate_V, dgdv) with the same
    (sorted, averaged) gate values.
    """
    x, y = clean_trace(gate_V, g, "transconductance", min_points=polyorder + 3)
    step = np.median(np.diff(x))
    if window_V is None:
        n = 7
    else:
        n = int(round(window_V / step))
    n = max(polyorder + 2, n)
    if n % 2 == 0:
        n += 1
    n = min(n, x.size - (1 - x.size % 2))
    # resample to a uniform grid (Savitzky-Golay needs one), then back
    xu = np.linspace(x[0], x[-1], x.size)
    yu = np.interp(xu, x, y)
    d = savgol_filter(yu, n, polyorder, deriv=1, delta=xu[1] - xu[0])
    return x, np.interp(x, xu, d)


def qpc_bias_V(source_V, conductance_S, circuit: MeasurementCircuit) -> np.ndarray:
    """DC voltage across the QPC (V) along one bias sweep at fixed gates.

    The source voltage (V) becomes ``bias_divider * V_source`` across R_series + QPC; the measured differential
    conductance g = dI/dV_qpc (series resistance already subtracted) gives dV_qpc/dV_applied = 1/(1 + g R_s),
    integrated from zero bias (trapezoid rule). Exact for any I-V, given the measured g.
    """
    vs = np.asarray(source_V, dtype=float)
    g = np.asarray(conductance_S, dtype=float)
    v_app = circuit.sample_bias_V(vs)
    order = np.argsort(v_app)
    va, gg = v_app[order], g[order]
    if not np.all(np.isfinite(gg)):
        good = np.isfinite(gg)
        if good.sum() < 2:
            raise AnalysisError("qpc bias: fewer than two finite conductance values along the bias sweep")
        gg = np.interp(va, va[good], gg[good])
    dv = 1.0 / (1.0 + gg * circuit.series_resistance_ohm)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (dv[1:] + dv[:-1]) * np.diff(va))])
    zero = np.interp(0.0, va, cum) if va[0] <= 0 <= va[-1] else np.interp(va[0], va, cum) - va[0] * dv[0]
    out = np.empty_like(va)
    out[order] = cum - zero
    return out


def trace_noise(y) -> float:
    """Point-to-point noise (rms) of a smooth trace: robust scatter of its second differences / sqrt(6)."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 5:
        return float("nan")
    return float(1.4826 * np.median(np.abs(np.diff(y, 2))) / np.sqrt(6.0))


def require_quiet(y, limit_G0: float, what: str) -> float:
    """Refuse a trace whose point-to-point noise exceeds ``limit_G0``; return the noise."""
    n = trace_noise(y)
    if not n <= limit_G0:
        raise AnalysisError(f"{what}: the trace is too noisy (point-to-point scatter {n:.3g} G0 > {limit_G0:g} G0): "
                            f"no reliable fit possible; average longer or repeat the sweep")
    return n
