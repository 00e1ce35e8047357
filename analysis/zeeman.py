"""The Zeeman fan (gate x in-plane field): the g-factor of each subband.

In an in-plane field B each spin-degenerate riser n splits into two spin-resolved e^2/h risers, shifted in energy
by -/+ |g_n| mu_B B / 2, i.e. in gate voltage by -/+ |g_n| mu_B B / (2 alpha). The split is measured without a
line-shape model: within the window of riser n, the trace at field B is fitted by the zero-field trace shifted
both ways, ``G_B(Vg) = [G_0(Vg - c + d/2) + G_0(Vg - c - d/2)] / 2`` (c: a common shift, d: the split in V).
``|g_n| = alpha (dd/dB) / mu_B`` from a weighted straight line d = k B through the resolved fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .conductance import add_conductance, clean_trace, require_quiet, transconductance
from .constants import MU_B_EV
from .io import AnalysisError, Value, require_columns
from .plateaus import peak_positions

__all__ = ["ZeemanFit", "SubbandG", "fit_zeeman_fan"]


@dataclass
class SubbandG:
    subband: int
    g_abs: Value | None  #: |g| of the subband (None without a lever arm)
    split_V_per_T: Value  #: gate-voltage splitting per tesla
    n_fields: int  #: fields where the split was resolved and used


@dataclass
class ZeemanFit:
    subbands: list[SubbandG]
    lever: Value | None
    notes: list[str] = field(default_factory=list)
    splits: pd.DataFrame | None = None  #: per (subband, field): split (V) and its uncertainty

    def text(self) -> str:
        lev = self.lever.format(unit='eV/V') if self.lever is not None else "not given: no g-factors"
        lines = [f"Zeeman fan (lever arm {lev}):"]
        for s in self.subbands:
            g = s.g_abs.format() if s.g_abs is not None else "-"
            lines.append(f"  subband {s.subband}: |g| = {g}  "
                         f"(split {s.split_V_per_T.format(1e3, 'mV/T')}, {s.n_fields} fields)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _split_fit(x0, g0, xb, gb, c0, d0):
    def model(q):
        c, d = q
        return 0.5 * (np.interp(xb - c + 0.5 * d, x0, g0) + np.interp(xb - c - 0.5 * d, x0, g0))

    res = least_squares(lambda q: model(q) - gb, [c0, d0], x_scale=[1e-3, 1e-3], max_nfev=200)
    dof = max(1, gb.size - 2)
    s2 = float(res.fun @ res.fun) / dof
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * s2
    except np.linalg.LinAlgError:
        return None
    return res.x, np.sqrt(np.abs(np.diag(cov))), res


def fit_zeeman_fan(df: pd.DataFrame, circuit, excitation_V: float, lever_eV_per_V, *, max_subbands: int = 4,
                   min_resolved_fields: int = 3) -> ZeemanFit:
    """|g| of each subband from a gate x field map (columns of the field-map procedure).

    Args:
        lever_eV_per_V: the gate lever arm (eV/V; float or :class:`Value`, e.g. from bias spectroscopy); None
            gives the splittings in V/T only.

    Raises:
        AnalysisError: no zero-field row, no riser, no subband whose split is resolved at enough fields.
    """
    require_columns(df, ["Gate (V)", "Field (T)", "X (V)"], "field map")
    if lever_eV_per_V is None:
        lever = None
    else:
        lever = lever_eV_per_V if isinstance(lever_eV_per_V, Value) else Value(float(lever_eV_per_V), 0.0, "eV/V")
    m = add_conductance(df, circuit, excitation_V)
    keys = np.round(m["Field (T)"].to_numpy(float), 9)
    fields_ = np.unique(keys[np.isfinite(keys)])
    if fields_.size < min_resolved_fields + 1:
        raise AnalysisError(f"Zeeman fan: only {fields_.size} field values in the map")
    b0 = fields_[np.argmin(np.abs(fields_))]
    if abs(b0) > 0.02 * np.max(np.abs(fields_)):
        raise AnalysisError("Zeeman fan: no zero-field row to measure the splitting against")
    z = m[keys == b0]
    x0, g0 = clean_trace(z["Gate (V)"], z["G/G0"], "Zeeman fan zero-field row", min_points=20)
    require_quiet(g0, 0.05, "Zeeman fan zero-field row")
    gx, d = transconductance(x0, g0)
    steps = peak_positions(gx, d, min_height_fraction=0.3)
    steps = steps[np.interp(steps, x0, g0) > 0.2][:max_subbands]
    if steps.size == 0:
        raise AnalysisError("Zeeman fan: no riser in the zero-field row (pinched off or flat)")
    spacing = float(np.min(np.diff(steps))) if steps.size > 1 else 0.5 * (x0[-1] - x0[0])
    # step scale (V) from the steepest slope of a G0 riser: logistic of scale s has max slope 1/(4 s)
    s_v = 1.0 / (4.0 * float(np.max(d)))
    results, rows, notes = [], [], []
    for n, c in enumerate(steps):
        lo, hi = c - 0.5 * spacing, c + 0.5 * spacing
        pts = []
        d_prev = 2 * s_v
        for b in fields_:
            if b == b0:
                continue
            sub = m[keys == b]
            try:
                xb, gb = clean_trace(sub["Gate (V)"], sub["G/G0"], "field row", min_points=10)
            except AnalysisError:
                continue
            w = (xb > lo) & (xb < hi)
            if w.sum() < 10:
                continue
            fit = _split_fit(x0, g0, xb[w], gb[w], 0.0, d_prev)
            if fit is None:
                continue
            (cc, dd), (ec, ed), _ = fit
            dd = abs(dd)
            rows.append({"subband": n, "Field (T)": b, "split (V)": dd, "split err (V)": ed})
            if dd > 3 * s_v and np.isfinite(ed) and ed < 0.3 * dd and dd < spacing:
                pts.append((abs(b), dd, ed))
                d_prev = dd
        if len(pts) < min_resolved_fields:
            notes.append(f"subband {n}: spin split resolved at {len(pts)} field(s) only (need "
                         f"{min_resolved_fields}): no g-factor")
            continue
        bb, dd, ee = (np.array(v) for v in zip(*pts))
        wts = 1.0 / np.maximum(ee, 1e-12) ** 2
        k = float(np.sum(wts * bb * dd) / np.sum(wts * bb**2))
        res = dd - k * bb
        # scale the formal error by the scatter (reduced chi^2), never below the formal one
        chi2 = float(np.sum(wts * res**2)) / max(1, bb.size - 1)
        ek = math.sqrt(max(chi2, 1.0) / float(np.sum(wts * bb**2)))
        kv = Value(k, ek, "V/T")
        gv = None
        if lever is not None:
            g = lever.value * k / MU_B_EV
            gv = Value(g, g * math.hypot(kv.relative_error, lever.relative_error), "")
        results.append(SubbandG(subband=n, g_abs=gv, split_V_per_T=kv, n_fields=int(bb.size)))
    if not results:
        raise AnalysisError("Zeeman fan: the spin splitting is not resolved for any subband "
                            "(field too small for |g| mu_B B > hbar omega_x / 2 pi)" + ("; " + "; ".join(notes)))
    return ZeemanFit(subbands=results, lever=lever, notes=notes, splits=pd.DataFrame(rows))
