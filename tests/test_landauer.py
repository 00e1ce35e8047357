"""Tests of qpclab.analysis.landauer against analytic limits and independent numerical integration.

Reference values are computed here from the formulas of physics.md (saddle-point transmission, Fermi functions,
Blanter-Buttiker integrands) with scipy.integrate.quad, or taken from closed forms; never from the code under test.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from qpclab.analysis.landauer import (
    SaddlePointQPC,
    blanter_buttiker_noise,
    fano_factor,
    fermi,
    saddle_transmission,
    thermal_step_width_eV,
)

# constants written out independently of analysis/constants.py
E_C = 1.602176634e-19
H_P = 6.62607015e-34
KB_EV = 1.380649e-23 / 1.602176634e-19
MUB_EV = 9.2740100783e-24 / 1.602176634e-19
E2H = E_C**2 / H_P
G0 = 2 * E2H


def approx(expected, rel=1e-6, abs=0.0):  # noqa: A002
    """pytest.approx without its default absolute tolerance of 1e-12 (noise is ~1e-27 A^2/Hz, currents ~1e-9 A)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def gate_for_offset(q: SaddlePointQPC, offset_eV, name="gate"):
    """Gate voltage giving a barrier offset (single-gate models)."""
    return {name: q.v_pinch + np.asarray(offset_eV) / q.lever_arms_eV_per_V[name]}


def t_total_clean(q: SaddlePointQPC, offset, energy, field=0.0):
    """sum_ch T_ch(E) of a clean model from the saddle formula (written independently of the module)."""
    total = 0.0
    ez = abs(q.g_factor) * MUB_EV * field
    valleys = [0.0] if q.valley_degeneracy == 1 else [-q.valley_splitting_eV / 2, q.valley_splitting_eV / 2]
    for n in range(q.n_modes):
        for s in (-0.5, 0.5):
            for dv in valleys:
                eps = (offset + energy - n * q.hw_y_eV - s * ez + dv) / q.hw_x_eV
                total += 1.0 / (1.0 + math.exp(min(-2 * math.pi * eps, 700.0)))
    return total


def fermi_ref(x, kt):
    return 1.0 / (1.0 + math.exp(min(x / kt, 700.0))) if kt > 0 else (1.0 if x < 0 else 0.0)


def quad_pieces(f, lo, hi, breaks):
    """quad over [lo, hi] split at the given points (resolves mK-sharp features)."""
    pts = sorted({lo, hi, *[b for b in breaks if lo < b < hi]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(quad(f, a, b, limit=200, epsabs=0.0, epsrel=1e-12)[0] for a, b in zip(pts[:-1], pts[1:]))


def thermal_breaks(centres, kt):
    return [c + k * kt for c in centres for k in (-40, -12, -4, -1, 0, 1, 4, 12, 40)]


# ---- elementary functions ---------------------------------------------------------------------------------------
def test_saddle_transmission_symmetry_and_values():
    eps = np.linspace(-50, 50, 2001)
    t = saddle_transmission(eps)
    np.testing.assert_allclose(t + saddle_transmission(-eps), 1.0, rtol=0, atol=1e-15)
    assert saddle_transmission(0.0) == 0.5
    assert saddle_transmission(math.log(3) / (2 * math.pi)) == approx(0.75, rel=1e-14)
    assert saddle_transmission(-0.5) == approx(1 / (1 + math.exp(math.pi)), rel=1e-14)
    # deep tail keeps full relative precision and nothing overflows
    assert saddle_transmission(-10.0) == approx(math.exp(-20 * math.pi), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert saddle_transmission(1e6) == 1.0 and saddle_transmission(-1e6) == 0.0
    assert isinstance(saddle_transmission(0.3), float)


def test_fermi_function():
    assert fermi(0.0, 1e-3) == 0.5
    assert fermi(1e-3, 1e-3) == approx(1 / (1 + math.e), rel=1e-14)
    np.testing.assert_array_equal(fermi(np.array([-1e-3, 0.0, 1e-3]), 0.0), [1.0, 0.5, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fermi(1.0, 1e-9) == 0.0 and fermi(-1.0, 1e-9) == 1.0
    # array kT with zeros broadcasts
    np.testing.assert_allclose(fermi(1e-4, np.array([0.0, 1e-4])), [0.0, 1 / (1 + math.e)], rtol=1e-14)


def test_thermal_step_width_rule():
    assert thermal_step_width_eV(2 * math.pi * 1e-3, 0.0) == approx(1e-3, rel=1e-14)
    assert thermal_step_width_eV(0.0, 1.0) == approx(KB_EV, rel=1e-14)
    assert thermal_step_width_eV(2 * math.pi * 3e-4, 4e-4 / KB_EV) == approx(5e-4, rel=1e-13)


# ---- gates ---------------------------------------------------------------------------------------------------------
def test_barrier_offset_and_gate_validation():
    q = SaddlePointQPC(lever_arms_eV_per_V={"left": 0.01, "right": 0.03}, v_pinch=-1.0)
    assert q.barrier_offset_eV({"left": -1.0, "right": -1.0}) == 0.0
    assert q.barrier_offset_eV({"left": -0.9, "right": -1.2}) == approx(0.01 * 0.1 - 0.03 * 0.2, abs=1e-17)
    off = q.barrier_offset_eV({"left": np.array([-1.0, -0.5]), "right": -1.0})
    np.testing.assert_allclose(off, [0.0, 0.005], atol=1e-17)
    with pytest.raises(ValueError, match="middle"):
        q.barrier_offset_eV({"left": 0.0, "right": 0.0, "middle": 0.0})
    with pytest.raises(ValueError, match="right"):
        q.conductance({"left": 0.0}, 0.05)


def test_lowest_channel_half_open_at_pinch_voltage():
    q = SaddlePointQPC(n_modes=1)
    assert q.conductance({"gate": q.v_pinch}, 0.0) == approx(0.5 * G0, rel=1e-14)
    assert q.n_channels == 2
    assert SaddlePointQPC(valley_degeneracy=2).n_channels == 48


# ---- zero temperature ----------------------------------------------------------------------------------------------
def test_integer_plateaus_at_zero_temperature():
    """hw_y / hw_x = 4: plateau centres are integers (T(eps) + T(-eps) = 1 cancels the leakage of the neighbours)
    and the central part of a plateau deviates as 2 exp(-pi wy/wx) sinh(2 pi delta / hw_x)."""
    q = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3)
    for n in range(1, 8):
        centre = (n - 0.5) * q.hw_y_eV
        assert q.conductance(gate_for_offset(q, centre), 0.0) / G0 == approx(n, abs=1e-12)
        for delta in (0.005e-3, 0.02e-3, 0.1e-3):
            dev = q.conductance(gate_for_offset(q, centre + delta), 0.0) / G0 - n
            expected = 2 * math.exp(-math.pi * 4) * math.sinh(2 * math.pi * delta / q.hw_x_eV)
            assert dev == approx(expected, rel=2e-3)
    # |G/G0 - n| < 1e-6 within +-0.5% of the plateau width (delta = 0.005 hw_y = 0.02 hw_x)
    d = np.linspace(-0.01e-3, 0.01e-3, 41)
    g = q.conductance(gate_for_offset(q, 2.5 * q.hw_y_eV + d), 0.0) / G0
    assert np.max(np.abs(g - 3)) < 1e-6


def test_background_text_example_3041():
    """Three channels open and the fourth at T_3 = 1/(1+e^pi): G/G0 = 3.041 (E - V0 = 3.5 hw_y - 0.5 hw_x)."""
    q = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3, lever_arms_eV_per_V={"gate": 0.02}, v_pinch=-1.0)
    e_minus_v0 = 3.5 * q.hw_y_eV - 0.5 * q.hw_x_eV
    # V0(Vg) = E_F - hw_y/2 - alpha (Vg - V_pinch)  =>  alpha (Vg - V_pinch) = (E_F - V0) - hw_y/2
    vg = q.v_pinch + (e_minus_v0 - 0.5 * q.hw_y_eV) / 0.02
    t = q.transmissions({"gate": vg})
    assert t[6] == approx(1 / (1 + math.exp(math.pi)), rel=1e-12)  # mode 3, first spin
    assert t[6] == approx(0.0414, abs=5e-5)
    g = q.conductance({"gate": vg}, 0.0) / G0
    assert g == approx(3 + 1 / (1 + math.exp(math.pi)), abs=1e-9)
    assert round(g, 3) == 3.041


def test_zero_temperature_closed_forms():
    """At T = 0: G = sum T(0); I = (e^2/h) sum theta ln[(1+e^{xL/theta})/(1+e^{xR/theta})];
    S = (2e^2/h) e sum theta [T(xL) - T(xR)] (the integral of T(1-T) over the bias window)."""
    q = SaddlePointQPC(n_modes=3, hw_x_eV=0.4e-3, hw_y_eV=1.5e-3)
    theta = q.hw_x_eV / (2 * math.pi)
    for off in (-0.3e-3, 0.1e-3, 1.2e-3):
        gates = gate_for_offset(q, off)
        assert q.conductance(gates, 0.0) == approx(E2H * t_total_clean(q, off, 0.0), rel=1e-13)
        for v, a in ((0.7e-3, 0.5), (-0.4e-3, 0.3)):
            mu_l, mu_r = a * v, -(1 - a) * v
            i_ref = s_ref = 0.0
            for n in range(q.n_modes):
                xl, xr = off + mu_l - n * q.hw_y_eV, off + mu_r - n * q.hw_y_eV
                i_ref += 2 * theta * (np.logaddexp(0, xl / theta) - np.logaddexp(0, xr / theta))
                s_ref += 2 * theta * abs(saddle_transmission(xl / q.hw_x_eV) - saddle_transmission(xr / q.hw_x_eV))
            assert q.current(gates, v, 0.0, asymmetry=a) == approx(E2H * i_ref, rel=1e-12)
            assert q.noise(gates, v, 0.0, asymmetry=a) == approx(2 * E2H * E_C * s_ref, rel=1e-12)
        # a vanishing temperature joins the T = 0 value
        assert q.conductance(gates, 1e-7) == approx(q.conductance(gates, 0.0), rel=1e-9, abs=1e-18)


# ---- finite temperature: against scipy quad ------------------------------------------------------------------------
@pytest.mark.parametrize("temperature", [0.001, 0.05, 1.0, 10.0])
def test_conductance_against_quad(temperature):
    q = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3, n_modes=12)
    kt = KB_EV * temperature
    for off, field in ((0.0, 0.0), (0.25e-3, 0.0), (2.9e-3, 3.0), (-0.6e-3, 0.0)):
        g = q.conductance(gate_for_offset(q, off), temperature, field)

        def integrand(en):
            x = abs(en) / kt
            return t_total_clean(q, off, en, field) * math.exp(-x) / (kt * (1 + math.exp(-x)) ** 2)

        ref = E2H * quad_pieces(integrand, -40 * kt, 40 * kt, thermal_breaks([0.0], kt))
        assert g == approx(ref, rel=1e-9, abs=1e-10 * G0)


@pytest.mark.parametrize("temperature", [0.001, 0.05, 1.0, 10.0])
def test_current_dIdV_noise_against_quad(temperature):
    """Landauer current, analytic dI/dV and energy-dependent Blanter-Buttiker noise vs quad of the definitions,
    with Zeeman splitting and disorder switched on."""
    q = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3, n_modes=6, disorder=0.1, disorder_seed=3)
    kt = KB_EV * temperature
    field = 2.0
    for off, v, a in ((0.3e-3, 1e-3, 0.5), (2.1e-3, -0.4e-3, 0.2), (0.0, 3e-6, 0.5)):
        gates = gate_for_offset(q, off)
        mu_l, mu_r = a * v, -(1 - a) * v
        lo, hi = min(mu_l, mu_r) - 40 * kt, max(mu_l, mu_r) + 40 * kt  # every integrand is ~0 outside
        brk = thermal_breaks([mu_l, mu_r], kt)
        # T_ch(E) = D_ch * saddle(eps_ch(E)): the disorder factor D_ch depends on the gates only (documented), read
        # off where the saddle factor is exactly 1 (E = +1 eV); the saddle part from the formula, in this file
        dis = q.transmissions(gates, 1.0, field)
        ez = abs(q.g_factor) * MUB_EV * field
        n_idx = np.repeat(np.arange(q.n_modes), 2)
        spin = np.tile([-0.5, 0.5], q.n_modes)
        x0 = (off - n_idx * q.hw_y_eV - spin * ez) * (2 * math.pi / q.hw_x_eV)
        cache: dict[float, np.ndarray] = {}

        def t_of(en):  # cached across the three quads
            t = cache.get(en)
            if t is None:
                t = cache[en] = dis / (1.0 + np.exp(-(x0 + en * (2 * math.pi / q.hw_x_eV))))
            return t

        for en in (-1e-3, 0.0, 2e-4):
            np.testing.assert_allclose(t_of(en), q.transmissions(gates, en, field), rtol=1e-12, atol=1e-300)

        def i_int(en):
            return t_of(en).sum() * (fermi_ref(en - mu_l, kt) - fermi_ref(en - mu_r, kt))

        def d_int(en):
            fl, fr = fermi_ref(en - mu_l, kt), fermi_ref(en - mu_r, kt)
            return t_of(en).sum() * (a * fl * (1 - fl) + (1 - a) * fr * (1 - fr)) / kt

        def s_int(en):
            t = t_of(en)
            fl, fr = fermi_ref(en - mu_l, kt), fermi_ref(en - mu_r, kt)
            return np.sum(t * (fl * (1 - fl) + fr * (1 - fr)) + t * (1 - t) * (fl - fr) ** 2)

        i_ref = E2H * quad_pieces(i_int, lo, hi, brk)
        d_ref = E2H * quad_pieces(d_int, lo, hi, brk)
        s_ref = 2 * E2H * E_C * quad_pieces(s_int, lo, hi, brk)
        assert q.current(gates, v, temperature, field, a) == approx(i_ref, rel=1e-9)
        assert q.differential_conductance(gates, v, temperature, field, a) == approx(d_ref, rel=1e-9)
        assert q.noise(gates, v, temperature, field, a) == approx(s_ref, rel=1e-9)


def test_transmissions_follow_saddle_formula():
    q = SaddlePointQPC(n_modes=3, valley_degeneracy=2, valley_splitting_eV=0.3e-3, g_factor=-2.0)
    off, en, field = 1.1e-3, 0.05e-3, 1.5
    t = q.transmissions(gate_for_offset(q, off), en, field)
    ez = 2.0 * MUB_EV * field
    expected = []
    for n in range(3):
        for s in (-0.5, 0.5):
            for dv in (-0.15e-3, 0.15e-3):  # valley 0 has "-vs/2", valley 1 "+vs/2"
                expected.append(1 / (1 + math.exp(-2 * math.pi * (off + en - n * q.hw_y_eV - s * ez + dv) / q.hw_x_eV)))
    np.testing.assert_allclose(t, expected, rtol=1e-13)
    assert t.shape == (12,)
    assert q.transmissions(gate_for_offset(q, np.zeros((4, 1))), np.zeros(5)).shape == (4, 5, 12)


# ---- temperature dependence of a step ------------------------------------------------------------------------------
def _width_10_90(q, temperature):
    f = lambda v, level: q.conductance({"g": v}, temperature) / G0 - level  # noqa: E731
    return brentq(f, -0.1, 0.1, args=(0.9,), xtol=1e-16) - brentq(f, -0.1, 0.1, args=(0.1,), xtol=1e-16)


def test_step_width_zero_temperature_and_linear_growth():
    """The 10-90% width of a sharp step smeared by -f' is 2 ln 9 kT, so once kT >> hw_x/2pi the width grows
    linearly in T with slope 2 ln 9 k_B (eV/K; lever arm 1 eV/V here so gate volts = eV). At T = 0 the step is a
    logistic of scale hw_x/2pi: width 2 ln 9 hw_x / 2pi = 0.699 hw_x."""
    q = SaddlePointQPC(n_modes=1, hw_x_eV=0.1e-3, lever_arms_eV_per_V={"g": 1.0}, v_pinch=0.0)
    assert _width_10_90(q, 0.0) == approx(2 * math.log(9) * q.hw_x_eV / (2 * math.pi), rel=1e-9)
    assert _width_10_90(q, 0.0) == approx(0.699 * q.hw_x_eV, rel=1e-3)
    temps = np.array([4.0, 6.0, 8.0, 10.0])
    widths = np.array([_width_10_90(q, t) for t in temps])
    slope = np.polyfit(temps, widths, 1)[0]
    assert slope == approx(2 * math.log(9) * KB_EV, rel=2e-3)
    # the rough rule of physics.md: sqrt((hw_x/2pi)^2 + (kT)^2) within 6% (actually within 3%)
    q2 = SaddlePointQPC(n_modes=1, hw_x_eV=0.5e-3, lever_arms_eV_per_V={"g": 1.0}, v_pinch=0.0)
    for t in (0.05, 0.5, 1.0, 2.0, 5.0):
        ratio = _width_10_90(q2, t) / (2 * math.log(9) * thermal_step_width_eV(q2.hw_x_eV, t))
        assert 1.0 <= ratio < 1.03


# ---- field and valleys ---------------------------------------------------------------------------------------------
def test_zeeman_split_steps_of_e2_over_h():
    """|g| mu_B B = 0.58 meV >> hw_x/2pi = 16 ueV: e^2/h steps; thresholds at n hw_y +- |g| mu_B B/2."""
    q = SaddlePointQPC(hw_x_eV=0.1e-3, hw_y_eV=2.0e-3, g_factor=-2.0)
    field = 5.0
    ez = 2.0 * MUB_EV * field
    assert ez / (q.hw_x_eV / (2 * math.pi)) > 30
    for k, off in enumerate((0.0, 1.0e-3, 2.0e-3, 3.0e-3), start=1):
        assert q.conductance(gate_for_offset(q, off), 0.01, field) / E2H == approx(k, abs=1e-6)
    # at a spin threshold one spin channel is half open
    assert q.conductance(gate_for_offset(q, ez / 2), 0.0, field) / E2H == approx(1.5, abs=1e-6)
    # a small field leaves the 2e^2/h steps: half a spin-degenerate step at the pinch point
    assert q.conductance(gate_for_offset(q, 0.0), 0.0, 0.01) / G0 == approx(0.5, abs=1e-3)


def test_valley_degenerate_4e2h_steps_and_valley_splitting():
    q = SaddlePointQPC(hw_x_eV=0.1e-3, hw_y_eV=1.0e-3, valley_degeneracy=2)
    for n in (1, 2, 3):
        g = q.conductance(gate_for_offset(q, (n - 0.5) * q.hw_y_eV), 0.01)
        assert g / (4 * E2H) == approx(n, abs=1e-9)
    qs = SaddlePointQPC(hw_x_eV=0.1e-3, hw_y_eV=1.0e-3, valley_degeneracy=2, valley_splitting_eV=0.4e-3)
    assert qs.conductance(gate_for_offset(qs, 0.0), 0.01) / G0 == approx(1.0, abs=1e-6)
    assert qs.conductance(gate_for_offset(qs, 0.5e-3), 0.01) / G0 == approx(2.0, abs=1e-6)


# ---- finite bias -----------------------------------------------------------------------------------------------------
def test_small_bias_current_is_linear_response():
    q = SaddlePointQPC()
    for off in (0.15e-3, 1.0e-3):
        gates = gate_for_offset(q, off)
        g = q.conductance(gates, 0.05)
        for a in (0.5, 0.2):
            dev1 = q.current(gates, 1e-6, 0.05, asymmetry=a) / 1e-6 / g - 1
            dev2 = q.current(gates, 2e-6, 0.05, asymmetry=a) / 2e-6 / g - 1
            assert abs(dev1) < 1e-3
            if a == 0.5 and off < 0.5e-3:  # on the riser, symmetric split: I(V) is odd, the correction O(V^2)
                assert dev2 / dev1 == approx(4.0, rel=1e-2)
        assert q.current(gates, 1e-9, 0.05) == approx(g * 1e-9, rel=1e-8)
        assert q.current(gates, 0.0, 0.05) == 0.0


def test_dIdV_is_derivative_of_current():
    q = SaddlePointQPC(disorder=0.05)
    for temp in (0.0, 0.05, 2.0):
        for off, v, a in ((0.3e-3, 1.2e-3, 0.5), (1.7e-3, -2.5e-3, 0.3)):
            gates = gate_for_offset(q, off)
            h = 1e-8
            num = (q.current(gates, v + h, temp, asymmetry=a) - q.current(gates, v - h, temp, asymmetry=a)) / (2 * h)
            assert q.differential_conductance(gates, v, temp, asymmetry=a) == approx(num, rel=1e-6)
    # zero bias dI/dV is the linear-response conductance
    gates = gate_for_offset(q, 0.4e-3)
    assert q.differential_conductance(gates, 0.0, 0.3) == approx(q.conductance(gates, 0.3), rel=1e-13)


def test_half_plateaus_at_bias_equal_to_subband_spacing():
    """eV = hw_y (symmetric split): where G(V=0) rises through 0 -> 1 G0 (and 1 -> 2 G0), dI/dV sits on 0.5
    (1.5) G0: one lead's chemical potential above the subband edge, the other below."""
    q = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3)
    v = q.hw_y_eV  # bias in volts equals the energy in eV
    d = np.linspace(-0.25e-3, 0.25e-3, 21)
    for edge, half in ((0.0, 0.5), (q.hw_y_eV, 1.5)):
        gates = gate_for_offset(q, edge + d)
        didv = q.differential_conductance(gates, v, 0.05) / G0
        g0 = q.conductance(gates, 0.05) / G0
        np.testing.assert_allclose(didv, half, atol=2e-4)
        assert np.ptp(g0) > 0.9  # the same gate range spans a whole step at zero bias


# ---- noise ---------------------------------------------------------------------------------------------------------
def test_johnson_noise_at_zero_bias():
    q = SaddlePointQPC(disorder=0.05)
    for temp in (0.05, 1.0, 10.0):
        for off in (-0.2e-3, 0.3e-3, 3.0e-3):
            gates = gate_for_offset(q, off)
            s = q.noise(gates, 0.0, temp)
            assert s == approx(4 * KB_EV * E_C * temp * q.conductance(gates, temp), rel=1e-12)
    assert q.noise(gate_for_offset(q, 0.0), 0.0, 0.0) == 0.0


def test_energy_dependent_noise_equals_closed_form_for_constant_transmission():
    """hw_x = 10 eV: T_n(E) is constant across any bias window, so the general integral must equal
    Blanter-Buttiker's closed form with those T_n (several partially open, Zeeman-split channels)."""
    q = SaddlePointQPC(hw_x_eV=10.0, hw_y_eV=4.0, n_modes=3, lever_arms_eV_per_V={"gate": 1.0}, g_factor=-2.0)
    gates = {"gate": q.v_pinch + 3.0}
    field = 5e4  # Zeeman 5.8 eV: spins split on the scale of hw_x
    t = q.transmissions(gates, 0.0, field)
    assert np.sum((t > 0.05) & (t < 0.95)) >= 4
    for v, temp in ((0.0, 0.05), (1e-3, 0.0), (1e-3, 0.05), (20e-6, 0.1), (-3e-4, 1.0)):
        s = q.noise(gates, v, temp, field)
        assert s == approx(blanter_buttiker_noise(t, v, temp), rel=1e-6)
    # T = 0: S = 2 e |I| F exactly
    i = q.current(gates, 1e-3, 0.0, field)
    assert q.noise(gates, 1e-3, 0.0, field) == approx(2 * E_C * abs(i) * fano_factor(t), rel=1e-6)
    # eV >> kT: S -> 2 e I F up to the thermal term 4kT (e^2/h) sum T^2 (relative 2kT/eV here)
    i = q.current(gates, 1e-3, 0.01, field)
    s = q.noise(gates, 1e-3, 0.01, field)
    assert abs(s / (2 * E_C * i * fano_factor(t)) - 1) < 3 * 2 * KB_EV * 0.01 / 1e-3


def test_shot_noise_fano_factor_half_and_zero_on_plateaus():
    q1 = SaddlePointQPC(n_modes=1)
    gates = {"gate": q1.v_pinch}  # T = 1/2 for both spins
    v = 1e-7  # eV = 0.1 ueV << hw_x: T constant over the window
    assert q1.noise(gates, v, 0.0) / (2 * E_C * q1.current(gates, v, 0.0)) == approx(0.5, rel=1e-5)
    q = SaddlePointQPC()
    for n in (1, 2, 3):
        g = gate_for_offset(q, (n - 0.5) * q.hw_y_eV)
        f = q.noise(g, 1e-4, 0.0) / (2 * E_C * q.current(g, 1e-4, 0.0))
        assert 0 <= f < 1e-5
    # the energy dependence matters at 1 mV on a riser (physics.md: tens of percent)
    g = gate_for_offset(q, 0.0)
    s_general = q.noise(g, 1e-3, 0.0)
    s_constant = blanter_buttiker_noise(q.transmissions(g), 1e-3, 0.0)
    assert abs(s_general / s_constant - 1) > 0.05


def test_blanter_buttiker_closed_form_limits_and_integral():
    t = np.array([1.0, 0.7, 0.3, 0.05])
    kt_k = 0.2
    kt = KB_EV * kt_k
    # V = 0: Johnson 4 kT G, G = (e^2/h) sum T
    assert blanter_buttiker_noise(t, 0.0, kt_k) == approx(4 * kt * E_C * E2H * t.sum(), rel=1e-14)
    # T = 0: 2 e |I| F
    i = E2H * 1e-3 * t.sum()
    assert blanter_buttiker_noise(t, -1e-3, 0.0) == approx(2 * E_C * i * fano_factor(t), rel=1e-14)
    assert blanter_buttiker_noise(t, 0.0, 0.0) == 0.0
    # general (V, T): integral of the Blanter-Buttiker integrand with these constant T
    v = 30e-6

    def integrand(en):
        fl, fr = fermi_ref(en - v / 2, kt), fermi_ref(en + v / 2, kt)
        return np.sum(t * (fl * (1 - fl) + fr * (1 - fr)) + t * (1 - t) * (fl - fr) ** 2)

    ref = 2 * E2H * E_C * quad_pieces(integrand, -v - 50 * kt, v + 50 * kt, thermal_breaks([-v / 2, v / 2], kt))
    assert blanter_buttiker_noise(t, v, kt_k) == approx(ref, rel=1e-10)
    # broadcasting over bias
    assert blanter_buttiker_noise(t, np.array([0.0, v]), kt_k).shape == (2,)


def test_fano_factor():
    assert fano_factor([0.5, 0.5]) == 0.5
    assert fano_factor([1.0, 1.0, 0.0]) == 0.0
    assert fano_factor([0.2]) == approx(0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(fano_factor([0.0, 0.0]))
    np.testing.assert_allclose(fano_factor(np.array([[0.5, 0.5], [1.0, 0.0]])), [0.5, 0.0])


# ---- disorder ------------------------------------------------------------------------------------------------------
def test_disorder_reproducible_and_seed_dependent():
    a = SaddlePointQPC(disorder=0.1, disorder_seed=5)
    b = SaddlePointQPC(disorder=0.1, disorder_seed=5)
    c = SaddlePointQPC(disorder=0.1, disorder_seed=6)
    gates = gate_for_offset(a, np.linspace(-1e-3, 8e-3, 200))
    ga, gb, gc = (m.conductance(gates, 0.05) for m in (a, b, c))
    np.testing.assert_array_equal(ga, gb)
    assert np.max(np.abs(ga - gc)) > 1e-3 * G0


def test_disorder_zero_is_clean_and_plateaus_fall_below_integers():
    clean = SaddlePointQPC()
    zero = SaddlePointQPC(disorder=0.0, disorder_seed=123)
    gates = gate_for_offset(clean, np.linspace(-1e-3, 8e-3, 101))
    np.testing.assert_array_equal(zero.conductance(gates, 0.05), clean.conductance(gates, 0.05))
    np.testing.assert_array_equal(zero.noise(gates, 1e-4, 0.05), clean.noise(gates, 1e-4, 0.05))

    dirty = SaddlePointQPC(disorder=0.1, disorder_seed=1)
    t = dirty.transmissions(gate_for_offset(dirty, np.linspace(-2e-3, 25e-3, 500)), 0.0, 1.0)
    assert np.all(t >= 0) and np.all(t < 1)
    for n in (1, 2, 3, 4):
        d = np.linspace(-0.4e-3, 0.4e-3, 41)
        g = dirty.conductance(gate_for_offset(dirty, (n - 0.5) * dirty.hw_y_eV + d), 0.05) / G0
        assert np.all(g < n - 0.02)  # every open mode loses at least 0.1 * 0.5 * (1 - 0.5) of its transmission
        assert np.all(g > n - n * 0.1 * 1.5 - 1e-3)  # r_n <= disorder * 1 * 1.5
        assert np.ptp(g) > 2e-3  # not flat: gate-dependent ripple
    # backscattering gives shot noise on a plateau
    g = gate_for_offset(dirty, 1.5 * dirty.hw_y_eV)
    assert dirty.noise(g, 1e-4, 0.0) / (2 * E_C * dirty.current(g, 1e-4, 0.0)) > 0.01


# ---- vectorisation and speed ---------------------------------------------------------------------------------------
def test_broadcasting_matches_scalar_calls():
    q = SaddlePointQPC(lever_arms_eV_per_V={"a": 0.01, "b": 0.02}, v_pinch=-1.0, disorder=0.05)
    va = np.linspace(-1.0, -0.6, 4)[:, None]
    vb = np.array([-1.0, -0.9, -0.8])[None, :]
    temps = np.array([0.05, 1.0, 4.0])
    g = q.conductance({"a": va, "b": vb}, temps, 0.5)
    assert g.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            s = q.conductance({"a": float(va[i, 0]), "b": float(vb[0, j])}, float(temps[j]), 0.5)
            assert isinstance(s, float)
            assert g[i, j] == approx(s, rel=1e-14)
    bias = np.array([[-1e-3], [2e-4]])
    for method in (q.current, q.differential_conductance, q.noise):
        out = method({"a": -0.8, "b": vb[0]}, bias, 0.1, 0.0)
        assert out.shape == (2, 3)
        assert out[1, 2] == approx(method({"a": -0.8, "b": -0.8}, 2e-4, 0.1, 0.0), rel=1e-14)
    # long arrays are processed in chunks: same numbers
    big = np.linspace(-1.2, -0.5, 1500)
    gb = q.conductance({"a": big, "b": -0.9}, 0.05, 1.0)
    assert gb[1234] == approx(q.conductance({"a": big[1234], "b": -0.9}, 0.05, 1.0), rel=1e-14)


def test_scalar_conductance_is_fast():
    q = SaddlePointQPC()
    gates = {"gate": -0.97}
    for temp in (0.05, 10.0):
        q.conductance(gates, temp)
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            q.conductance(gates, temp)
        per_call = (time.perf_counter() - t0) / n
        assert per_call < 2e-3  # measured ~0.1 ms; generous bound for loaded machines


def test_scalar_hot_path_equals_the_vectorised_engine():
    """The simulator's one-point path and the array engine are two implementations: they must agree everywhere."""
    import numpy as np

    from qpclab.analysis.landauer import SaddlePointQPC

    q = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3, lever_arms_eV_per_V={"gate": 0.02}, v_pinch=-1.2,
                       g_factor=-1.3)
    gates = np.linspace(-1.35, -0.6, 151)
    for temperature in (0.0, 0.001, 0.05, 1.0, 10.0):
        for field in (0.0, 3.0):
            array = q.conductance({"gate": gates}, temperature, field)
            scalar = [q.conductance({"gate": float(v)}, float(temperature), float(field)) for v in gates]
            assert np.allclose(scalar, array, rtol=1e-12, atol=1e-20)
