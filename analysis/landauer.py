"""Landauer-Buttiker transport through a saddle-point quantum point contact.

Units: energies in eV (names end in ``_eV``), everything else SI (V, A, S, K, T). All functions are vectorised
with numpy broadcasting; scalar inputs give scalar (float) outputs.

Physics (see ``shared/docs/physics.md``):

* Saddle-point constriction (Buttiker, PRB 41, 7906 (1990)): transverse mode ``n`` sees an inverted parabola with
  the exact Kemble transmission ``T(eps) = 1 / (1 + exp(-2 pi eps))``.
* Channel (mode n, spin s = -1/2 or +1/2, valley v) at energy E relative to the Fermi level::

      eps = (barrier_offset + E - n hw_y - s |g| mu_B B -/+ valley_splitting / 2) / hw_x
      barrier_offset = sum_i lever_i (V_i - v_pinch)

* Landauer: ``G = (e^2/h) sum_ch <T_ch>`` per spin-resolved channel; current, dI/dV and the energy-dependent
  Blanter-Buttiker shot noise from the lead distributions ``f_L = f(E - a eV)``, ``f_R = f(E + (1 - a) eV)``.

How the energy integrals are done
---------------------------------
``T(E)`` of a clean saddle is itself a logistic (Fermi-like) function of width ``theta = hw_x / (2 pi)`` and
``-df/dE`` is the logistic density of width ``kT``. Every integral needed is then an expectation over
``Z = X + Y``, the sum of two independent logistic variables of scales ``kT`` and ``theta``:

* thermally averaged transmission   ``int (-f'(E - mu)) T(E) dE = P(Z < x)``              (``x = hw_x eps(mu)``)
* Landauer integral                 ``int T(E) f(E - mu) dE      = E[(x - Z)+] =: J(x)``
* ``int (-f'(E - mu)) T'(E) dE``     = density of Z at x
* shot-noise pieces via ``T^2 = T - theta T'`` and the exact identity
  ``(f_L - f_R)^2 = (f_L - f_R) coth(eV/2kT) - f_L(1 - f_L) - f_R(1 - f_R)``.

These one-dimensional expectations are computed with the trapezoid rule over the *narrower* of the two logistic
variables (nodes spaced 0.6 of its scale, out to 34 scales; weights normalised to one). The integrand is analytic
in a strip of half-width pi (in units of the narrow scale), so the error is ~exp(-2 pi^2 / 0.6) ~ 1e-14: the
accuracy and the cost (113 nodes) do not depend on temperature from 0 K to 10 K and beyond. At T = 0 the formulas
reduce to the exact closed forms. Tests compare every integral with ``scipy.integrate.quad`` of the definition.

The disorder model is phenomenological: a seeded per-mode reflection ``r_n = disorder * u_n * (1 + a_n sin(2 pi
offset / P_n + phi_n))`` (``u_n ~ U(0.5, 1)``, ripple amplitude ``a_n ~ U(0.2, 0.5)``, ripple period
``P_n ~ U(0.2, 0.5) hw_y`` in barrier offset) multiplies every channel of mode n by ``1 - r_n``. It depends on the
gates (through the barrier offset), not on energy: bias and temperature do not smear it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numpy as np

from .constants import E, E2_H, K_B_EV, MU_B_EV

__all__ = [
    "saddle_transmission",
    "fermi",
    "SaddlePointQPC",
    "blanter_buttiker_noise",
    "fano_factor",
    "thermal_step_width_eV",
]

TWO_PI = 2.0 * math.pi

# ---- quadrature over a standard logistic variable (density e^-|t| / (1 + e^-|t|)^2) ------------------------------
_QUAD_STEP = 0.6  # node spacing in units of the narrow scale: error ~ exp(-2 pi^2 / step) ~ 5e-15
_QUAD_SPAN = 34.0  # +- span in units of the narrow scale: truncation ~ exp(-span) ~ 2e-15
_NQ = int(round(_QUAD_SPAN / _QUAD_STEP))
_T_NODES = _QUAD_STEP * np.arange(-_NQ, _NQ + 1, dtype=float)
_e = np.exp(-np.abs(_T_NODES))
_W_NODES = _e / (1.0 + _e) ** 2
_W_NODES = _W_NODES / _W_NODES.sum()  # exact normalisation: kT -> 0 and constant integrands exact
del _e

_TAIL_CUT = 40.0  # |x| beyond 40 (kT + hw_x/2pi): a channel is fully open or closed to ~1e-17
_CHUNK_ELEMENTS = 2_000_000  # max (points x channels x nodes) evaluated at once


def _logistic_cdf(u):
    """Standard logistic CDF 1/(1+exp(-u)), stable for large |u| (full relative precision in both tails)."""
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _out(a):
    """Return a Python float for 0-d results, the array otherwise."""
    a = np.asarray(a)
    return float(a) if a.ndim == 0 else a


def saddle_transmission(eps):
    """Kemble transmission of an inverted parabolic barrier, ``T = 1 / (1 + exp(-2 pi eps))``.

    ``eps`` is the (dimensionless) energy above the barrier top in units of ``hbar omega_x``. Numerically stable
    for any ``|eps|`` (no overflow; full relative precision in both tails). ``T(eps) + T(-eps) = 1``.
    """
    return _out(_logistic_cdf(TWO_PI * np.asarray(eps, dtype=float)))


def fermi(energy_eV, kT_eV):
    """Fermi-Dirac occupation ``1 / (1 + exp(E / kT))`` of an energy (eV) relative to the chemical potential.

    ``kT_eV`` in eV (may be an array broadcasting with ``energy_eV``). ``kT_eV == 0`` gives the step function
    with the value 0.5 at ``E = 0``. Stable for any ratio ``E / kT``.
    """
    en = np.asarray(energy_eV, dtype=float)
    kt = np.asarray(kT_eV, dtype=float)
    if np.any(kt < 0):
        raise ValueError("kT_eV must be >= 0")
    pos = kt > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f = _logistic_cdf(-en / np.where(pos, kt, 1.0))
    step = np.where(en < 0, 1.0, np.where(en > 0, 0.0, 0.5))
    return _out(np.where(pos, f, step))


def _x_coth_half(ev, kt):
    """``eV coth(eV / 2kT)`` (eV), with the limits 2kT at V = 0 and |eV| at T = 0."""
    ev = np.asarray(ev, dtype=float)
    kt = np.asarray(kt, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = ev / (2.0 * kt)
        val = 2.0 * kt * u / np.tanh(u)
    val = np.where(ev == 0, 2.0 * kt, val)
    return np.where(kt == 0, np.abs(ev), val)


def _zstats(x, s_n, s_w, cdf=False, pdf=False, jr=False):
    """Expectations over Z = X_narrow + Y_wide (logistic scales s_n <= s_w, eV) at points x (eV).

    ``x`` has shape (P, C); ``s_n``, ``s_w`` shape (P, 1). Returns a dict with, as requested,
    ``cdf`` = P(Z < x), ``pdf`` = density of Z at x (1/eV), ``jr`` = J(-|x|) with J(x) = E[(x - Z)+] (eV),
    so that ``J(x) = max(x, 0) + jr``.

    Points with ``|x| > 40 (s_n + s_w)`` are in the tails (P(X > 40 s) = e^-40 ~ 4e-18): there cdf = step, pdf = jr = 0.
    """
    s_n = np.broadcast_to(s_n, x.shape)
    s_w = np.broadcast_to(s_w, x.shape)
    near = np.abs(x) < _TAIL_CUT * (s_n + s_w)
    out = {}
    if cdf:
        out["cdf"] = (x > 0).astype(float)
    if pdf:
        out["pdf"] = np.zeros(x.shape)
    if jr:
        out["jr"] = np.zeros(x.shape)
    if not near.any():
        return out
    xn, sn, sw = x[near], s_n[near], s_w[near]
    u = (xn[:, None] - sn[:, None] * _T_NODES) / sw[:, None]
    e = np.exp(-np.abs(u))
    if cdf:
        out["cdf"][near] = np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e)) @ _W_NODES
    if pdf:
        out["pdf"][near] = ((e / (1.0 + e) ** 2) @ _W_NODES) / sw
    if jr:
        # J(x) = x + J(-x) (Z is symmetric); with symmetric nodes J(-|x|) = s_w sum w [max(-sgn(x) u, 0) + log1p(e)]
        sg = np.where(xn >= 0, -1.0, 1.0)[:, None]
        out["jr"][near] = ((np.maximum(sg * u, 0.0) + np.log1p(e)) @ _W_NODES) * sw
    return out


@dataclass(frozen=True)
class SaddlePointQPC:
    """Saddle-point QPC (Buttiker 1990) with gates, Zeeman and valley splitting, optional disorder.

    Parameters (energies in eV):
        hw_x_eV: hbar omega_x, barrier curvature along transport (step width hw_x / 2 pi).
        hw_y_eV: hbar omega_y, transverse subband spacing.
        lever_arms_eV_per_V: gate name -> lever arm (eV/V, positive): the barrier offset rises by
            ``lever * dV`` when that gate is made more positive.
        v_pinch: gate voltage (V) at which, with every gate there, the lowest channel is exactly half open.
        n_modes: number of transverse modes.
        g_factor: electron g factor (its magnitude enters the Zeeman splitting).
        valley_degeneracy: 1 (GaAs) or 2 (Si-like, 4e^2/h steps).
        valley_splitting_eV: splitting of the two valleys (ignored if valley_degeneracy == 1).
        disorder: 0 = clean. > 0: seeded, reproducible per-mode backscattering (see module docstring); typical
            0.01-0.3. Plateaus fall below the integers and ripple with gate voltage.
        disorder_seed: seed of the disorder realisation.

    Channels are ordered ``index = (n * 2 + i_s) * valley_degeneracy + i_v`` with spin ``s = (-1/2, +1/2)[i_s]``
    (s = -1/2 opens first in a field) and valley ``i_v`` (valley 1 opens first when split).
    """

    hw_x_eV: float = 0.5e-3
    hw_y_eV: float = 2.0e-3
    lever_arms_eV_per_V: Mapping[str, float] = field(default_factory=lambda: {"gate": 0.02})
    v_pinch: float = -1.0
    n_modes: int = 12
    g_factor: float = -0.44
    valley_degeneracy: int = 1
    valley_splitting_eV: float = 0.0
    disorder: float = 0.0
    disorder_seed: int = 0

    def __post_init__(self):
        if not self.hw_x_eV > 0:
            raise ValueError(f"hw_x_eV must be > 0, got {self.hw_x_eV!r}")
        if not self.hw_y_eV >= 0:
            raise ValueError(f"hw_y_eV must be >= 0, got {self.hw_y_eV!r}")
        if int(self.n_modes) != self.n_modes or self.n_modes < 1:
            raise ValueError(f"n_modes must be a positive integer, got {self.n_modes!r}")
        if self.valley_degeneracy not in (1, 2):
            raise ValueError(f"valley_degeneracy must be 1 or 2, got {self.valley_degeneracy!r}")
        if not self.disorder >= 0:
            raise ValueError(f"disorder must be >= 0, got {self.disorder!r}")
        if not self.lever_arms_eV_per_V:
            raise ValueError("lever_arms_eV_per_V: at least one gate is needed")
        for name, lev in self.lever_arms_eV_per_V.items():
            if not float(lev) > 0:
                raise ValueError(f"lever arm of gate {name!r} must be > 0 eV/V, got {lev!r}")

    # ---- channel bookkeeping ---------------------------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        """Number of spin- and valley-resolved channels: ``n_modes * 2 * valley_degeneracy``."""
        return int(self.n_modes) * 2 * int(self.valley_degeneracy)

    @cached_property
    def _levers(self) -> tuple[tuple[str, float], ...]:
        return tuple((str(k), float(v)) for k, v in self.lever_arms_eV_per_V.items())

    @cached_property
    def _channels(self):
        """Per channel: mode index, spin s, zero-field energy shift (eV)."""
        nv = int(self.valley_degeneracy)
        vs = float(self.valley_splitting_eV) if nv == 2 else 0.0
        mode, spin, base = [], [], []
        for n in range(int(self.n_modes)):
            for s in (-0.5, 0.5):
                for iv in range(nv):
                    mode.append(n)
                    spin.append(s)
                    # eps contains "-/+ valley_splitting/2": valley 0 -> -vs/2 (shift +vs/2), valley 1 -> +vs/2
                    base.append(n * self.hw_y_eV + (0.5 * vs if iv == 0 else -0.5 * vs) * (nv == 2))
        return np.array(mode), np.array(spin), np.array(base, dtype=float)

    @cached_property
    def _zero_field_groups(self):
        """Channels merged where identical at B = 0: (shift, multiplicity, mode index)."""
        mode, _, base = self._channels
        keys = {}
        for m, b in zip(mode.tolist(), base.tolist()):
            keys[(m, b)] = keys.get((m, b), 0) + 1
        items = sorted(keys.items())
        return (np.array([k[1] for k, _ in items]), np.array([c for _, c in items], dtype=float),
                np.array([k[0] for k, _ in items]))

    @cached_property
    def _zeeman_eV_per_T(self) -> float:
        return abs(float(self.g_factor)) * MU_B_EV

    @cached_property
    def _disorder_params(self):
        rng = np.random.default_rng(int(self.disorder_seed))
        n = int(self.n_modes)
        u = rng.uniform(0.5, 1.0, n)
        amp = rng.uniform(0.2, 0.5, n)
        period = self.hw_y_eV * rng.uniform(0.2, 0.5, n) if self.hw_y_eV > 0 else self.hw_x_eV * rng.uniform(1, 2, n)
        phase = rng.uniform(0.0, TWO_PI, n)
        return u, amp, period, phase

    def _disorder_factor(self, offset, modes):
        """Transmission factor 1 - r_n(offset) for the given mode indices; offset shape (P,) -> (P, len(modes))."""
        u, amp, period, phase = self._disorder_params
        u, amp, period, phase = u[modes], amp[modes], period[modes], phase[modes]
        r = self.disorder * u * (1.0 + amp * np.sin(TWO_PI * offset[:, None] / period + phase))
        return 1.0 - np.clip(r, 0.0, 1.0)

    # ---- gates -----------------------------------------------------------------------------------------------
    def barrier_offset_eV(self, gates: Mapping[str, float]):
        """Barrier offset ``sum_i lever_i (V_i - v_pinch)`` (eV) for gate voltages (V; floats or arrays).

        Zero means the lowest channel is half open. Raises ValueError for an unknown gate name or a gate of the
        model missing from ``gates``.
        """
        levers = self._levers
        for name in gates:
            if name not in self.lever_arms_eV_per_V:
                raise ValueError(f"unknown gate {name!r}; this QPC has gates {sorted(self.lever_arms_eV_per_V)}")
        total = 0.0
        vp = float(self.v_pinch)
        for name, lev in levers:
            if name not in gates:
                raise ValueError(f"gate {name!r} missing from the gate voltages (need {sorted(self.lever_arms_eV_per_V)})")
            v = gates[name]
            if isinstance(v, (float, int)):
                total = total + lev * (float(v) - vp)
            else:
                total = total + lev * (np.asarray(v, dtype=float) - vp)
        return total if type(total) is float else _out(total)

    # ---- transmissions -----------------------------------------------------------------------------------------
    def transmissions(self, gates, energy_eV=0.0, field_T=0.0):
        """Transmission of every channel at energy ``energy_eV`` (eV, relative to the Fermi level) in field (T).

        Returns an array of shape ``broadcast(gates..., energy, field) + (n_channels,)`` (channel order: see class
        docstring). Zero temperature, no averaging: this is the bare ``T_ch(E)``.
        """
        offset = np.asarray(self.barrier_offset_eV(gates), dtype=float)
        en = np.asarray(energy_eV, dtype=float)
        b = np.asarray(field_T, dtype=float)
        shape = np.broadcast_shapes(offset.shape, en.shape, b.shape)
        mode, spin, base = self._channels
        off = np.broadcast_to(offset, shape).reshape(-1)
        x = (off + np.broadcast_to(en, shape).reshape(-1))[:, None] - base \
            - np.broadcast_to(b, shape).reshape(-1)[:, None] * spin * self._zeeman_eV_per_T
        t = _logistic_cdf(x * (TWO_PI / self.hw_x_eV))
        if self.disorder > 0:
            t = t * self._disorder_factor(off, mode)
        return t.reshape(shape + (self.n_channels,))

    # ---- the engine ----------------------------------------------------------------------------------------------
    def _evaluate(self, kind, gates, bias_V, temperature_K, field_T, asymmetry):
        offset = self.barrier_offset_eV(gates)
        inputs = (offset, bias_V, temperature_K, field_T, asymmetry)
        if all(isinstance(a, (float, int)) for a in inputs):  # hot path: plain scalars
            arrays = [np.array([float(a)]) for a in inputs]
            shape = ()
        elif all(np.ndim(a) == 0 for a in inputs):
            arrays = [np.array([float(a)]) for a in inputs]
            shape = ()
        else:
            arrays = [np.asarray(a, dtype=float) for a in (offset, bias_V, temperature_K, field_T, asymmetry)]
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            arrays = [np.broadcast_to(a, shape).reshape(-1) for a in arrays]
        off, bias, temp, bfield, asym = arrays
        if not (temp >= 0).all() or not np.isfinite(temp).all():
            raise ValueError("temperature_K must be finite and >= 0")
        if kind != "G" and not ((asym >= 0) & (asym <= 1)).all():
            raise ValueError("asymmetry must be within [0, 1]")
        shifts, mult, modes = self._channel_set(bfield)
        n_ch = mult.size
        chunk = max(1, _CHUNK_ELEMENTS // (n_ch * _T_NODES.size * 3))
        if kind == "IG":  # current and dI/dV from one pass (both need the same expectations)
            out2 = np.empty((2, off.size))
            for i0 in range(0, off.size, chunk):
                sl = slice(i0, i0 + chunk)
                out2[:, sl] = self._evaluate_chunk(kind, off[sl], bias[sl], temp[sl], asym[sl], shifts[sl], mult, modes)
            return tuple(_out(o.reshape(shape)) if shape != () else float(o[0]) for o in out2)
        out = np.empty(off.size)
        for i0 in range(0, off.size, chunk):
            sl = slice(i0, i0 + chunk)
            out[sl] = self._evaluate_chunk(kind, off[sl], bias[sl], temp[sl], asym[sl], shifts[sl], mult, modes)
        return _out(out.reshape(shape)) if shape != () else float(out[0])

    def _channel_set(self, bfield):
        """The channels for fields ``bfield`` (T, shape (P,)): (energy shifts (P, C) in eV, multiplicity (C,),
        mode index (C,)). Merged where identical at zero field (scalar field == 0), all spin-resolved otherwise."""
        if not bfield.any():
            shift, mult, modes = self._zero_field_groups
            return np.broadcast_to(shift, (bfield.size, shift.size)), mult, modes
        modes, spin, base = self._channels
        return base + bfield[:, None] * spin * self._zeeman_eV_per_T, np.ones(base.size), modes

    def _channel_edges(self, off, shifts, modes, kt):
        """(``hw_x * eps`` of each channel at the Fermi level (P, C) in eV, logistic scale ``hw_x / 2 pi`` of its
        transmission in eV: a scalar here, per channel where a subclass shapes the channels). ``kt`` (P,): k_B T in eV,
        for channels whose edges depend on temperature."""
        return off[:, None] - shifts, self.hw_x_eV / TWO_PI

    def _evaluate_chunk(self, kind, off, bias, temp, asym, shifts, mult, modes):
        kt = K_B_EV * temp
        x0, theta = self._channel_edges(off, shifts, modes, kt)  # x0: hw_x * eps of each channel at E_F, (P, C)
        s_n = np.minimum(kt[:, None], theta)
        s_w = np.maximum(kt[:, None], theta)
        dis = self._disorder_factor(off, modes) if self.disorder > 0 else None
        if kind == "G":
            c = _zstats(x0, s_n, s_w, cdf=True)["cdf"]
            t = c if dis is None else c * dis
            return E2_H * (t @ mult)
        ev = bias  # e V in eV
        mu_l = (asym * ev)[:, None]
        mu_r = (-(1.0 - asym) * ev)[:, None]
        xl, xr = x0 + mu_l, x0 + mu_r
        if kind == "dIdV":
            cl = _zstats(xl, s_n, s_w, cdf=True)["cdf"]
            cr = _zstats(xr, s_n, s_w, cdf=True)["cdf"]
            t = asym[:, None] * cl + (1.0 - asym[:, None]) * cr
            if dis is not None:
                t = t * dis
            return E2_H * (t @ mult)
        # I and noise need B[F] / eV = (J(xl) - J(xr)) / eV; Simpson on dJ/dx = cdf for tiny |eV|
        scale = s_w.min(axis=1)
        small = np.abs(ev) < 1e-3 * scale
        zl = _zstats(xl, s_n, s_w, cdf=True, pdf=kind == "S", jr=True)
        zr = _zstats(xr, s_n, s_w, cdf=True, pdf=kind == "S", jr=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            ev_safe = np.where(ev == 0, 1.0, ev)[:, None]
            b_over = ((np.maximum(xl, 0) - np.maximum(xr, 0)) + (zl["jr"] - zr["jr"])) / ev_safe
            dc_over = (zl["cdf"] - zr["cdf"]) / ev_safe
        if np.any(small):
            xm = 0.5 * (xl[small] + xr[small])
            zm = _zstats(xm, s_n[small], s_w[small], cdf=True, pdf=kind == "S")
            b_over[small] = (zl["cdf"][small] + 4.0 * zm["cdf"] + zr["cdf"][small]) / 6.0
            if kind == "S":
                dc_over[small] = (zl["pdf"][small] + 4.0 * zm["pdf"] + zr["pdf"][small]) / 6.0
        if kind == "I":
            t = b_over if dis is None else b_over * dis
            return E2_H * ev * (t @ mult)
        if kind == "IG":
            t = b_over if dis is None else b_over * dis
            tg = asym[:, None] * zl["cdf"] + (1.0 - asym[:, None]) * zr["cdf"]
            if dis is not None:
                tg = tg * dis
            return np.stack([E2_H * ev * (t @ mult), E2_H * (tg @ mult)])
        # kind == "S": (2e^2/h) int { T^2 [fL(1-fL) + fR(1-fR)] + T(1-T)(fL - fR) coth(eV/2kT) } dE
        d = np.ones_like(x0) if dis is None else dis
        therm = kt[:, None] * d**2 * (zl["cdf"] + zr["cdf"] - theta * (zl["pdf"] + zr["pdf"]))
        q = _x_coth_half(ev, kt)[:, None]
        shot = q * (d * (1.0 - d) * b_over + d**2 * theta * dc_over)
        return 2.0 * E2_H * E * ((therm + shot) @ mult)

    # ---- public transport quantities ---------------------------------------------------------------------------
    def conductance(self, gates, temperature_K, field_T=0.0):
        """Linear-response conductance (S): ``(e^2/h) sum_ch int (-df/dE) T_ch(E) dE`` at temperature (K), field (T).

        Gate values, temperature and field broadcast; scalars give a float.
        """
        if self.disorder == 0 and type(temperature_K) is float and type(field_T) is float:
            offset = self._scalar_offset(gates)
            if offset is not None:
                return self._conductance_scalar(offset, temperature_K, field_T)
        return self._evaluate("G", gates, 0.0, temperature_K, field_T, 0.5)

    def _scalar_offset(self, gates) -> float | None:
        """:meth:`barrier_offset_eV` for exactly the model's gates, all plain floats; None otherwise (the general
        path then computes it, or raises for an unknown or missing gate)."""
        levers = self._levers
        if len(gates) != len(levers):
            return None
        total = 0.0
        vp = float(self.v_pinch)
        for name, lev in levers:
            v = gates.get(name)
            if type(v) is not float:
                return None
            total = total + lev * (v - vp)
        return total

    @cached_property
    def _scalar_groups(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(shift, multiplicity) per channel group at zero field, in rising shift (the first to open first), and
        (base shift, spin) per channel."""
        shift, mult, _ = self._zero_field_groups
        _, spin, base = self._channels
        return sorted(zip(shift.tolist(), mult.tolist())), list(zip(base.tolist(), spin.tolist()))

    @cached_property
    def _node_exp_cache(self) -> dict[float, np.ndarray]:
        return {}

    def _node_exp(self, ratio: float) -> np.ndarray:
        """``exp(ratio * t_j)`` at the quadrature nodes ``t_j`` (``ratio = s_n / s_w``), kept per ratio: one
        temperature needs one array, however many gate points follow."""
        cache = self._node_exp_cache
        e = cache.get(ratio)
        if e is None:
            if len(cache) >= 64:
                cache.clear()
            e = cache[ratio] = np.exp(ratio * _T_NODES)
        return e

    def _conductance_scalar(self, offset: float, temperature_K: float, field_T: float) -> float:
        """The simulator's hot path (one gate point, clean saddle): the quadrature of :func:`_zstats`, with plain
        floats for the channels that are fully open or closed and a few small array operations for the ones in
        transition.

        At node ``t_j`` the logistic CDF of ``u_j = (x - s_n t_j) / s_w`` is ``1 / (1 + exp(-u_j)) = p / (p + e_j)``
        with ``p = exp(x / s_w)`` and ``e_j = exp((s_n / s_w) t_j)``: ``e_j`` depends on the temperature only
        (cached), so a channel costs one ``exp`` and one weighted sum. For a channel in transition
        ``|x| < 40 (s_n + s_w)``, so ``p`` and ``e_j`` lie within ``e^+-80``: no overflow or underflow, and
        ``p / (p + e_j)`` keeps full relative precision in both tails (agreement with the array engine ~1e-15
        relative).
        """
        if not (temperature_K >= 0 and math.isfinite(temperature_K)):
            raise ValueError("temperature_K must be finite and >= 0")
        theta = self.hw_x_eV / TWO_PI
        kt = K_B_EV * temperature_K
        s_n, s_w = min(kt, theta), max(kt, theta)
        cut = _TAIL_CUT * (s_n + s_w)
        zero_field, channels = self._scalar_groups
        total = 0.0
        near_p, near_m = [], []
        exp = math.exp
        if field_T == 0.0:
            for shift, m in zero_field:  # rising shift: x falls; once a channel is closed, so are the rest
                x = offset - shift
                if x >= cut:
                    total += m
                elif x > -cut:
                    near_p.append(exp(x / s_w))
                    near_m.append(m)
                else:
                    break
        else:
            z = field_T * self._zeeman_eV_per_T
            for b, sp in channels:
                x = offset - (b + z * sp)
                if x >= cut:
                    total += 1.0
                elif x > -cut:
                    near_p.append(exp(x / s_w))
                    near_m.append(1.0)
        if near_p:
            # sum_j w_j / (1 + exp(-u_j)) = p sum_j w_j / (p + e_j), p = exp(x / s_w), e_j = exp((s_n / s_w) t_j)
            e = self._node_exp(s_n / s_w)
            if len(near_p) == 1:
                p = near_p[0]
                a = e + p
                total += near_m[0] * (p * float(_W_NODES @ np.reciprocal(a, out=a)))
            else:
                a = np.array(near_p)[:, None] + e
                for m, p, c in zip(near_m, near_p, (np.reciprocal(a, out=a) @ _W_NODES).tolist()):
                    total += m * (p * c)
        return E2_H * total

    def current(self, gates, bias_V, temperature_K, field_T=0.0, asymmetry=0.5):
        """DC current (A): ``(e/h) sum_ch int T_ch(E) [f_L(E) - f_R(E)] dE``.

        The bias (V) is split ``mu_L = +asymmetry e V``, ``mu_R = -(1 - asymmetry) e V``; positive bias gives a
        positive current. Temperature in K, field in T.
        """
        return self._evaluate("I", gates, bias_V, temperature_K, field_T, asymmetry)

    def bias_with_series(self, gates, applied_V, temperature_K, field_T=0.0, series_ohm=0.0, asymmetry=0.5):
        """(dI/dV (S), I (A), V_qpc (V)) with an applied bias (V, array or scalar) divided between a series
        resistance (ohm) and the QPC: Newton on ``V_qpc + R I(V_qpc) = V_applied`` (to 1e-8 of the largest |V|).
        Temperature in K, field in T."""
        v_app = np.asarray(applied_V, dtype=float)
        g = np.asarray(self.differential_conductance(gates, 0.0 * v_app, temperature_K, field_T, asymmetry), dtype=float)
        v = v_app / (1.0 + g * series_ohm)
        for _ in range(12):
            i, g = (np.asarray(a, dtype=float) for a in self.current_and_conductance(gates, v, temperature_K, field_T,
                                                                                      asymmetry))
            dv = (v + series_ohm * i - v_app) / (1.0 + series_ohm * g)
            v = v - dv
            if np.all(np.abs(dv) <= 1e-8 * max(float(np.max(np.abs(v_app), initial=0.0)), 1e-12)):
                break
        i, g = (np.asarray(a, dtype=float) for a in self.current_and_conductance(gates, v, temperature_K, field_T,
                                                                                  asymmetry))
        return g, i, v

    def current_and_conductance(self, gates, bias_V, temperature_K, field_T=0.0, asymmetry=0.5):
        """(:meth:`current` (A), :meth:`differential_conductance` (S)) from one evaluation: the same values."""
        return self._evaluate("IG", gates, bias_V, temperature_K, field_T, asymmetry)

    def differential_conductance(self, gates, bias_V, temperature_K, field_T=0.0, asymmetry=0.5):
        """dI/dV (S) at bias (V): ``(e^2/h) sum_ch [a <T_ch>_L + (1 - a) <T_ch>_R]``, ``<.>`` the ``-f'`` averages
        at each lead's chemical potential. Shows half plateaus when eV is comparable to hw_y."""
        return self._evaluate("dIdV", gates, bias_V, temperature_K, field_T, asymmetry)

    def noise(self, gates, bias_V, temperature_K, field_T=0.0, asymmetry=0.5):
        """Current noise spectral density S_I (A^2/Hz, the symmetrised ``2 int <dI dI>`` convention: 4kTG at V=0).

        Energy-dependent Blanter-Buttiker form per spin-resolved channel::

            S = (2e^2/h) sum_ch int dE { T [f_L(1-f_L) + f_R(1-f_R)] + T (1-T) (f_L - f_R)^2 }

        Bias in V, temperature in K, field in T.
        """
        return self._evaluate("S", gates, bias_V, temperature_K, field_T, asymmetry)


# ---- closed forms ------------------------------------------------------------------------------------------------
def blanter_buttiker_noise(transmissions, bias_V, temperature_K):
    """Shot plus thermal noise (A^2/Hz) for energy-independent transmissions (Blanter & Buttiker 2000).

    ``transmissions``: array (..., n) of spin-resolved channel transmissions (summed over the last axis).
    ``S = (2e^2/h) sum_n [2 kT T_n^2 + eV coth(eV / 2kT) T_n (1 - T_n)]``, with the limits
    ``eV coth(eV/2kT) -> 2kT`` at V = 0 and ``-> |eV|`` at T = 0. ``bias_V`` (V) and ``temperature_K`` (K)
    broadcast with the leading axes of ``transmissions``.
    """
    t = np.asarray(transmissions, dtype=float)
    if t.ndim == 0:
        t = t[None]
    kt = K_B_EV * np.asarray(temperature_K, dtype=float)
    ev = np.asarray(bias_V, dtype=float)
    s2 = np.sum(t**2, axis=-1)
    s1 = np.sum(t * (1.0 - t), axis=-1)
    return _out(2.0 * E2_H * E * (2.0 * kt * s2 + _x_coth_half(ev, kt) * s1))


def fano_factor(transmissions):
    """Fano factor ``F = sum T(1-T) / sum T`` over the last axis of ``transmissions`` (dimensionless).

    All channels closed (sum T = 0) gives ``nan`` (0/0), without a warning.
    """
    t = np.asarray(transmissions, dtype=float)
    if t.ndim == 0:
        t = t[None]
    num = np.sum(t * (1.0 - t), axis=-1)
    den = np.sum(t, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    return _out(f)


def thermal_step_width_eV(hw_x_eV, temperature_K):
    """Rough effective step width (eV): ``sqrt((hw_x / 2 pi)^2 + (k_B T)^2)`` (physics.md; within about 6%).

    It estimates the logistic scale of a thermally smeared saddle step; the 10-90% width is ``2 ln 9`` times it.
    """
    hw = np.asarray(hw_x_eV, dtype=float)
    kt = K_B_EV * np.asarray(temperature_K, dtype=float)
    return _out(np.hypot(hw / TWO_PI, kt))
