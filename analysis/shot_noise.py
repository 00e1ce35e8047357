"""Shot noise against bias: the Fano factor and the electron temperature (Blanter-Buttiker).

Model (Blanter & Buttiker 2000, energy-independent transmissions, spin degenerate), with N = G/G0 = sum T_n and
F = sum T(1-T) / sum T (so sum T^2 = (1 - F) N)::

    S_I(V) = 2 G0 N [ 2 k_B T (1 - F) + F e V coth(e V / 2 k_B T) ]

V is the bias across the QPC (source bias through the divider, less the drop on the series resistance). The
measured PSD is the circuit's :meth:`MeasurementCircuit.noise_voltage_psd` (gain^2 times QPC noise through the
load, Johnson noise of the series and load resistors, amplifier noise). The reference sweep (QPC pinched off,
same biases) measures the background ``gain^2 (4 k_B T R_L + e_n^2)``; the fit uses::

    PSD(V) = noise_voltage_psd(S_I(V), g(V), T) - noise_voltage_psd(0, 0, T) + <PSD_reference>

with g(V) the measured dI/dV, the gain from the circuit (or fitted: ``fit_gain=True``), F and T free. The
constant-transmission form holds while e V stays well below hbar omega_x (the fit notes a bias range that does
not, and refuses a pinched-off gate point, where F is undefined).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .circuit import MeasurementCircuit
from .conductance import add_conductance, qpc_bias_V
from .constants import E, G0, K_B
from .io import AnalysisError, Value, require_columns

__all__ = ["ShotNoiseFit", "fit_shot_noise", "shot_noise_model_psd", "current_noise_A2_per_Hz", "NoiseAgainstGate",
           "fano_against_gate"]


def current_noise_A2_per_Hz(v_qpc, n_g0, fano, temperature_K):
    """Blanter-Buttiker S_I (A^2/Hz) for N = G/G0, Fano factor F, bias V (V), temperature (K)."""
    v = np.asarray(v_qpc, dtype=float)
    kt = K_B * temperature_K
    ev = E * v
    u = ev / (2 * kt)
    small = np.abs(u) < 1e-8
    xcoth = np.where(small, 2 * kt, ev / np.tanh(np.where(small, 1.0, u)))
    return 2 * G0 * n_g0 * (2 * kt * (1 - fano) + fano * xcoth)


def shot_noise_model_psd(v_qpc, g_S, n_g0, fano, temperature_K, background_V2_per_Hz, circuit: MeasurementCircuit,
                         gain_scale: float = 1.0):
    """Measured PSD (V^2/Hz) predicted by the model in the module docstring."""
    s_i = current_noise_A2_per_Hz(v_qpc, n_g0, fano, temperature_K)
    excess = circuit.noise_voltage_psd(s_i, g_S, temperature_K) - circuit.noise_voltage_psd(0.0, 0.0, temperature_K)
    return gain_scale**2 * excess + background_V2_per_Hz


@dataclass
class ShotNoiseFit:
    fano: Value | None  #: None when the model does not describe the data within the reference scatter
    temperature_K: Value
    conductance_G0: float  #: zero-bias G/G0 at the gate point
    background_V2_per_Hz: Value  #: mean reference PSD
    gain: Value  #: noise-amplifier gain used (from the circuit, or fitted)
    implied_gain: float  #: the gain the reference level implies at the fitted T (consistency check)
    max_bias_V: float  #: largest |V| across the QPC
    rms_residual_V2_per_Hz: float
    residual_over_reference_scatter: float
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["Shot noise (Blanter-Buttiker fit):",
                 ("  Fano factor F        = " + (self.fano.format(digits=3) if self.fano is not None
                                                    else "not determined (see notes)")),
                 f"  electron temperature = {self.temperature_K.format(1e3, 'mK')}",
                 f"  G at the gate point  = {self.conductance_G0:.4g} G0",
                 f"  background (ref.)    = {self.background_V2_per_Hz.format(unit='V^2/Hz')}",
                 f"  amplifier gain       = {self.gain.format()} (reference level implies {self.implied_gain:.4g})",
                 f"  bias range           = +-{self.max_bias_V * 1e6:.3g} uV at the QPC"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def fit_shot_noise(df: pd.DataFrame, circuit: MeasurementCircuit, excitation_V: float, *, fit_gain: bool = False,
                   temperature_guess_K: float = 0.05) -> ShotNoiseFit:
    """Fano factor and electron temperature from a shot-noise run (measurement and reference sweeps).

    Raises:
        AnalysisError: missing columns or reference, pinched-off gate point, too few points, a fit that fails.
    """
    require_columns(df, ["Bias (V)", "PSD (V^2/Hz)", "X (V)", "Reference"], "shot noise")
    d = add_conductance(df, circuit, excitation_V)
    ok = np.isfinite(d["Bias (V)"]) & np.isfinite(d["PSD (V^2/Hz)"]) & np.isfinite(d["Reference"])
    d = d[ok]
    ref = d[d["Reference"] == 1]
    meas = d[d["Reference"] == 0]
    if len(ref) < 3:
        raise AnalysisError(f"shot noise: {len(ref)} reference point(s) (Reference = 1, QPC pinched off): the "
                            f"amplifier background cannot be calibrated")
    meas = meas[np.isfinite(meas["G (S)"])]
    if len(meas) < 8:
        raise AnalysisError(f"shot noise: only {len(meas)} finite measurement points (need 8)")
    bg = float(ref["PSD (V^2/Hz)"].mean())
    bg_err = float(ref["PSD (V^2/Hz)"].std(ddof=1) / math.sqrt(len(ref)))
    notes = []
    # a reference that changes with bias is not a background
    rb = ref["Bias (V)"].to_numpy(float)
    if np.ptp(rb) > 0:
        k, _ = np.polyfit(np.abs(rb), ref["PSD (V^2/Hz)"].to_numpy(float), 1)
        if abs(k) * np.max(np.abs(rb)) > 5 * float(ref["PSD (V^2/Hz)"].std(ddof=1)) + 1e-300:
            notes.append("the reference PSD changes with bias: the QPC was not pinched off in the reference")
    g_ref = float(np.nanmedian(np.abs(ref["G/G0"])))
    if g_ref > 0.02:
        notes.append(f"reference conductance {g_ref:.3g} G0 is not pinched off")
    meas = meas.sort_values("Bias (V)")
    g = meas["G (S)"].to_numpy(float)
    v = qpc_bias_V(meas["Bias (V)"].to_numpy(float), g, circuit)
    psd = meas["PSD (V^2/Hz)"].to_numpy(float)
    n_g0 = float(np.interp(0.0, v, g)) / G0 if v[0] <= 0 <= v[-1] else float(g[np.argmin(np.abs(v))]) / G0
    if n_g0 < 0.02:
        raise AnalysisError(f"shot noise: the QPC is pinched off at the gate point (G = {n_g0:.3g} G0): the Fano "
                            f"factor sum T(1-T)/sum T is undefined")
    vmax = float(np.max(np.abs(v)))
    t0 = temperature_guess_K
    # initial F from the high-bias slope: d PSD / d|V| ~ gain^2 Z^2 2 e G F
    scale = np.ptp(psd) if np.ptp(psd) > 0 else 1.0

    def unpack(q):
        f, lt = q[0], q[1]
        gs = q[2] if fit_gain else 1.0
        return f, math.exp(lt), gs

    def resid(q):
        f, t, gs = unpack(q)
        return (shot_noise_model_psd(v, g, n_g0, f, t, bg, circuit, gs) - psd) / scale

    best = None
    for f_start in (0.1, 0.5, 0.9):
        for t_start in (t0, 3 * t0, t0 / 3):
            q0 = [f_start, math.log(t_start)] + ([1.0] if fit_gain else [])
            try:
                r = least_squares(resid, q0, x_scale="jac", max_nfev=300)
            except (ValueError, FloatingPointError):
                continue
            if best is None or r.cost < best.cost:
                best = r
    if best is None or not best.success:
        raise AnalysisError("shot noise: the fit did not converge")
    dof = max(1, v.size - len(best.x))
    s2 = float(best.fun @ best.fun) / dof
    try:
        cov = np.linalg.inv(best.jac.T @ best.jac) * s2
    except np.linalg.LinAlgError:
        raise AnalysisError("shot noise: singular fit (F and T not determined: bias range too small?)") from None
    err = np.sqrt(np.abs(np.diag(cov)))
    f, t, gs = unpack(best.x)
    if not (np.isfinite(err[0]) and err[0] < 0.2):
        raise AnalysisError(f"shot noise: Fano factor undetermined (F = {f:.3g} +- {err[0]:.2g}); the excess noise is "
                            f"buried in the scatter or the bias range is too small")
    if vmax < 3 * K_B * t / E:
        notes.append(f"bias range +-{vmax * 1e6:.3g} uV is below 3 k_B T / e: F and T are correlated")
    if f < -0.05 or f > 1.05:
        raise AnalysisError(f"shot noise: fitted F = {f:.3g} is outside [0, 1]: the model does not describe the data")
    fano = Value(f, err[0], "")
    ref_scatter = float(ref["PSD (V^2/Hz)"].std(ddof=1))
    ratio = math.sqrt(s2) * scale / ref_scatter if ref_scatter > 0 else math.nan
    if len(ref) >= 5 and ratio > 2.0:
        fano = None
        notes.append(f"residuals are {ratio:.2g} times the reference scatter: the constant-transmission model does "
                     f"not describe the data (e V comparable to hbar omega_x: energy-dependent transmission, or a "
                     f"drifting background); the Fano factor is withheld, the temperature (from the thermal noise "
                     f"level) is kept")
    a = circuit.noise_amplifier_gain * gs
    gain = Value(a, circuit.noise_amplifier_gain * err[2] if fit_gain else 0.0, "")
    en2 = circuit.noise_amplifier_input_noise_V_per_rtHz**2
    implied = math.sqrt(bg / (4 * K_B * t * circuit.noise_load_resistance_ohm + en2))
    if abs(implied / a - 1) > 0.1:
        notes.append(f"the reference level implies an amplifier gain of {implied:.4g}, not {a:.4g}: check the "
                     f"circuit's noise-amplifier gain, load resistance and input noise")
    return ShotNoiseFit(fano=fano, temperature_K=Value(t, t * err[1], "K"), conductance_G0=n_g0,
                        background_V2_per_Hz=Value(bg, bg_err, "V^2/Hz"), gain=gain, implied_gain=implied,
                        max_bias_V=vmax, rms_residual_V2_per_Hz=float(np.sqrt(s2)) * scale,
                        residual_over_reference_scatter=ratio, notes=notes)


@dataclass
class NoiseAgainstGate:
    """Result of :func:`fano_against_gate`: the Fano factor at every gate point and in the middle of each riser
    (where one channel is half open: F = 1/4 / (n + 1/2) for a saddle-point QPC at low bias)."""

    points: pd.DataFrame  #: ``Gate (V)``, ``G/G0``, ``V_qpc (V)``, ``F`` (NaN where the QPC is pinched off)
    riser_centres: list[tuple[int, float, float, float]]  #: (riser n, gate V, G/G0, F) nearest G = n + 1/2
    plateau_fano: Value | None  #: mean F on the plateaus (G within 0.03 of an integer >= 1); stderr: its scatter
    temperature_K: float
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        v = self.points["V_qpc (V)"].abs()
        lines = [f"Fano factor against gate (at {v.min() * 1e6:.3g}-{v.max() * 1e6:.3g} uV across the QPC, "
                 f"T = {self.temperature_K * 1e3:.3g} mK, gain and background from the circuit):"]
        for n, gate, g, f in self.riser_centres:
            lines.append(f"  riser {n}: F = {f:.3f} at {gate:.4g} V (G = {g:.3f} G0, the point nearest n + 1/2)")
        if self.plateau_fano is not None:
            lines.append(f"  plateaus: F = {self.plateau_fano.format(digits=2)} (the ± is the scatter of one point)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def fano_against_gate(df: pd.DataFrame, circuit: MeasurementCircuit, excitation_V: float,
                      temperature_K: float) -> NoiseAgainstGate:
    """The Fano factor at each point of a noise-against-gate run (fixed DC bias, the gate swept).

    The model of :func:`shot_noise_model_psd` is linear in F at a given bias, G and temperature: each point's F
    solves ``PSD = P(0) + F (P(1) - P(0))`` with ``P(F)`` the circuit's predicted PSD (its amplifier gain and
    noise, the load's Johnson noise: no reference sweep here, so both come from the circuit). The bias across the
    QPC is the applied bias divided between the series resistance and the QPC's measured differential resistance
    (exact for a linear I-V; the bias here is small).

    Raises:
        AnalysisError: missing columns, no bias, no open point.
    """
    require_columns(df, ["Gate (V)", "PSD (V^2/Hz)", "X (V)", "Bias (V)"], "noise against gate")
    d = add_conductance(df, circuit, excitation_V)
    d = d[np.isfinite(d["Gate (V)"]) & np.isfinite(d["PSD (V^2/Hz)"]) & np.isfinite(d["G (S)"])].sort_values("Gate (V)")
    g = d["G (S)"].to_numpy(float)
    v = circuit.sample_bias_V(d["Bias (V)"].to_numpy(float)) / (1.0 + np.clip(g, 0, None) * circuit.series_resistance_ohm)
    if not np.any(np.abs(v) > 0):
        raise AnalysisError("noise against gate: the bias is zero: no shot noise to measure")
    n_g0 = g / G0
    p0 = shot_noise_model_psd(v, g, n_g0, 0.0, temperature_K, 0.0, circuit) + circuit.noise_voltage_psd(0.0, 0.0, temperature_K)
    p1 = shot_noise_model_psd(v, g, n_g0, 1.0, temperature_K, 0.0, circuit) + circuit.noise_voltage_psd(0.0, 0.0, temperature_K)
    with np.errstate(divide="ignore", invalid="ignore"):
        fano = np.where(n_g0 > 0.05, (d["PSD (V^2/Hz)"].to_numpy(float) - p0) / (p1 - p0), np.nan)
    points = pd.DataFrame({"Gate (V)": d["Gate (V)"].to_numpy(float), "G/G0": n_g0, "V_qpc (V)": v, "F": fano})
    if not np.any(np.isfinite(fano)):
        raise AnalysisError("noise against gate: the QPC is pinched off at every point (G < 0.05 G0): no Fano factor")
    centres = []
    near = np.abs(n_g0 - np.round(n_g0))
    for n in range(int(np.nanmax(n_g0)) + 1):
        on = np.isfinite(fano) & (n_g0 > n + 0.25) & (n_g0 < n + 0.75)
        if on.any():
            k = int(np.flatnonzero(on)[np.argmin(np.abs(n_g0[on] - n - 0.5))])
            centres.append((n, float(points["Gate (V)"].iloc[k]), float(n_g0[k]), float(fano[k])))
    plateau = np.isfinite(fano) & (near < 0.03) & (n_g0 > 0.5)
    plateau_fano = (Value(float(np.mean(fano[plateau])), float(np.std(fano[plateau], ddof=1)), "")
                    if plateau.sum() >= 2 else None)
    return NoiseAgainstGate(points=points, riser_centres=centres, plateau_fano=plateau_fano,
                            temperature_K=temperature_K)
