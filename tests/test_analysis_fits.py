"""Round trips: simulate runs with known, randomly drawn (seeded) realistic parameters, fit, compare.

The truth is the physics core's parameters (analysis.landauer, analysis.hall) that made the data; the fits never
see them. Tolerances (stated in each test, from the issue): subband spacing and lever arm 5 %, electron
temperature 10 % (30 mK - 1 K), |g| 5 %, Fano factor 0.03 absolute, density 2 %.
Every fit must also refuse bad data with an AnalysisError instead of returning a number.
"""

import functools

import numpy as np
import pandas as pd
import pytest

from qpclab.analysis.bias_spectroscopy import fit_bias_spectroscopy
from qpclab.analysis.io import AnalysisError
from qpclab.analysis.landauer import fano_factor
from qpclab.analysis.saddle_fit import fit_saddle_staircase
from qpclab.analysis.shot_noise import fit_shot_noise
from qpclab.analysis.synthetic import (DEFAULT_CIRCUIT, random_qpc, simulate_bias_map, simulate_field_map,
                                       simulate_shot_noise, simulate_staircase, simulate_temperature_map)
from qpclab.analysis.temperature import electron_temperature_from_step, electron_temperature_map
from qpclab.analysis.zeeman import fit_zeeman_fan

EXC = 0.1  # lock-in sine output of the synthetic runs, V rms
NOISY = 1e-4  # lock-in X noise (V rms): 1.5e-3 G0, a realistic, not a best-case, trace


@functools.lru_cache(maxsize=None)
def _bias_fit(seed):
    """(true parameters, bias-spectroscopy fit) of a simulated gate x bias map (shared by two tests)."""
    p = random_qpc(seed)
    df = simulate_bias_map(p, x_noise_V=NOISY, n_gate=100, n_bias=25, seed=seed)
    return p, fit_bias_spectroscopy(df, DEFAULT_CIRCUIT, EXC)


# ---- bias spectroscopy + saddle fit: subband spacing and lever arm within 5 % ------------------------------------
@pytest.mark.parametrize("seed", [101, 102, 103])
def test_bias_spectroscopy_recovers_lever_arm_and_spacing(seed):
    p, res = _bias_fit(seed)
    tol = 0.05  # issue: subband spacing and lever arm within 5 %
    assert res.lever.value == pytest.approx(p.lever_eV_per_V, rel=tol)
    assert len(res.subband_spacings_eV) >= 2
    for s in res.subband_spacings_eV:
        assert s.value == pytest.approx(p.hw_y_eV, rel=tol)
    assert res.bias_asymmetry.value == pytest.approx(0.5, abs=0.05)  # the simulation splits symmetrically
    assert 0 < res.lever.stderr < 0.05 * res.lever.value


def test_bias_spectroscopy_with_asymmetric_bias():
    # the lever arm comes from the separation of the two branches, whatever the split between the leads
    p = random_qpc(104)
    df = simulate_bias_map(p, x_noise_V=NOISY, n_gate=100, n_bias=25, asymmetry=0.2, seed=4)
    res = fit_bias_spectroscopy(df, DEFAULT_CIRCUIT, EXC)
    assert res.lever.value == pytest.approx(p.lever_eV_per_V, rel=0.05)  # issue: lever arm within 5 %
    assert res.bias_asymmetry.value == pytest.approx(0.2, abs=0.05)


@pytest.mark.parametrize("seed", [101, 102, 103])
def test_saddle_fit_with_lever_from_bias_map_recovers_energies(seed):
    p, bias = _bias_fit(seed)
    st = simulate_staircase(p, x_noise_V=NOISY, seed=seed + 1)
    fit = fit_saddle_staircase(st["Gate (V)"], st["G/G0"], p.temperature_K, lever_eV_per_V=bias.lever)
    tol = 0.05  # issue: subband spacing within 5 %; hw_x held to the same
    assert fit.hw_y_eV.value == pytest.approx(p.hw_y_eV, rel=tol)
    assert fit.hw_x_eV.value == pytest.approx(p.hw_x_eV, rel=tol)
    assert fit.v_pinch.value == pytest.approx(p.v_pinch, abs=0.05 * p.hw_x_eV / p.lever_eV_per_V)
    assert fit.hw_y_eV.stderr > 0


def test_saddle_fit_without_lever_reports_voltages_not_energies():
    p = random_qpc(7)  # 30-100 mK: thermal smearing far below hw_x / 2 pi
    st = simulate_staircase(p, x_noise_V=NOISY)
    fit = fit_saddle_staircase(st["Gate (V)"], st["G/G0"], p.temperature_K)
    assert fit.lever is None and fit.hw_x_eV is None and fit.hw_y_eV is None
    assert fit.spacing_V.value == pytest.approx(p.hw_y_eV / p.lever_eV_per_V, rel=0.02)
    assert any("bias spectroscopy" in n for n in fit.notes)


# ---- electron temperature within 10 % -------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [301, 302, 303, 304])
def test_step_width_thermometer_recovers_temperature(seed):
    # the step width measures T only where k_B T is a visible part of it: 0.3-1 K for hw_x 0.3-0.5 meV
    p = random_qpc(seed, temperature_K=(0.3, 1.0), hw_x_eV=(0.3e-3, 0.5e-3))
    st = simulate_staircase(p, x_noise_V=NOISY, n_steps=2, seed=seed)
    res = electron_temperature_from_step(st["Gate (V)"], st["G/G0"], p.lever_eV_per_V, p.hw_x_eV)
    assert res.temperature_K.value == pytest.approx(p.temperature_K, rel=0.10)  # issue: T within 10 %


def test_step_width_thermometer_refuses_unresolvable_temperature():
    p = random_qpc(305, temperature_K=(0.03, 0.05), hw_x_eV=(0.6e-3, 1.0e-3))
    st = simulate_staircase(p, x_noise_V=NOISY, seed=1)
    with pytest.raises(AnalysisError, match="not resolvable"):
        electron_temperature_from_step(st["Gate (V)"], st["G/G0"], p.lever_eV_per_V, p.hw_x_eV)


def test_temperature_map_with_saturation():
    p = random_qpc(306, hw_x_eV=(0.3e-3, 0.35e-3))
    t_mc = np.array([0.02, 0.4, 0.7, 1.0])
    df = simulate_temperature_map(p, t_mc, saturation_K=0.05, x_noise_V=NOISY)
    table = electron_temperature_map(df, DEFAULT_CIRCUIT, EXC, p.lever_eV_per_V, p.hw_x_eV)
    assert np.isnan(table["T_e (K)"].iloc[0]) and "not resolvable" in table["note"].iloc[0]
    np.testing.assert_allclose(table["T_e (K)"].iloc[1:], np.hypot(t_mc[1:], 0.05), rtol=0.10)


@pytest.mark.parametrize("seed,t_range", [(401, (0.03, 0.06)), (402, (0.06, 0.2)), (403, (0.2, 0.5)),
                                          (404, (0.5, 1.0))])
def test_shot_noise_recovers_electron_temperature(seed, t_range):
    p = random_qpc(seed, temperature_K=t_range)
    rng = np.random.default_rng(seed)
    # a gate point anywhere between mid-plateau 1 and mid-riser 2
    gate = p.step_center_V(1) + rng.uniform(-0.5, 0.0) * p.hw_y_eV / p.lever_eV_per_V
    res = fit_shot_noise(simulate_shot_noise(p, gate, seed=seed), DEFAULT_CIRCUIT, EXC)
    assert res.temperature_K.value == pytest.approx(p.temperature_K, rel=0.10)  # issue: T within 10 %
    assert res.implied_gain == pytest.approx(DEFAULT_CIRCUIT.noise_amplifier_gain, rel=0.02)


# ---- Fano factor within 0.03 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [501, 502, 503, 504, 505])
def test_shot_noise_recovers_fano_factor(seed):
    p = random_qpc(seed)  # 30-100 mK
    rng = np.random.default_rng(seed)
    riser = int(rng.integers(0, 2))
    gate = p.step_center_V(riser) + rng.uniform(-0.25, 0.25) * p.hw_x_eV / p.lever_eV_per_V
    truth = fano_factor(p.model().transmissions({"gate": gate}))  # zero-bias transmissions of the model
    res = fit_shot_noise(simulate_shot_noise(p, gate, seed=seed), DEFAULT_CIRCUIT, EXC)
    assert res.fano is not None
    assert res.fano.value == pytest.approx(truth, abs=0.03)  # issue: Fano factor within 0.03


def test_shot_noise_on_a_plateau_is_quiet():
    p = random_qpc(506)
    gate = p.step_center_V(1) - 0.5 * p.hw_y_eV / p.lever_eV_per_V  # middle of the first plateau
    res = fit_shot_noise(simulate_shot_noise(p, gate), DEFAULT_CIRCUIT, EXC)
    assert abs(res.fano.value) < 0.03


def test_shot_noise_withholds_fano_when_transmission_depends_on_energy():
    # at 0.8 K the bias window (12 k_B T) exceeds hw_x: the constant-T formula misfits; F withheld, T kept
    p = random_qpc(507, temperature_K=(0.8, 0.8), hw_x_eV=(0.3e-3, 0.3e-3))
    res = fit_shot_noise(simulate_shot_noise(p, p.step_center_V(1)), DEFAULT_CIRCUIT, EXC)
    assert res.fano is None and any("withheld" in n for n in res.notes)
    assert res.temperature_K.value == pytest.approx(0.8, rel=0.10)


def test_shot_noise_bad_data():
    p = random_qpc(508)
    df = simulate_shot_noise(p, p.step_center_V(0))
    with pytest.raises(AnalysisError, match="reference"):
        fit_shot_noise(df[df["Reference"] == 0], DEFAULT_CIRCUIT, EXC)
    pinched = simulate_shot_noise(p, p.v_pinch - 10 * p.hw_y_eV / p.lever_eV_per_V)
    with pytest.raises(AnalysisError, match="pinched off"):
        fit_shot_noise(pinched, DEFAULT_CIRCUIT, EXC)
    noisy = simulate_shot_noise(p, p.step_center_V(0), psd_relative_noise=3e-2)
    with pytest.raises(AnalysisError, match="Fano factor undetermined|outside"):
        fit_shot_noise(noisy, DEFAULT_CIRCUIT, EXC)
    nan = df.copy()
    nan.loc[nan["Reference"] == 0, "PSD (V^2/Hz)"] = np.nan
    with pytest.raises(AnalysisError, match="finite measurement points"):
        fit_shot_noise(nan, DEFAULT_CIRCUIT, EXC)
    with pytest.raises(AnalysisError, match="missing"):
        fit_shot_noise(df.drop(columns=["Reference"]), DEFAULT_CIRCUIT, EXC)


# ---- g-factor within 5 % ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [601, 602, 603])
def test_zeeman_fan_recovers_g_factor(seed):
    p = random_qpc(seed, hw_x_eV=(0.3e-3, 0.6e-3), g_abs=(0.44, 1.2))
    df = simulate_field_map(p, x_noise_V=NOISY, seed=seed)
    res = fit_zeeman_fan(df, DEFAULT_CIRCUIT, EXC, p.lever_eV_per_V)
    assert len(res.subbands) >= 2
    for s in res.subbands:
        assert s.g_abs.value == pytest.approx(abs(p.g_factor), rel=0.05)  # issue: |g| within 5 %


def test_zeeman_fan_refuses_unresolved_splitting():
    p = random_qpc(604, hw_x_eV=(1.0e-3, 1.0e-3), g_abs=(0.44, 0.44))
    df = simulate_field_map(p, max_field_T=2.0, x_noise_V=NOISY)  # 2 T: split 0.05 meV << hw_x / 2 pi
    with pytest.raises(AnalysisError, match="not resolved"):
        fit_zeeman_fan(df, DEFAULT_CIRCUIT, EXC, p.lever_eV_per_V)


# ---- bad data for the staircase fits ---------------------------------------------------------------------------------
def test_saddle_and_bias_fits_refuse_bad_data():
    p = random_qpc(701)
    st = simulate_staircase(p, x_noise_V=NOISY)
    g, x = st["G/G0"].to_numpy(), st["Gate (V)"].to_numpy()
    pinched = x < p.v_pinch - 3 * p.hw_x_eV / p.lever_eV_per_V
    with pytest.raises(AnalysisError, match="pinched off|never opens"):
        fit_saddle_staircase(x[pinched], g[pinched], p.temperature_K, lever_eV_per_V=p.lever_eV_per_V)
    one = x < p.step_center_V(0) + 0.4 * p.hw_y_eV / p.lever_eV_per_V  # truncated: a single riser
    with pytest.raises(AnalysisError, match="at least two"):
        fit_saddle_staircase(x[one], g[one], p.temperature_K, lever_eV_per_V=p.lever_eV_per_V)
    rng = np.random.default_rng(0)
    with pytest.raises(AnalysisError, match="too noisy"):
        fit_saddle_staircase(x, g + rng.normal(0, 0.3, g.size), p.temperature_K, lever_eV_per_V=0.02)
    with pytest.raises(AnalysisError, match="finite"):
        fit_saddle_staircase(x, np.full(g.size, np.nan), p.temperature_K)
    # bias map: only zero bias rows (no diamonds), and a pinched-off map
    bm = simulate_bias_map(p, n_gate=60, n_bias=5, x_noise_V=NOISY)
    with pytest.raises(AnalysisError):
        fit_bias_spectroscopy(bm[bm["Bias (V)"] == 0], DEFAULT_CIRCUIT, EXC)
    off = bm.assign(**{"X (V)": rng.normal(0, 1e-6, len(bm))})
    with pytest.raises(AnalysisError):
        fit_bias_spectroscopy(off, DEFAULT_CIRCUIT, EXC)
    with pytest.raises(AnalysisError, match="missing"):
        fit_bias_spectroscopy(bm.drop(columns=["Bias (V)"]), DEFAULT_CIRCUIT, EXC)


# ---- Hall bar: density within 2 %, filling factors, plateau deviations ----------------------------------------------
@pytest.mark.parametrize("seed", [801, 802, 803])
def test_hall_recovers_density_and_filling_factors(seed):
    from qpclab.analysis.constants import E, H, R_K
    from qpclab.analysis.hall import HallBar
    from qpclab.analysis.hall_analysis import analyse_hall
    from qpclab.analysis.synthetic import simulate_hall

    rng = np.random.default_rng(seed)
    n = rng.uniform(1.0e15, 5.0e15)  # 1-5e11 cm^-2
    mobility = rng.uniform(30.0, 300.0)  # 3e5 - 3e6 cm^2/Vs
    df = simulate_hall(HallBar(density_m2=n, mobility_m2_per_Vs=mobility), n_field=601, seed=seed)
    res = analyse_hall(df, DEFAULT_CIRCUIT, 1.0)
    assert res.density_m2.value == pytest.approx(n, rel=0.02)  # issue: density within 2 %
    assert res.plateaus
    for p in res.plateaus:
        # the plateau sits where the filling factor n h / (e B) is near its integer ...
        assert n * H / (E * p.center_T) == pytest.approx(p.filling_factor, abs=0.5)
        # ... and R_xy there is h / (nu e^2): the model's plateaus are exact up to R_xx ~ 0 and the reading noise
        assert abs(p.relative_deviation.value) < 1e-4
        assert p.mean_R_xy_ohm == pytest.approx(R_K / p.filling_factor, rel=1e-4)
    assert len(res.plateaus) >= 3


def test_hall_negative_fields_and_bad_data():
    from qpclab.analysis.hall import HallBar
    from qpclab.analysis.hall_analysis import analyse_hall
    from qpclab.analysis.synthetic import simulate_hall

    n = 2.5e15
    df = simulate_hall(HallBar(density_m2=n), n_field=401, max_field_T=4.0)
    neg = df.assign(**{"Field (T)": -df["Field (T)"], "X xy (V)": -df["X xy (V)"]})
    both = pd.concat([neg.iloc[::-1], df], ignore_index=True)
    res = analyse_hall(both, DEFAULT_CIRCUIT, 1.0)
    assert res.density_m2.value == pytest.approx(n, rel=0.02)
    # low field only: the density, but no plateau (said in a note, no filling factor invented)
    low = simulate_hall(HallBar(density_m2=n), n_field=101, max_field_T=0.15)
    res = analyse_hall(low, DEFAULT_CIRCUIT, 1.0)
    assert res.plateaus == [] and res.density_from_plateaus_m2 is None
    assert any("no quantum Hall plateau" in s for s in res.notes)
    with pytest.raises(AnalysisError, match="finite points"):
        analyse_hall(df.assign(**{"X xy (V)": np.nan}), DEFAULT_CIRCUIT, 1.0)
    with pytest.raises(AnalysisError, match="no field"):
        analyse_hall(df.assign(**{"Field (T)": 0.0}), DEFAULT_CIRCUIT, 1.0)
    with pytest.raises(AnalysisError, match="no Hall signal"):
        analyse_hall(df.assign(**{"X xy (V)": 0.0}), DEFAULT_CIRCUIT, 1.0)
    with pytest.raises(AnalysisError, match="missing"):
        analyse_hall(df.drop(columns=["X xx (V)"]), DEFAULT_CIRCUIT, 1.0)


def test_zeeman_and_temperature_refuse_bad_data():
    p = random_qpc(901)
    fm = simulate_field_map(p, n_gate=100, n_field=6, x_noise_V=NOISY)
    with pytest.raises(AnalysisError, match="zero-field"):
        fit_zeeman_fan(fm[fm["Field (T)"] > 0], DEFAULT_CIRCUIT, EXC, p.lever_eV_per_V)
    off = fm.assign(**{"X (V)": np.random.default_rng(1).normal(0, 1e-6, len(fm))})
    with pytest.raises(AnalysisError, match="no riser|pinched"):
        fit_zeeman_fan(off, DEFAULT_CIRCUIT, EXC, p.lever_eV_per_V)
    with pytest.raises(AnalysisError, match="missing"):
        fit_zeeman_fan(fm.drop(columns=["Field (T)"]), DEFAULT_CIRCUIT, EXC, p.lever_eV_per_V)
    st = simulate_staircase(p, x_noise_V=NOISY)
    x, g = st["Gate (V)"].to_numpy(), st["G/G0"].to_numpy()
    with pytest.raises(AnalysisError, match="pinched off"):
        electron_temperature_from_step(x, 1e-3 * g, p.lever_eV_per_V, p.hw_x_eV)
    with pytest.raises(AnalysisError, match="riser 7"):
        electron_temperature_from_step(x, g, p.lever_eV_per_V, p.hw_x_eV, step=7)
    with pytest.raises(AnalysisError, match="too noisy"):
        electron_temperature_from_step(x, g + np.random.default_rng(2).normal(0, 0.2, g.size), p.lever_eV_per_V,
                                       p.hw_x_eV)
