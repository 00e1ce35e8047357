"""Hall-bar sweeps: filling factors, carrier density, and how exactly R_xy sits at h/(nu e^2) on each plateau.

* Resistances from the lock-in readings through the circuit (``circuit.hall_resistance_ohm``).
* Density from the classical low-field Hall slope, ``R_xy = B / (n e)`` (straight line with an offset, over
  fields where the filling factor exceeds ``nu_low``, about 40: below the Shubnikov-de Haas onset).
* Quantum Hall plateaus: runs of fields where R_xx vanishes (below a small fraction of its zero-field value) and
  R_xy is flat; the filling factor is ``round(R_K / R_xy)``; the deviation ``R_xy / (R_K / nu) - 1`` with its
  standard error. A second density estimate from the plateau centres, ``n = nu e B_c / h``, is reported beside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .constants import E, H, R_K
from .io import AnalysisError, Value, require_columns

__all__ = ["HallPlateau", "HallAnalysis", "analyse_hall", "hall_resistances"]


@dataclass(frozen=True)
class HallPlateau:
    filling_factor: int
    start_T: float
    stop_T: float
    mean_R_xy_ohm: float
    relative_deviation: Value  #: R_xy / (h / (nu e^2)) - 1
    max_R_xx_ohm: float
    n_points: int

    @property
    def center_T(self) -> float:
        return 0.5 * (self.start_T + self.stop_T)


@dataclass
class HallAnalysis:
    density_m2: Value  #: from the low-field Hall slope
    density_from_plateaus_m2: Value | None
    plateaus: list[HallPlateau]
    zero_field_R_xx_ohm: float
    low_field_limit_T: float
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["Hall bar:",
                 f"  density (low-field Hall slope) = {self.density_m2.format(1e-15, 'x 1e15 m^-2')} "
                 f"({self.density_m2.format(1e-15, 'x 1e11 cm^-2')})",
                 f"  (linear fit for |B| < {self.low_field_limit_T:.3g} T; R_xx(B->0) = {self.zero_field_R_xx_ohm:.4g} ohm)"]
        if self.density_from_plateaus_m2 is not None:
            lines.append(f"  density (plateau centres)      = {self.density_from_plateaus_m2.format(1e-15, 'x 1e15 m^-2')} "
                         f"({self.density_from_plateaus_m2.format(1e-15, 'x 1e11 cm^-2')})")
        if not self.plateaus:
            lines.append("  no quantum Hall plateau (R_xx never vanishes on a flat R_xy)")
        for p in self.plateaus:
            lines.append(f"  nu = {p.filling_factor:2d}: {p.start_T:.3f}-{p.stop_T:.3f} T, R_xy = {p.mean_R_xy_ohm:.6g} ohm, "
                         f"R_xy/(h/nu e^2) - 1 = {p.relative_deviation.value:.2e} ± {p.relative_deviation.stderr:.1e}, "
                         f"max R_xx = {p.max_R_xx_ohm:.3g} ohm")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def hall_resistances(df: pd.DataFrame, circuit, excitation_V: float) -> pd.DataFrame:
    """Copy with ``R_xx (ohm)`` and ``R_xy (ohm)`` recomputed from ``X xx (V)``, ``X xy (V)`` and the circuit."""
    require_columns(df, ["Field (T)", "X xx (V)", "X xy (V)"], "Hall data")
    if not (np.isfinite(excitation_V) and excitation_V > 0):
        raise AnalysisError(f"Hall data: sine output {excitation_V!r} V must be positive")
    out = df.copy()
    out["R_xx (ohm)"] = circuit.hall_resistance_ohm(out["X xx (V)"].to_numpy(float), excitation_V)
    out["R_xy (ohm)"] = circuit.hall_resistance_ohm(out["X xy (V)"].to_numpy(float), excitation_V)
    return out


def _runs(mask):
    m = np.concatenate([[False], mask, [False]]).astype(int)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def analyse_hall(df: pd.DataFrame, circuit=None, excitation_V: float | None = None, *, nu_low: float = 40.0,
                 rxx_fraction: float = 0.01, min_points: int = 5) -> HallAnalysis:
    """Density, filling factors and plateau deviations from a Hall sweep.

    With ``circuit`` and ``excitation_V`` the resistances are recomputed from the lock-in readings; otherwise the
    ``R_xx (ohm)`` / ``R_xy (ohm)`` columns are used.

    Raises:
        AnalysisError: missing columns, too few finite points, no low-field points for the Hall slope.
    """
    if circuit is not None and excitation_V is not None:
        df = hall_resistances(df, circuit, excitation_V)
    require_columns(df, ["Field (T)", "R_xx (ohm)", "R_xy (ohm)"], "Hall data")
    b = df["Field (T)"].to_numpy(float)
    rxx = df["R_xx (ohm)"].to_numpy(float)
    rxy = df["R_xy (ohm)"].to_numpy(float)
    ok = np.isfinite(b) & np.isfinite(rxx) & np.isfinite(rxy)
    if ok.sum() < 20:
        raise AnalysisError(f"Hall data: only {int(ok.sum())} finite points (need 20)")
    b, rxx, rxy = b[ok], rxx[ok], rxy[ok]
    # fold negative fields onto positive ones (R_xy odd, R_xx even)
    sgn = np.where(b < 0, -1.0, 1.0)
    babs, rxy_o = np.abs(b), rxy * sgn
    order = np.argsort(babs)
    babs, rxx, rxy_o = babs[order], rxx[order], rxy_o[order]
    bmax = float(babs.max())
    if not bmax > 0:
        raise AnalysisError("Hall data: no field applied")
    notes = []
    # low-field slope: start from the lowest 5 % of the field range, then refine the range to nu > nu_low
    lim = max(0.05 * bmax, babs[min(len(babs) - 1, 5)])
    for _ in range(3):
        m = babs <= lim
        if m.sum() < 5:
            raise AnalysisError(f"Hall data: only {int(m.sum())} points below {lim:.3g} T for the low-field Hall "
                                f"slope (need 5): sweep the low-field region more densely")
        slope, icpt = np.polyfit(babs[m], rxy_o[m], 1)
        if not slope > 0:
            raise AnalysisError("Hall data: R_xy does not rise with field at low field (no Hall signal)")
        n0 = 1.0 / (E * slope)
        new = n0 * H / (E * nu_low)
        if abs(new - lim) < 0.01 * lim:
            break
        lim = min(new, bmax)
    m = babs <= lim
    (slope, icpt), cov = np.polyfit(babs[m], rxy_o[m], 1, cov=True) if m.sum() > 3 else (np.polyfit(babs[m], rxy_o[m], 1), np.zeros((2, 2)))
    n = 1.0 / (E * slope)
    n_err = n * math.sqrt(cov[0, 0]) / slope
    r0 = float(np.median(rxx[babs <= max(lim, babs[min(4, len(babs) - 1)])]))
    if r0 <= 0:
        notes.append("R_xx at low field is not positive: check the R_xx wiring")
    # plateaus
    # reading noise: scatter of second differences in windows of 16 points; the quietest tenth of the windows
    # (plateaus, where R_xx is pure noise) sets it
    d2 = np.abs(np.diff(rxx, 2))
    nw = d2.size // 16
    if nw >= 1:
        per = 1.4826 * np.median(d2[: nw * 16].reshape(nw, 16), axis=1) / math.sqrt(6.0)
        noise = float(np.percentile(per, 10))
    else:
        noise = 0.0
    thr = max(rxx_fraction * abs(r0), 4.0 * noise)
    flat = (np.abs(rxx) < thr) & (babs > lim)
    plateaus = []
    for i0, i1 in _runs(flat):
        if i1 - i0 < min_points:
            continue
        r = rxy_o[i0:i1]
        mean = float(np.mean(r))
        if mean <= 0:
            continue
        nu = int(round(R_K / mean))
        if nu < 1 or abs(R_K / mean - nu) > 0.1:
            continue
        nominal = R_K / nu
        dev = mean / nominal - 1.0
        dev_err = float(np.std(r, ddof=1) / math.sqrt(r.size)) / nominal
        plateaus.append(HallPlateau(filling_factor=nu, start_T=float(babs[i0]), stop_T=float(babs[i1 - 1]),
                                    mean_R_xy_ohm=mean, relative_deviation=Value(dev, dev_err, ""),
                                    max_R_xx_ohm=float(np.max(np.abs(rxx[i0:i1]))), n_points=int(i1 - i0)))
    n_plat = None
    if plateaus:
        est = np.array([p.filling_factor * E * p.center_T / H for p in plateaus])
        n_plat = Value(float(est.mean()), float(est.std(ddof=1) / math.sqrt(est.size)) if est.size > 1 else math.nan,
                       "m^-2")
    else:
        notes.append("no quantum Hall plateau: R_xx never drops below "
                     f"{rxx_fraction:g} of its zero-field value on a flat R_xy (field too low or sample too disordered)")
    return HallAnalysis(density_m2=Value(n, n_err, "m^-2"), density_from_plateaus_m2=n_plat, plateaus=plateaus,
                        zero_field_R_xx_ohm=r0, low_field_limit_T=float(lim), notes=notes)
