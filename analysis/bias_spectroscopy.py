"""Bias spectroscopy: subband spacings and the gate lever arm from the diamonds of a gate x bias map of dI/dV.

At a DC bias V across the QPC each riser n (at Vg = V_n at zero bias) splits into two: one per lead chemical
potential, at ``Vg = V_n - a e V / alpha`` and ``Vg = V_n + (1 - a) e V / alpha`` (a: how the bias divides
between the leads). The two branches of a riser separate by ``e V / alpha`` whatever a is: the lever arm is
``alpha = e / (c_+ - c_-)`` from the slopes ``c_+-`` of the branches in the (V_qpc, Vg) plane. Branches of
neighbouring risers cross where ``e V = hbar omega_y``: the diamonds; the subband spacings are
``alpha (V_{n+1} - V_n)``.

Steps: G from the lock-in X through the circuit; the bias across the QPC itself (source times divider, less the
drop on the series resistance, integrated from the measured dI/dV along each bias sweep); the transconductance
peaks of every bias row; an initial lever arm from a grid search that lines the peaks up with the branches; then
one linear least-squares fit of all assigned peaks for V_n, c_+ and c_-.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .circuit import MeasurementCircuit
from .conductance import add_conductance, qpc_bias_V, transconductance
from .io import AnalysisError, Value, require_columns
from .plateaus import peak_positions

__all__ = ["BiasSpectroscopy", "fit_bias_spectroscopy", "map_with_qpc_bias", "transconductance_map"]


@dataclass
class BiasSpectroscopy:
    """Result of :func:`fit_bias_spectroscopy` (V, eV, eV/V)."""

    lever: Value  #: gate lever arm alpha, eV/V
    step_positions_V: list[Value]  #: zero-bias riser positions V_n
    subband_spacings_eV: list[Value]  #: alpha (V_{n+1} - V_n)
    bias_asymmetry: Value  #: a: fraction of the bias on the source side (0.5 = symmetric)
    n_peaks_used: int
    rms_residual_V: float
    notes: list[str] = field(default_factory=list)

    @property
    def mean_spacing_eV(self) -> Value:
        v = np.array([s.value for s in self.subband_spacings_eV])
        e = np.array([s.stderr for s in self.subband_spacings_eV])
        return Value(float(v.mean()), float(math.sqrt(np.sum(e**2)) / v.size), "eV")

    def text(self) -> str:
        lines = ["Bias spectroscopy (diamonds):",
                 f"  lever arm alpha      = {self.lever.format(unit='eV/V')}",
                 f"  bias asymmetry a     = {self.bias_asymmetry.format()}"]
        for n, s in enumerate(self.subband_spacings_eV):
            lines.append(f"  spacing E{n + 1}-E{n}      = {s.format(1e3, 'meV')}")
        lines.append(f"  ({self.n_peaks_used} transconductance peaks, rms residual {self.rms_residual_V * 1e3:.3g} mV)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def map_with_qpc_bias(df: pd.DataFrame, circuit: MeasurementCircuit, excitation_V: float,
                      gate: str = "Gate (V)", bias: str = "Bias (V)") -> pd.DataFrame:
    """Copy of a gate x bias map with G recomputed from X and a ``"V_qpc (V)"`` column (bias across the QPC)."""
    require_columns(df, [gate, bias, "X (V)"], "bias map")
    out = add_conductance(df, circuit, excitation_V)
    out = out[np.isfinite(out[gate]) & np.isfinite(out[bias])].copy()
    out["V_qpc (V)"] = np.nan
    keys = np.round(out[gate].to_numpy(dtype=float), 12)
    for k in np.unique(keys):
        idx = np.flatnonzero(keys == k)
        sub = out.iloc[idx]
        if sub["G (S)"].notna().sum() < 2:
            continue
        out.iloc[idx, out.columns.get_loc("V_qpc (V)")] = qpc_bias_V(sub[bias].to_numpy(float),
                                                                     sub["G (S)"].to_numpy(float), circuit)
    return out


def transconductance_map(df: pd.DataFrame, row: str, gate: str = "Gate (V)", g: str = "G/G0"):
    """(row values, gate grid, dG/dVg array [rows, gates]) of a map, each row differentiated along the gate."""
    rows = np.unique(np.round(df[row].to_numpy(dtype=float), 12))
    gates = np.unique(np.round(df[gate].to_numpy(dtype=float), 12))
    out = np.full((rows.size, gates.size), np.nan)
    rk = np.round(df[row].to_numpy(dtype=float), 12)
    for i, r in enumerate(rows):
        sub = df[rk == r]
        ok = np.isfinite(sub[g].to_numpy(float)) & np.isfinite(sub[gate].to_numpy(float))
        if ok.sum() < 10:
            continue
        x, d = transconductance(sub[gate].to_numpy(float)[ok], sub[g].to_numpy(float)[ok])
        out[i] = np.interp(gates, x, d, left=np.nan, right=np.nan)
    return rows, gates, out


def _row_peaks(df: pd.DataFrame, gate: str, bias: str):
    """All transconductance peaks: arrays (Vg, V_qpc, source bias) over the bias rows."""
    pts = []
    rk = np.round(df[bias].to_numpy(dtype=float), 12)
    for r in np.unique(rk):
        sub = df[rk == r]
        ok = np.isfinite(sub["G/G0"].to_numpy(float)) & np.isfinite(sub["V_qpc (V)"].to_numpy(float))
        if ok.sum() < 10:
            continue
        xg = sub[gate].to_numpy(float)[ok]
        order = np.argsort(xg)
        xg = xg[order]
        gg = sub["G/G0"].to_numpy(float)[ok][order]
        vq = sub["V_qpc (V)"].to_numpy(float)[ok][order]
        x, d = transconductance(xg, gg)
        for p in peak_positions(x, d, min_height_fraction=0.1):
            pts.append((p, float(np.interp(p, xg, vq)), r))
    if not pts:
        raise AnalysisError("bias spectroscopy: no transconductance peaks in the map (pinched off or flat)")
    a = np.array(pts)
    return a[:, 0], a[:, 1], a[:, 2]


def fit_bias_spectroscopy(df: pd.DataFrame, circuit: MeasurementCircuit, excitation_V: float, *,
                          gate: str = "Gate (V)", bias: str = "Bias (V)",
                          lever_range_eV_per_V=(1e-3, 0.5)) -> BiasSpectroscopy:
    """Lever arm and subband spacings from a gate x bias map (columns of the bias-map procedure).

    Raises:
        AnalysisError: missing columns, no zero-bias row, fewer than two risers, split branches not resolved.
    """
    m = map_with_qpc_bias(df, circuit, excitation_V, gate, bias)
    vg, vq, src = _row_peaks(m, gate, bias)
    rows = np.unique(np.round(m[bias].to_numpy(float), 12))
    z = rows[np.argmin(np.abs(rows))]
    max_vq = float(np.nanmax(np.abs(m["V_qpc (V)"])))
    if not max_vq > 0:
        raise AnalysisError("bias spectroscopy: the map has no finite bias across the QPC")
    if abs(z) * circuit.bias_divider > 0.05 * max_vq:
        raise AnalysisError("bias spectroscopy: no row near zero bias to locate the risers")
    v0 = np.sort(vg[np.round(src, 12) == z])
    zsub = m[np.round(m[bias].to_numpy(float), 12) == z]
    g0 = np.interp(v0, np.sort(zsub[gate].to_numpy(float)), zsub["G/G0"].to_numpy(float)[np.argsort(zsub[gate].to_numpy(float))])
    v0 = v0[g0 > 0.2]
    if v0.size < 2:
        raise AnalysisError(f"bias spectroscopy: {v0.size} riser(s) at zero bias; spacings need at least two")
    spacing = float(np.min(np.diff(v0)))
    tol = 0.12 * spacing
    finite = (np.abs(vq) > 0) & np.isfinite(vq)
    vgp, vqp = vg[finite], vq[finite]
    # grid search for the lever arm and the bias asymmetry a (branches at -a eV/alpha and (1 - a) eV/alpha).
    # Score: peaks that lie on a predicted branch, less half the predicted (resolved, in-range) branch positions
    # with no peak: a wrong, steep branch crosses the map and misses the peaks of most rows.
    gmin, gmax = float(m[gate].min()) + tol, float(m[gate].max()) - tol
    levs = np.geomspace(*lever_range_eV_per_V, 600)
    srcp = src[finite]
    rows_v = [(vqp[srcp == r], vgp[srcp == r]) for r in np.unique(srcp)]  # per bias row: (V_qpc, Vg) of its peaks
    best = None
    for a in (0.5, 0.35, 0.65, 0.2, 0.8, 0.0, 1.0):
        fr = np.array([-a, 1.0 - a])
        score = np.zeros(levs.size)
        for vks, peaks in rows_v:
            # hits: each peak against every branch at the peak's own V_qpc
            shift = fr[None, None, :, None] * (vks[None, None, None, :] / levs[:, None, None, None])
            d = np.abs(v0[None, :, None, None] + shift - peaks[None, None, None, :]).reshape(levs.size, -1, peaks.size)
            res_k = np.abs(vks)[None, :] / levs[:, None] > 2 * tol  # (L, k)
            hit_peak = (d.min(axis=1) < tol) & res_k
            # misses: branch positions (at the row's median V_qpc) inside the map with no peak near
            v = float(np.median(vks))
            resolved = (np.abs(v) / levs > 2 * tol)[:, None]
            pred = (v0[None, :, None] + fr[None, None, :] * (v / levs)[:, None, None]).reshape(levs.size, -1)
            inside = (pred > gmin) & (pred < gmax) & resolved
            near = np.abs(pred[:, :, None] - peaks[None, None, :]).min(axis=2) < tol
            score += hit_peak.sum(axis=1) - 0.5 * (inside & ~near).sum(axis=1)
        i = int(np.argmax(score))
        if best is None or score[i] > best[0]:
            best = (float(score[i]), float(levs[i]), a)
    if best is None or best[0] < 4:
        raise AnalysisError("bias spectroscopy: the split branches of the risers are not resolved in the map "
                            "(bias range too small or too few rows)")
    lev0, a0 = best[1], best[2]
    # assign each peak to (riser n, branch s); skip unresolved or ambiguous ones
    rows_a, rhs = [], []
    n_r = v0.size
    for x, v in zip(vgp, vqp):
        if abs(v) / lev0 < 2 * tol:
            continue
        cand = []
        for n in range(n_r):
            for s, frac in ((0, -a0), (1, 1.0 - a0)):
                cand.append((abs(x - (v0[n] + frac * v / lev0)), n, s))
        cand.sort()
        if cand[0][0] > tol or (len(cand) > 1 and cand[1][0] < 2 * tol):
            continue
        _, n, s = cand[0]
        row = np.zeros(n_r + 2)
        row[n] = 1.0
        row[n_r + s] = v
        rows_a.append(row)
        rhs.append(x)
    for n, x in enumerate(v0):  # zero-bias risers
        row = np.zeros(n_r + 2)
        row[n] = 1.0
        rows_a.append(row)
        rhs.append(x)
    A = np.array(rows_a)
    b = np.array(rhs)
    used = A[:, n_r:].any(axis=1)
    for s in (0, 1):
        if np.count_nonzero(A[:, n_r + s]) < 3:
            raise AnalysisError("bias spectroscopy: too few peaks on the split branches to fit their slopes")
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    res = b - A @ sol
    dof = max(1, b.size - sol.size)
    s2 = float(res @ res) / dof
    cov = np.linalg.inv(A.T @ A) * s2
    cm, cp = sol[n_r], sol[n_r + 1]
    diff = cp - cm
    if not diff > 0:
        raise AnalysisError("bias spectroscopy: the fitted branches do not open with bias (c+ <= c-)")
    var_diff = cov[n_r, n_r] + cov[n_r + 1, n_r + 1] - 2 * cov[n_r, n_r + 1]
    lever = Value(1.0 / diff, math.sqrt(var_diff) / diff**2, "eV/V")
    asym = -cm / diff
    # d(asym)/d(cm) = -cp/diff^2 ... propagate
    jac = np.array([-cp / diff**2, cm / diff**2])
    c2 = cov[n_r:, n_r:]
    asym_v = Value(asym, float(math.sqrt(jac @ c2 @ jac)), "")
    positions = [Value(sol[n], math.sqrt(cov[n, n]), "V") for n in range(n_r)]
    spacings = []
    for n in range(n_r - 1):
        dv = sol[n + 1] - sol[n]
        var_dv = cov[n, n] + cov[n + 1, n + 1] - 2 * cov[n, n + 1]
        val = lever.value * dv
        err = math.sqrt((lever.stderr * dv) ** 2 + (lever.value**2) * var_dv)
        spacings.append(Value(val, err, "eV"))
    rms = float(np.sqrt(np.mean(res[used] ** 2)))
    notes = []
    if rms > 0.25 * spacing:
        raise AnalysisError(f"bias spectroscopy: peaks scatter by {rms:.3g} V around the fitted branches: the map "
                            f"is too noisy or the risers are not straight lines")
    if max_vq < min(spacings, key=lambda s: s.value).value:  # e V (eV) against the smallest spacing
        notes.append("the bias range does not reach the diamond vertices (e V < hbar omega_y): spacings rest on "
                     "the extrapolated lever arm")
    return BiasSpectroscopy(lever=lever, step_positions_V=positions, subband_spacings_eV=spacings,
                            bias_asymmetry=asym_v, n_peaks_used=int(used.sum()), rms_residual_V=rms, notes=notes)
