"""Integer quantum Hall effect of a 2DEG Hall bar: R_xx and R_xy versus perpendicular field and temperature.

Units: energies in eV, everything else SI (m^-2, m^2/Vs, T, K, ohm). Vectorised over field, temperature and
density (broadcast together).

Model (phenomenological, documented choices)
--------------------------------------------
* Spin-resolved Landau levels ``E_{N,s} = hbar omega_c (N + 1/2) + s |g| mu_B B`` (s = -1/2, +1/2), each holding
  ``eB/h`` states per m^2, with **Gaussian** broadening of standard deviation ``Gamma = level_broadening_eV``
  (field independent).
* A fraction ``b = background_dos_fraction`` of the zero-field density of states ``g_0 = m*/(pi hbar^2)`` is a
  flat background of localised states (E > 0); the levels hold the rest, ``(1 - b) eB/h`` each. This reservoir
  pins mu inside the cyclotron gaps over a range of fields, so plateaus survive where kT exceeds Gamma but not
  the gap (b = 0: plateaus only from the localised level tails).
* The chemical potential ``mu`` is fixed by the density at every (B, T):
  ``n = b g_0 int_0^inf f(E - mu) dE + (1 - b)(eB/h) sum_l int N(E - E_l; Gamma) f(E - mu) dE``.
* Localisation: only states near the level centres are extended. At energy E a fraction
  ``exp(-(E - E_l)^2 (1/sigma_e^2 - 1/Gamma^2) / 2)`` of the states of level l is extended, so the extended
  density of states of a level is a Gaussian of width ``sigma_e`` and weight ``(sigma_e/Gamma) eB/h`` (same peak as
  the level). ``sigma_e = Gamma s(r)``, ``r = hbar omega_c / Gamma``,
  ``s = xi + (1 - xi) exp(-(max(r - 1.5, 0) / 3)^2)`` with ``xi = extended_fraction``: deep in the quantum Hall
  regime (``r >> 1``) ``sigma_e = xi Gamma``; when the levels overlap (``r <= 1.5``) every state is extended.
  Thermal activation delocalises the tails: ``sigma_e -> min(Gamma, hypot(sigma_e, kT))``, so at kT >~ Gamma
  transport is classical again except where mu sits in a cyclotron or spin gap.
* Hall conductivity: ``sigma_xy = (e^2/h) nu_ext`` with ``nu_ext = sum_l int (-f'(E - mu)) Phi((E - E_l)/sigma_e)``
  the thermally smeared number of levels whose extended states lie below mu (Laughlin), joined to Drude:
  ``sigma_xy = sigma_xy^D + (e^2/h)(nu_ext - nu) - (sigma_xx - sigma_xx^D) / (mu_m B)``. On a plateau
  (``sigma_xx = 0``, ``nu_ext`` integer) this is exactly ``nu_ext e^2/h``; at low field (``nu_ext -> nu``,
  ``sigma_xx -> sigma_xx^D``) it is exactly Drude.
* Longitudinal conductivity from the Einstein relation with the Drude diffusion constant:
  ``sigma_xx = sigma_xx^D <g_ext(E)>_T / g_0``, ``g_ext`` the extended density of states, ``g_0 = m*/(pi hbar^2)``.
  At low field ``g_ext -> g_0`` (Drude; the weak-field oscillation is the Dingle-type harmonic
  ``2 exp(-2 pi^2 Gamma^2/(hbar omega_c)^2) cos(pi |g| m*/2m_e) X/sinh X``); at higher field it shows
  Shubnikov-de Haas peaks where mu sits in a level centre (peak ``rho_xx ~ rho_0 hbar omega_c / (2.5 Gamma)``) and
  ~0 in between; its energy average ``(sigma_e/Gamma) g_0`` falls as the tails localise.
* Resistivity = inverse of the conductivity tensor; ``R_xx = rho_xx L/W``, ``R_xy = rho_xy``. Sign convention:
  ``R_xy > 0`` for ``B > 0`` (``R_xy = B / (n e)`` at low field); ``R_xy`` is odd and ``R_xx`` even in B.
* Where the quantum oscillations are negligible (Dingle-like factor ``exp(-2 pi^2 sigma_e^2 / (hbar omega_c)^2)``
  times the thermal factor ``X / sinh X``, ``X = 2 pi^2 kT / hbar omega_c``, below 1e-14) the pure Drude result is
  returned; at ``B = 0``: ``R_xy = 0``, ``R_xx = (L/W) / (n e mu)``.

Odd (spin-split) plateaus need the Zeeman splitting to exceed a few ``sigma_e``: with bulk GaAs ``g = -0.44``,
``Gamma = 0.1 meV`` and ``xi = 0.2`` this happens above ~5 T (nu = 1 at 2e11 cm^-2, nu = 3 at 6e11 cm^-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .constants import E, H, HBAR, K_B_EV, M_E, MU_B_EV

__all__ = ["HallBar"]

_SQRT2PI = math.sqrt(2.0 * math.pi)

# quadrature for expectations over a standard logistic variable (narrow thermal weight)
_LT_STEP, _LT_SPAN = 0.7, 28.0
_LT = _LT_STEP * np.arange(-int(_LT_SPAN / _LT_STEP), int(_LT_SPAN / _LT_STEP) + 1)
_e = np.exp(-np.abs(_LT))
_LW = _e / (1.0 + _e) ** 2
_LW /= _LW.sum()
# quadrature for expectations over a standard normal variable (narrow Gaussian)
_GT_STEP, _GT_SPAN = 0.5, 8.5
_GT = _GT_STEP * np.arange(-int(_GT_SPAN / _GT_STEP), int(_GT_SPAN / _GT_STEP) + 1)
_GW = np.exp(-0.5 * _GT**2)
_GW /= _GW.sum()
del _e

_CROSSOVER_START, _CROSSOVER_SCALE = 1.5, 3.0  # localisation sets in above hbar omega_c / Gamma = 1.5
_QUANTUM_CUTOFF = 1e-14  # below this oscillation amplitude the result is pure Drude
_TAIL = 9.0  # Gaussian tails beyond 9 sigma are dropped (Phi(-9) ~ 1e-19)
_LOGISTIC_TAIL = 37.0  # logistic tails beyond 37 kT are dropped (e^-37 ~ 1e-16)


def _conv(x, sigma, kt, want_pdf=False):
    """CDF (and density, 1/eV) at x (eV) of G + X, G ~ Normal(0, sigma), X ~ logistic of scale kt.

    ``x``: (P, M); ``sigma``, ``kt``: (P, 1), sigma > 0, kt >= 0. Trapezoid over the narrower variable.
    """
    cdf = np.empty_like(x)
    pdf = np.empty_like(x) if want_pdf else None
    thermal_narrow = (kt <= sigma)[:, 0]
    if np.any(thermal_narrow):
        i = thermal_narrow
        z = (x[i][..., None] - kt[i][..., None] * _LT) / sigma[i][..., None]
        cdf[i] = ndtr(z) @ _LW
        if want_pdf:
            pdf[i] = (np.exp(-0.5 * z**2) @ _LW) / (_SQRT2PI * sigma[i])
    if not np.all(thermal_narrow):
        i = ~thermal_narrow
        u = (x[i][..., None] - sigma[i][..., None] * _GT) / kt[i][..., None]
        e = np.exp(-np.abs(u))
        cdf[i] = np.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e)) @ _GW
        if want_pdf:
            pdf[i] = ((e / (1.0 + e) ** 2) @ _GW) / kt[i]
    return cdf, pdf


@dataclass(frozen=True)
class HallBar:
    """2DEG Hall bar in a perpendicular field (integer quantum Hall effect, Shubnikov-de Haas).

    Parameters:
        density_m2: electron density (m^-2); 2e15 m^-2 = 2e11 cm^-2.
        mobility_m2_per_Vs: transport mobility (m^2/Vs); 100 = 1e6 cm^2/Vs.
        effective_mass_ratio: m*/m_e.
        g_factor: electron g factor (its magnitude sets the Zeeman splitting).
        level_broadening_eV: Gaussian standard deviation Gamma of each Landau level (eV).
        length_over_width: L/W between the voltage probes, R_xx = rho_xx L/W.
        extended_fraction: sigma_e / Gamma deep in the quantum Hall regime, the width of the band of extended
            states at each level centre relative to the level width (0 < xi <= 1). Sets the plateau widths.
        background_dos_fraction: fraction b of g_0 in a flat background of localised states (0 <= b < 1).
            Sets how far plateaus survive in temperature.
        (The last two are extra parameters, beyond the original specification.)
    """

    density_m2: float = 2.0e15
    mobility_m2_per_Vs: float = 100.0
    effective_mass_ratio: float = 0.067
    g_factor: float = -0.44
    level_broadening_eV: float = 0.1e-3
    length_over_width: float = 1.0
    extended_fraction: float = 0.2
    background_dos_fraction: float = 0.2

    def __post_init__(self):
        for name in ("density_m2", "mobility_m2_per_Vs", "effective_mass_ratio", "level_broadening_eV",
                     "length_over_width"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.extended_fraction <= 1:
            raise ValueError(f"extended_fraction must be in (0, 1], got {self.extended_fraction!r}")
        if not 0 <= self.background_dos_fraction < 1:
            raise ValueError(f"background_dos_fraction must be in [0, 1), got {self.background_dos_fraction!r}")
        if abs(self.g_factor) * self.effective_mass_ratio >= 2.0:
            raise ValueError("Zeeman splitting must be smaller than hbar omega_c (|g| m*/m_e < 2)")

    # ---- simple quantities -----------------------------------------------------------------------------------
    def filling_factor(self, field_T, density_m2=None):
        """Filling factor ``nu = n h / (e |B|)`` (dimensionless; inf at B = 0). Density in m^-2, field in T."""
        n = self.density_m2 if density_m2 is None else density_m2
        b = np.abs(np.asarray(field_T, dtype=float))
        with np.errstate(divide="ignore"):
            nu = np.asarray(n, dtype=float) * H / (E * b)
        return float(nu) if nu.ndim == 0 else nu

    def cyclotron_energy_eV(self, field_T):
        """``hbar omega_c = hbar e |B| / m*`` in eV (field in T)."""
        b = np.abs(np.asarray(field_T, dtype=float))
        out = HBAR * b / (self.effective_mass_ratio * M_E)
        return float(out) if out.ndim == 0 else out

    # ---- the model ---------------------------------------------------------------------------------------------
    def resistances(self, field_T, temperature_K, density_m2=None):
        """Four-terminal ``(R_xx, R_xy)`` in ohm at field (T), temperature (K) and density (m^-2; default the bar's).

        Inputs broadcast; scalars give floats. ``B = 0`` gives Drude (``R_xy = 0``).
        """
        n_in = self.density_m2 if density_m2 is None else density_m2
        b_in = np.asarray(field_T, dtype=float)
        t_in = np.asarray(temperature_K, dtype=float)
        n_arr = np.asarray(n_in, dtype=float)
        shape = np.broadcast_shapes(b_in.shape, t_in.shape, n_arr.shape)
        bs = np.broadcast_to(b_in, shape).reshape(-1)
        ts = np.broadcast_to(t_in, shape).reshape(-1)
        ns = np.broadcast_to(n_arr, shape).reshape(-1)
        if np.any(ts < 0) or np.any(ns <= 0):
            raise ValueError("temperature_K must be >= 0 and density_m2 > 0")
        sxx, sxy = self._conductivities(np.abs(bs), ts, ns)
        sxy = np.sign(bs) * sxy
        det = sxx**2 + sxy**2
        rxx = sxx / det * self.length_over_width
        rxy = sxy / det
        if shape == ():
            return float(rxx[0]), float(rxy[0])
        return rxx.reshape(shape), rxy.reshape(shape)

    def _conductivities(self, b, temp, n):
        """(sigma_xx, sigma_xy) in S for |B| >= 0 (arrays of equal length); sigma_xy >= 0."""
        mu_m = self.mobility_m2_per_Vs
        sigma0 = n * E * mu_m
        beta = mu_m * b
        sxx_d = sigma0 / (1.0 + beta**2)
        sxy_d = sigma0 * beta / (1.0 + beta**2)
        sxx, sxy = sxx_d.copy(), sxy_d.copy()

        gam = self.level_broadening_eV
        kt = K_B_EV * temp
        hwc = HBAR * b / (self.effective_mass_ratio * M_E)  # hbar e B / m* in J, divided by e: eV
        ez = abs(self.g_factor) * MU_B_EV * b
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = hwc / gam
            rr = np.maximum(r - _CROSSOVER_START, 0.0) / _CROSSOVER_SCALE
            sig_e = gam * (self.extended_fraction + (1.0 - self.extended_fraction) * np.exp(-(rr**2)))
            sig_e = np.minimum(gam, np.hypot(sig_e, kt))  # thermal activation delocalises the tails
            dingle = np.exp(-2.0 * math.pi**2 * (sig_e / hwc) ** 2)
            xth = 2.0 * math.pi**2 * kt / hwc
            thermal = np.where(xth > 1e-8, xth / np.sinh(np.minimum(xth, 700.0)), 1.0)
            quantum = (b > 0) & (dingle * thermal > _QUANTUM_CUTOFF)
        idx = np.nonzero(quantum)[0]
        if idx.size:
            nu = n[idx] * H / (E * b[idx])
            nu_ext, g_ratio = self._quantum(nu, hwc[idx], ez[idx], sig_e[idx], kt[idx])
            sxx_q = sxx_d[idx] * g_ratio
            sxx[idx] = sxx_q
            sxy[idx] = sxy_d[idx] + (E**2 / H) * (nu_ext - nu) - (sxx_q - sxx_d[idx]) / (mu_m * b[idx])
        return sxx, sxy

    def _quantum(self, nu, hwc, ez, sig_e, kt):
        """Solve mu from the filling and return (nu_ext, <g_ext>_T / g_0) for quantum-regime points."""
        gam = self.level_broadening_eV
        w = _TAIL * gam + _LOGISTIC_TAIL * kt  # beyond w from mu a level is empty/full to ~1e-16
        k = np.floor(nu)
        lo = hwc * (np.floor(k / 2) - 0.5) - ez - w
        hi = hwc * (np.floor((k + 1) / 2) + 1.5) + ez + w
        # explicit levels: centres within [lo - w, hi + w]; lower ones are full, higher ones empty
        spins = (-0.5, 0.5)
        first, last = [], []
        for s in spins:
            first.append(np.maximum(0.0, np.ceil((lo - w - s * ez) / hwc - 0.5)))
            last.append(np.floor((hi + w - s * ez) / hwc - 0.5))
        counts = [np.maximum(0.0, l - f + 1) for f, l in zip(first, last)]
        m_per = np.maximum(counts[0], counts[1]).astype(int)
        nu_ext = np.empty_like(nu)
        g_ratio = np.empty_like(nu)
        # group points by their number of explicit levels (bounded padding)
        buckets = np.ceil(np.log2(np.maximum(m_per, 1))).astype(int)
        for bk in np.unique(buckets):
            sel = np.nonzero(buckets == bk)[0]
            m = int(m_per[sel].max())
            j = np.arange(m)
            levels, below = [], np.zeros(sel.size)
            for si, s in enumerate(spins):
                nn = first[si][sel][:, None] + j
                e_l = hwc[sel][:, None] * (nn + 0.5) + s * ez[sel][:, None]
                valid = nn <= last[si][sel][:, None]
                e_l = np.where(valid, e_l, hi[sel][:, None] + 2.0 * w[sel][:, None] + 1.0)  # far above: empty
                levels.append(e_l)
                below += first[si][sel]
            e_l = np.concatenate(levels, axis=1)
            mu = self._solve_mu(nu[sel], below, e_l, gam, kt[sel], lo[sel], hi[sel], hwc[sel],
                                self.background_dos_fraction)
            s_e = sig_e[sel][:, None]
            kts = kt[sel][:, None]
            c_ext, p_ext = _conv(mu[:, None] - e_l, s_e, kts, want_pdf=True)
            nu_ext[sel] = below + c_ext.sum(axis=1)
            # <g_ext>/g0, g_ext = (sigma_e/Gamma)(eB/h) sum_l pdf_l, g0 = m*/(pi hbar^2): (eB/h)/g0 = hwc/2
            g_ratio[sel] = 0.5 * hwc[sel] * (sig_e[sel] / gam) * p_ext.sum(axis=1)
        return nu_ext, g_ratio

    @staticmethod
    def _solve_mu(nu, below, e_l, gam, kt, lo, hi, hwc, bg):
        """Chemical potential (eV) at filling nu: safeguarded Newton on
        ``bg (2/hwc) int_0^inf f(E - mu) dE + (1 - bg)(below + sum_l C(mu - E_l)) = nu``."""
        lo = lo.copy()
        hi = hi.copy()
        mu = 0.5 * (lo + hi)
        sig = np.full((nu.size, 1), gam)
        kts = kt[:, None]
        active = np.arange(nu.size)
        tol = 1e-13 * np.maximum(nu, 1.0)
        f_prev = np.full(nu.size, np.inf)
        for _ in range(200):
            if active.size == 0:
                break
            c, p = _conv(mu[active, None] - e_l[active], sig[active], kts[active], want_pdf=True)
            m = mu[active]
            kta = kt[active]
            with np.errstate(divide="ignore", invalid="ignore"):
                r = m / np.where(kta > 0, kta, 1.0)
                ex = np.exp(-np.abs(r))
                occ_bg = np.where(kta > 0, kta * (np.maximum(r, 0.0) + np.log1p(ex)), np.maximum(m, 0.0))
                docc_bg = np.where(kta > 0, np.where(r >= 0, 1.0 / (1.0 + ex), ex / (1.0 + ex)),
                                   (m > 0).astype(float))
            f = bg * 2.0 / hwc[active] * occ_bg + (1.0 - bg) * (below[active] + c.sum(axis=1)) - nu[active]
            dfdmu = bg * 2.0 / hwc[active] * docc_bg + (1.0 - bg) * p.sum(axis=1)
            converged = np.abs(f) <= tol[active]
            neg = f < 0
            lo[active] = np.where(neg, mu[active], lo[active])
            hi[active] = np.where(neg, hi[active], mu[active])
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                newton = mu[active] - f / dfdmu
            # Newton only while it halves the residual (no ping-pong between the bracket's ends)
            ok = np.isfinite(newton) & (newton > lo[active]) & (newton < hi[active]) & (np.abs(f) < 0.5 * f_prev[active])
            f_prev[active] = np.abs(f)
            step = np.where(ok, newton, 0.5 * (lo[active] + hi[active]))
            mu[active] = np.where(converged, mu[active], step)
            done = converged | (hi[active] - lo[active] <= 1e-16)
            active = active[~done]
        return mu
