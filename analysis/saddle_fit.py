"""Fit of the saddle-point model (Buttiker 1990) with temperature to a conductance staircase.

With the barrier offset ``alpha (Vg - V_pinch)`` the staircase depends on gate voltage only through
``hw_y / alpha`` (step spacing in V), ``hw_x / alpha`` (step width in V, times 1/2 pi), ``V_pinch`` and, through the
thermal smearing, on ``k_B T / alpha``. So a staircase alone gives energies only with a lever arm from bias
spectroscopy (pass it in; its uncertainty is propagated). Without one the fit reports voltages only (the width then
includes the thermal smearing), never invented energies. (Fitting alpha from the thermal smearing at a known
temperature was tried and dropped: the saddle and thermal widths add almost in quadrature, and the fit returned
confident, wrong lever arms.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .conductance import clean_trace, require_quiet, transconductance
from .constants import K_B_EV
from .io import AnalysisError, Value
from .landauer import SaddlePointQPC
from .plateaus import peak_positions

__all__ = ["SaddleFit", "fit_saddle_staircase", "saddle_model_G0"]


def saddle_model_G0(gate_V, v_pinch, spacing_V, width_V, lever_eV_per_V, temperature_K, n_modes=None):
    """Saddle-point staircase G/G0 at gate voltages (V): hw_y = lever * spacing, hw_x = lever * width."""
    gate_V = np.asarray(gate_V, dtype=float)
    if n_modes is None:
        n_modes = int(max(1, math.ceil((gate_V.max() - v_pinch) / spacing_V) + 2))
    model = SaddlePointQPC(hw_x_eV=lever_eV_per_V * width_V, hw_y_eV=lever_eV_per_V * spacing_V,
                           lever_arms_eV_per_V={"gate": lever_eV_per_V}, v_pinch=v_pinch, n_modes=n_modes)
    from .constants import G0

    return np.asarray(model.conductance({"gate": gate_V}, temperature_K), dtype=float) / G0


@dataclass
class SaddleFit:
    """Result of :func:`fit_saddle_staircase` (voltages in V, energies in eV, lever arm in eV/V)."""

    v_pinch: Value
    spacing_V: Value  #: hw_y / alpha: gate-voltage distance between risers
    width_V: Value  #: hw_x / alpha
    temperature_K: float
    lever: Value | None
    hw_x_eV: Value | None
    hw_y_eV: Value | None
    rms_residual_G0: float
    n_points: int
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["Saddle-point fit of the staircase (T = %.3g K):" % self.temperature_K,
                 f"  pinch-off V_p        = {self.v_pinch.format(1e3, 'mV')}",
                 f"  step spacing hw_y/a  = {self.spacing_V.format(1e3, 'mV')}",
                 f"  step width   hw_x/a  = {self.width_V.format(1e3, 'mV')}"]
        if self.lever is not None:
            lines += [f"  lever arm a          = {self.lever.format(unit='eV/V')}",
                      f"  hbar omega_x         = {self.hw_x_eV.format(1e3, 'meV')}",
                      f"  hbar omega_y         = {self.hw_y_eV.format(1e3, 'meV')}"]
        lines.append(f"  rms residual         = {self.rms_residual_G0:.3g} G0 ({self.n_points} points)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _ratio_value(a: Value, lever: Value, unit: str) -> Value:
    v = a.value * lever.value
    rel = math.hypot(a.relative_error, lever.relative_error)
    return Value(v, abs(v) * rel, unit)


def fit_saddle_staircase(gate_V, g_G0, temperature_K: float, *, lever_eV_per_V: Value | float | None = None,
                         max_steps: int | None = None, max_rms_G0: float = 0.1) -> SaddleFit:
    """Fit the saddle-point model with temperature to a staircase G/G0(Vg).

    Args:
        gate_V, g_G0: the staircase (NaNs dropped, repeated gate values averaged).
        temperature_K: electron temperature (K) used in the model.
        lever_eV_per_V: lever arm (eV/V; a :class:`Value` carries its uncertainty), e.g. from bias spectroscopy.
            None: voltages only, no energies.
        max_steps: fit only up to this many risers (default: all complete ones in the trace).
        max_rms_G0: refuse fits whose rms residual exceeds this (the model does not describe the data).

    Raises:
        AnalysisError: pinched-off trace, fewer than two risers, a fit that does not converge or does not describe
        the data.
    """
    if not (np.isfinite(temperature_K) and temperature_K >= 0):
        raise AnalysisError(f"saddle fit: temperature {temperature_K!r} K must be finite and >= 0")
    x, y = clean_trace(gate_V, g_G0, "saddle fit", min_points=20)
    if np.max(y) < 0.6:
        raise AnalysisError(f"saddle fit: the trace never opens (max G = {np.max(y):.3g} G0): pinched off")
    require_quiet(y, 0.05, "saddle fit")
    gx, d = transconductance(x, y)
    steps = peak_positions(gx, d, min_height_fraction=0.25)
    steps = steps[np.interp(steps, x, y) > 0.2]
    if steps.size < 2:
        raise AnalysisError(f"saddle fit: {steps.size} riser(s) found; the step spacing (hw_y) needs at least two")
    if max_steps is not None:
        steps = steps[:max_steps]
    spacing0 = float(np.median(np.diff(steps)))
    # fit window: from below pinch-off to half a plateau above the last riser used
    lo = steps[0] - 0.6 * spacing0
    hi = steps[-1] + 0.5 * spacing0
    m = (x >= lo) & (x <= hi)
    xf, yf = x[m], y[m]
    if xf.size < 20:
        raise AnalysisError(f"saddle fit: only {xf.size} points on the risers; the trace is too coarse")
    slope = float(np.max(d[(gx >= lo) & (gx <= hi)]))
    kt = K_B_EV * temperature_K
    lever_in = lever_eV_per_V
    lever_val = None if lever_in is None else float(lever_in)
    width0 = math.pi / (2.0 * slope)  # logistic of scale s: max slope 1/(4 s); width = 2 pi s
    if lever_val is not None and kt > 0:
        s_e = lever_val * width0 / (2 * math.pi)
        width0 = 2 * math.pi * math.sqrt(max(s_e**2 - kt**2, (0.2 * s_e) ** 2)) / lever_val
    n_modes = int(math.ceil((hi - steps[0]) / spacing0) + 3)
    notes = []
    if lever_val is None:
        notes.append("no lever arm given: voltages only (the width includes the thermal smearing); give the lever "
                     "arm from bias spectroscopy to get hbar omega_x and hbar omega_y")

    def unpack(q):
        vp, sp, w = q[0], math.exp(q[1]), math.exp(q[2])
        lev = lever_val if lever_val is not None else 1.0
        return vp, sp, w, lev

    def resid(q):
        vp, sp, w, lev = unpack(q)
        t = temperature_K if lever_val is not None else 0.0
        return saddle_model_G0(xf, vp, sp, w, lev, t, n_modes) - yf

    q0 = [steps[0], math.log(spacing0), math.log(width0)]
    try:
        res = least_squares(resid, q0, x_scale="jac", max_nfev=200)
    except (ValueError, FloatingPointError) as exc:
        raise AnalysisError(f"saddle fit failed: {exc}") from None
    if not res.success:
        raise AnalysisError(f"saddle fit did not converge: {res.message}")
    dof = max(1, xf.size - len(q0))
    rms = float(np.sqrt(np.mean(res.fun**2)))
    if rms > max_rms_G0:
        raise AnalysisError(f"saddle fit: rms residual {rms:.3g} G0 > {max_rms_G0:g} G0: the saddle model does not "
                            f"describe this trace (disorder, resonances, noise)")
    s2 = float(res.fun @ res.fun) / dof
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * s2
    except np.linalg.LinAlgError:
        raise AnalysisError("saddle fit: singular fit (parameters not determined by the data)") from None
    err = np.sqrt(np.abs(np.diag(cov)))
    vp, sp, w, lev = unpack(res.x)
    v_pinch = Value(vp, err[0], "V")
    spacing = Value(sp, sp * err[1], "V")
    width = Value(w, w * err[2], "V")
    lever = hw_x = hw_y = None
    if lever_in is not None:
        lever = lever_in if isinstance(lever_in, Value) else Value(float(lever_in), 0.0, "eV/V")
    if lever is not None:
        hw_x = _ratio_value(width, lever, "eV")
        hw_y = _ratio_value(spacing, lever, "eV")
    return SaddleFit(v_pinch=v_pinch, spacing_V=spacing, width_V=width, temperature_K=float(temperature_K),
                     lever=lever, hw_x_eV=hw_x, hw_y_eV=hw_y, rms_residual_G0=rms, n_points=int(xf.size), notes=notes)
