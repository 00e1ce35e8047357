"""Tests of qpclab.analysis.hall: quantised Hall plateaus, Shubnikov-de Haas, Drude limits.

References are the exact quantisation h/(nu e^2), the Drude tensor and the filling factor n h / (e B), computed here
from the constants written out; never from values the code produced.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qpclab.analysis.hall import HallBar

E_C = 1.602176634e-19
H_P = 6.62607015e-34
R_K = H_P / E_C**2  # 25812.80745930 ohm


def approx(expected, rel=1e-6, abs=0.0):  # noqa: A002
    """pytest.approx without its default absolute tolerance of 1e-12 (noise is ~1e-27 A^2/Hz, currents ~1e-9 A)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def field_at(nu, density=2.0e15):
    """Field (T) at which the filling factor is nu."""
    return density * H_P / (E_C * nu)


def test_filling_factor():
    hb = HallBar()
    assert hb.filling_factor(4.135667696923859) == approx(2.0, rel=1e-12)
    assert hb.filling_factor(-4.135667696923859) == approx(2.0, rel=1e-12)
    np.testing.assert_allclose(hb.filling_factor(np.array([1.0, 2.0]), density_m2=1e15), [4.135667696923859,
                                                                                         2.0678338484619295])
    assert math.isinf(hb.filling_factor(0.0))
    assert R_K == approx(25812.80745930, rel=1e-12)


@pytest.mark.parametrize("nu, density", [(1, 2.0e15), (2, 2.0e15), (3, 6.0e15), (4, 2.0e15), (6, 2.0e15)])
def test_quantised_plateaus_at_50mK(nu, density):
    """R_xy = h/(nu e^2) to < 1e-4 and R_xx < 1e-3 h/e^2 on the plateaus (odd nu spin-split: at high field)."""
    hb = HallBar(density_m2=density)
    b0 = field_at(nu, density)
    fields = b0 * np.array([0.97, 0.99, 1.0, 1.01, 1.03])  # the plateau has a width
    rxx, rxy = hb.resistances(fields, 0.05)
    np.testing.assert_allclose(rxy, R_K / nu, rtol=1e-4)
    assert np.all(rxx >= 0) and np.all(rxx < 1e-3 * R_K)
    # density passed to the call gives the same as a bar with that density
    rxx2, rxy2 = HallBar().resistances(b0, 0.05, density_m2=density)
    assert rxy2 == approx(rxy[2], rel=1e-12) and rxx2 == approx(rxx[2], abs=1e-9)


def test_dissipation_between_plateaus():
    """R_xx > 0 where mu sits in a level: spin-degenerate levels half full at odd nu (low field), spin-resolved
    lowest level half full at nu = 1.5; R_xy lies between the neighbouring plateaus there."""
    hb = HallBar()
    for nu in (1.5, 3, 5, 7):
        rxx, _ = hb.resistances(field_at(nu), 0.05)
        assert rxx > 30.0  # ~ the zero-field 31 ohm and above; ~1e-100 ohm on the plateaus
    for nu, upper, lower in ((1.5, 1, 2), (5, 4, 6)):
        _, rxy = hb.resistances(field_at(nu), 0.05)
        assert R_K / lower * (1 + 1e-3) < rxy < R_K / upper * (1 - 1e-3)


def test_odd_plateau_needs_resolved_spin_splitting():
    """At nu = 5 (1.65 T) the bare-g Zeeman splitting (42 ueV) is unresolved: no plateau. An enhanced g resolves it."""
    b = field_at(5)
    rxx, rxy = HallBar(g_factor=-0.44).resistances(b, 0.05)
    assert rxx > 30.0 and abs(rxy * 5 / R_K - 1) > 1e-3
    rxx, rxy = HallBar(g_factor=-8.0).resistances(b, 0.05)
    assert rxy == approx(R_K / 5, rel=1e-6) and rxx < 1e-3 * R_K


def test_low_field_drude():
    """Classical limit: R_xy = B / (n e), R_xx = (L/W) / (n e mu); B = 0 handled; odd/even in B."""
    n, mob = 2.0e15, 100.0
    hb = HallBar(density_m2=n, mobility_m2_per_Vs=mob, length_over_width=2.5)
    b = np.array([0.0, 0.002, 0.01, 0.03, 0.05])
    rxx, rxy = hb.resistances(b, 0.05)
    np.testing.assert_allclose(rxy, b / (n * E_C), rtol=1e-9, atol=0)
    np.testing.assert_allclose(rxx, 2.5 / (n * E_C * mob), rtol=1e-9)
    slope = np.polyfit(b, rxy, 1)[0]
    assert slope == approx(1 / (n * E_C), rel=1e-9)
    assert hb.resistances(0.0, 1.0) == (approx(2.5 / (n * E_C * mob), rel=1e-12), 0.0)
    # quantum regime: quantum oscillations on top of the classical line (within 2% up to 0.3 T)
    b = np.array([0.1, 0.2, 0.3])
    _, rxy = hb.resistances(b, 0.05)
    np.testing.assert_allclose(rxy, b / (n * E_C), rtol=2e-2)
    # symmetry in B
    b = np.array([0.7, 2.3, 4.1, 8.0])
    rxx_p, rxy_p = hb.resistances(b, 0.3)
    rxx_m, rxy_m = hb.resistances(-b, 0.3)
    np.testing.assert_allclose(rxx_m, rxx_p, rtol=1e-12)
    np.testing.assert_allclose(rxy_m, -rxy_p, rtol=1e-12)


def test_length_over_width_scales_rxx_only():
    b = np.array([0.5, 1.6, 3.0])
    rxx1, rxy1 = HallBar(length_over_width=1.0).resistances(b, 0.1)
    rxx3, rxy3 = HallBar(length_over_width=3.0).resistances(b, 0.1)
    np.testing.assert_allclose(rxx3, 3 * rxx1, rtol=1e-12)
    np.testing.assert_allclose(rxy3, rxy1, rtol=1e-12)


def test_shubnikov_de_haas_onset_and_thermal_damping():
    hb = HallBar()
    rho0 = 1 / (2.0e15 * E_C * 100.0)
    # 0.9-1.4 T at 50 mK: R_xx oscillates between ~0 (between levels) and peaks far above the Drude value
    rxx, _ = hb.resistances(np.linspace(0.9, 1.4, 300), 0.05)
    assert rxx.min() < 1e-3 * rho0 and rxx.max() > 5 * rho0
    # at 10 K the oscillations are thermally damped (X/sinh X ~ 1e-3 at 1 T, X = 2 pi^2 kT / hbar omega_c):
    # Drude within 1%
    rxx, _ = hb.resistances(np.linspace(0.5, 1.0, 50), 10.0)
    np.testing.assert_allclose(rxx, rho0, rtol=1e-2)


@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_shubnikov_de_haas_amplitude_follows_dingle_formula(temperature):
    """Weak-field SdH (levels overlapping, hbar omega_c < 1.5 Gamma): the density of states of Gaussian-broadened,
    spin-split Landau levels oscillates with first-harmonic amplitude 2 exp(-2 pi^2 Gamma^2 / (hbar omega_c)^2)
    x cos(pi g m*/2) x X/sinh X (X = 2 pi^2 kT / hbar omega_c; Poisson summation), and R_xx / rho_0 - 1 with it."""
    gamma = 1e-4
    hb = HallBar(level_broadening_eV=gamma)
    rho0 = 1 / (2.0e15 * E_C * 100.0)
    hbar, m_e, kb = H_P / (2 * math.pi), 9.1093837015e-31, 1.380649e-23
    for b0 in (0.07, 0.08):
        b = np.linspace(0.97 * b0, 1.03 * b0, 400)  # > 2 oscillation periods
        rxx, _ = hb.resistances(b, temperature)
        hwc = hbar * b / (0.067 * m_e)  # eV
        x = 2 * math.pi**2 * kb * temperature / E_C / hwc
        amp = 2 * np.exp(-2 * math.pi**2 * (gamma / hwc) ** 2) * x / np.sinh(x) * math.cos(math.pi * 0.44 * 0.067 / 2)
        q = (rxx / rho0 - 1) / amp
        assert q.max() == approx(1.0, rel=1e-3) and q.min() == approx(-1.0, rel=1e-3)
        assert amp.max() < 2e-3  # the oscillations are small here: a test of the onset, not of the peaks


def test_temperature_shrinks_plateaus_and_activates_rxx():
    hb = HallBar()
    # near the edge of the nu = 2 plateau: quantised at 50 mK, not at 4 K
    b = field_at(2.3)
    assert hb.resistances(b, 0.05)[1] == approx(R_K / 2, rel=1e-4)
    assert abs(hb.resistances(b, 4.0)[1] / (R_K / 2) - 1) > 1e-2
    # at the centre R_xx is thermally activated across the cyclotron gap: grows monotonically with T
    temps = np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    rxx, rxy = hb.resistances(field_at(2), temps)
    assert np.all(np.diff(rxx) > 0) and rxx[0] < 1e-3
    np.testing.assert_allclose(rxy, R_K / 2, rtol=1e-4)


def test_no_glitches_in_a_field_sweep():
    """Dense sweeps stay smooth (no failed chemical-potential solves) and R_xy never decreases with B."""
    hb = HallBar()
    b = np.linspace(0.0, 10.0, 1201)
    for temp in (0.05, 4.0):
        rxx, rxy = hb.resistances(b, temp)
        assert np.all(np.isfinite(rxx)) and np.all(np.isfinite(rxy)) and np.all(rxx >= 0)
        assert np.all(np.diff(rxy) > -1e-6 * R_K)
        # no isolated outliers: each point close to the mean of its neighbours relative to the local scale
        mid = 0.5 * (rxy[:-2] + rxy[2:])
        assert np.max(np.abs(rxy[1:-1] - mid) / (np.abs(rxy[2:] - rxy[:-2]) + 1e-3 * R_K)) < 1.0


def test_broadcasting_and_scalars():
    hb = HallBar()
    b = np.array([[0.5], [2.0], [5.0]])
    t = np.array([0.05, 1.0])
    rxx, rxy = hb.resistances(b, t)
    assert rxx.shape == rxy.shape == (3, 2)
    sx, sy = hb.resistances(2.0, 1.0)
    assert isinstance(sx, float) and isinstance(sy, float)
    assert rxy[1, 1] == approx(sy, rel=1e-12) and rxx[1, 1] == approx(sx, rel=1e-12)


def test_parameter_validation():
    with pytest.raises(ValueError):
        HallBar(density_m2=-1.0)
    with pytest.raises(ValueError):
        HallBar(extended_fraction=0.0)
    with pytest.raises(ValueError):
        HallBar().resistances(1.0, -0.1)
