"""Electron temperature from the width of a conductance step, given the lever arm.

A riser of a saddle-point QPC is the transmission ``T(E)`` (a logistic of scale ``hbar omega_x / 2 pi``) averaged
over the Fermi window (a logistic of scale ``k_B T``); in gate voltage both scales are divided by the lever arm.
The fit uses that exact shape (the physics core's thermally averaged conductance of one mode) with the lever arm
and ``hbar omega_x`` given, and fits ``T``. The temperature is only measurable where ``k_B T`` is a visible part of
the width: below about ``0.25 hbar omega_x / 2 pi`` the fit refuses (use shot noise, :mod:`.shot_noise`, there).
``hbar omega_x = 0`` (``None``) treats the step as purely thermal: the result is then an upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .conductance import add_conductance, clean_trace, require_quiet, transconductance
from .constants import G0, K_B_EV
from .io import AnalysisError, Value, require_columns
from .landauer import SaddlePointQPC
from .plateaus import peak_positions

__all__ = ["StepTemperature", "electron_temperature_from_step", "electron_temperature_map"]


@dataclass
class StepTemperature:
    temperature_K: Value
    step_center_V: Value
    plateau_G0: Value  #: the height of the fitted riser (G0)
    thermal_fraction: float  #: k_B T / (hbar omega_x / 2 pi)
    rms_residual_G0: float

    def text(self) -> str:
        return (f"Electron temperature from the step width: T = {self.temperature_K.format(1e3, 'mK')} "
                f"(k_B T / (hbar omega_x/2pi) = {self.thermal_fraction:.2g}; step at "
                f"{self.step_center_V.format(1e3, 'mV')})")


def electron_temperature_from_step(gate_V, g_G0, lever_eV_per_V, hw_x_eV: float | None, *, step: int = 0,
                                   min_thermal_fraction: float = 0.25) -> StepTemperature:
    """Electron temperature (K) from the shape of riser ``step`` (0 = the first, 0 -> 1 G0).

    Args:
        gate_V, g_G0: the staircase.
        lever_eV_per_V: lever arm (eV/V, float or :class:`Value`; its uncertainty propagates: T scales with it).
        hw_x_eV: hbar omega_x (eV) of the saddle (from the saddle fit with the lever arm), or None for a purely
            thermal step (upper bound).
        step: which riser.
        min_thermal_fraction: refuse when the fitted k_B T is below this fraction of hbar omega_x / 2 pi.

    Raises:
        AnalysisError: no such riser, pinched off, temperature not resolvable from the width.
    """
    lever = lever_eV_per_V if isinstance(lever_eV_per_V, Value) else Value(float(lever_eV_per_V), 0.0, "eV/V")
    if not lever.value > 0:
        raise AnalysisError(f"step temperature: lever arm {lever.value!r} eV/V must be positive")
    x, y = clean_trace(gate_V, g_G0, "step temperature", min_points=20)
    if np.max(y) < 0.6:
        raise AnalysisError(f"step temperature: pinched off (max G = {np.max(y):.3g} G0): no step")
    require_quiet(y, 0.05, "step temperature")
    gx, d = transconductance(x, y)
    steps = peak_positions(gx, d, min_height_fraction=0.25)
    steps = steps[np.interp(steps, x, y) > 0.2]
    if steps.size <= step:
        raise AnalysisError(f"step temperature: riser {step} not in the trace ({steps.size} risers found)")
    c = steps[step]
    half = 0.5 * float(np.min(np.diff(steps))) if steps.size > 1 else 0.5 * (x[-1] - x[0])
    m = (x > c - half) & (x < c + half)
    xf, yf = x[m], y[m]
    if xf.size < 12:
        raise AnalysisError(f"step temperature: only {xf.size} points across riser {step}; the sweep is too coarse")
    base = float(np.round(np.median(yf[xf < c - 0.5 * half])) if np.any(xf < c - 0.5 * half) else step)
    theta = (hw_x_eV or 0.0) / (2 * math.pi)
    hw = max(hw_x_eV or 0.0, 1e-9)
    slope = float(np.max(d[(gx > c - half) & (gx < c + half)]))
    s_tot = lever.value / (4.0 * slope)  # logistic-equivalent scale, eV
    kt0 = math.sqrt(max(s_tot**2 - theta**2, (0.3 * s_tot) ** 2))

    def model(q):
        vc, lt, amp = q
        qpc = SaddlePointQPC(hw_x_eV=hw, hw_y_eV=0.0, lever_arms_eV_per_V={"gate": lever.value}, v_pinch=vc,
                             n_modes=1)
        return base + amp * np.asarray(qpc.conductance({"gate": xf}, math.exp(lt) / K_B_EV), dtype=float) / G0

    res = least_squares(lambda q: model(q) - yf, [c, math.log(kt0), 1.0], x_scale="jac", max_nfev=300)
    if not res.success:
        raise AnalysisError(f"step temperature: fit did not converge ({res.message})")
    dof = max(1, xf.size - 3)
    s2 = float(res.fun @ res.fun) / dof
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * s2
    except np.linalg.LinAlgError:
        raise AnalysisError("step temperature: singular fit: the temperature is not resolvable from this step "
                            "(its width does not depend on T here)") from None
    err = np.sqrt(np.abs(np.diag(cov)))
    kt = math.exp(res.x[1])
    frac = kt / theta if theta > 0 else math.inf
    if frac < min_thermal_fraction or err[1] > 0.3:
        raise AnalysisError(f"step temperature: the step width is dominated by hbar omega_x / 2 pi "
                            f"({theta * 1e6:.3g} ueV) against k_B T ~ {kt * 1e6:.2g} ueV (relative uncertainty "
                            f"{err[1]:.2g}): the electron temperature is not resolvable from this step; "
                            f"use shot noise or a higher temperature")
    t = kt / K_B_EV
    rel = math.hypot(err[1], lever.relative_error)
    return StepTemperature(temperature_K=Value(t, t * rel, "K"), step_center_V=Value(res.x[0], err[0], "V"),
                           plateau_G0=Value(res.x[2], err[2], "G0"), thermal_fraction=frac,
                           rms_residual_G0=float(np.sqrt(np.mean(res.fun**2))))


def electron_temperature_map(df: pd.DataFrame, circuit, excitation_V: float, lever_eV_per_V, hw_x_eV,
                             *, step: int = 0) -> pd.DataFrame:
    """Electron temperature at every mixing-chamber temperature of a gate x temperature map.

    Returns a DataFrame: ``T_mc (K)``, ``T_e (K)``, ``T_e err (K)``, ``note`` (why a row has no value).
    """
    require_columns(df, ["Gate (V)", "Temperature (K)", "X (V)"], "temperature map")
    m = add_conductance(df, circuit, excitation_V)
    rows = []
    keys = np.round(m["Temperature (K)"].to_numpy(float), 12)
    for t in np.unique(keys[np.isfinite(keys)]):
        sub = m[keys == t]
        try:
            r = electron_temperature_from_step(sub["Gate (V)"], sub["G/G0"], lever_eV_per_V, hw_x_eV, step=step)
            rows.append({"T_mc (K)": t, "T_e (K)": r.temperature_K.value, "T_e err (K)": r.temperature_K.stderr,
                         "note": ""})
        except AnalysisError as exc:
            rows.append({"T_mc (K)": t, "T_e (K)": np.nan, "T_e err (K)": np.nan, "note": str(exc)})
    if not rows:
        raise AnalysisError("temperature map: no temperature rows")
    return pd.DataFrame(rows)
