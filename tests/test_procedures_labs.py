"""The field, temperature, shot-noise and Hall procedures end to end from the command line on the simulated
labs (copies with a faster magnet and fridge, so the tests take seconds, not hours): their data shows the physics.
"""

import numpy as np
import pandas as pd
import pytest
import yaml

from qpclab.analysis.constants import E, G0, H, K_B_EV
from qpclab.analysis.landauer import SaddlePointQPC
from qpclab.cli import main
from qpclab.instruments.station import default_station_path

LABS = default_station_path().parent


def fast_copy(tmp_path, name, magnet_rate=None, fridge_tau=None, edit=None):
    """A copy of a lab file with a faster magnet (T/s) and fridge (s), as a physicist's test station would be."""
    data = yaml.safe_load((LABS / name).read_text())
    sim = data["simulation"]
    if magnet_rate is not None:
        data["station"]["magnet"]["rate_T_per_s"] = magnet_rate
        coil = float(sim["magnet"].get("coil_constant_T_per_A", 0.1))
        sim["magnet"]["max_ramp_rate_A_per_s"] = 2 * magnet_rate / coil
    if fridge_tau is not None:
        sim["fridge"]["thermal_time_constant_s"] = fridge_tau
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(tmp_path, *argv):
    data = tmp_path / f"run{len(list(tmp_path.glob('run*.csv')))}.csv"
    assert main(["run", *argv, "--data", str(data), "--quiet"]) == 0
    return pd.read_csv(data, comment="#")


def test_field_map_shows_the_spin_split_fan(tmp_path):
    station = fast_copy(tmp_path, "field_lab.yaml", magnet_rate=2.0)
    df = run(tmp_path, "field-map", "--station", str(station), "--start", "-1.3", "--stop", "-1.0", "--step", "0.004",
             "--field-start", "0", "--field-stop", "10", "--field-step", "10", "--time-constant", "1e-4")
    b0 = df[df["Field (T)"].abs() < 0.01]["G/G0"].to_numpy()
    b10 = df[(df["Field (T)"] - 10).abs() < 0.01]["G/G0"].to_numpy()
    assert len(b0) == len(b10) == 76
    # zero field: 2e^2/h steps (a half-integer value only on a riser); 10 T with |g| = 1.3: e^2/h steps
    for half in (0.5, 1.5):
        assert (np.abs(b0 - half) < 0.03).sum() <= 2
        assert (np.abs(b10 - half) < 0.03).sum() >= 3


def test_temperature_map_broadens_the_steps_as_the_landauer_physics_says(tmp_path):
    station = fast_copy(tmp_path, "field_lab.yaml", fridge_tau=0.02)
    df = run(tmp_path, "temperature-map", "--station", str(station), "--start", "-1.26", "--stop", "-1.14",
             "--step", "0.002", "--temperature-start", "0.05", "--temperature-stop", "1.25", "--temperature-step",
             "1.2", "--time-constant", "1e-4")
    qpc = SaddlePointQPC(hw_x_eV=0.5e-3, hw_y_eV=2.0e-3, lever_arms_eV_per_V={"gate": 0.02}, v_pinch=-1.2,
                         g_factor=-1.3)  # the field lab's sample (gaas_split_gate preset, g overridden)

    def width(trace_v, trace_g):
        order = np.argsort(trace_v)
        v, g = trace_v[order], trace_g[order]
        return np.interp(0.9, g, v) - np.interp(0.1, g, v)

    widths = {}
    for t, line in df.groupby(df["Temperature (K)"].round(2)):
        widths[t] = width(line["Gate (V)"].to_numpy(), line["G/G0"].to_numpy())
    cold, hot = sorted(widths)
    assert widths[hot] > 1.5 * widths[cold]
    # the first step's 10-90% width at the measured (mixing-chamber) temperature, from the Landauer formula
    v = np.linspace(-1.26, -1.14, 601)
    for t in (cold, hot):
        t_e = (t**5 + 0.02**5) ** 0.2  # the field lab's electron temperature (saturates at 20 mK)
        expected = width(v, qpc.conductance({"gate": v}, t_e) / G0)
        assert widths[t] == pytest.approx(expected, rel=0.08)
    # and physics.md's rule of thumb: a logistic step of scale sqrt((hw_x / 2 pi)^2 + (k_B T)^2), i.e. a 10-90%
    # width of 2 ln(9) times that over the lever arm, within its stated ~6%
    scale = np.hypot(0.5e-3 / (2 * np.pi), K_B_EV * hot)
    assert widths[hot] == pytest.approx(2 * np.log(9) * scale / 0.02, rel=0.08)


def test_shot_noise_rises_on_a_riser_and_vanishes_on_a_plateau(tmp_path):
    station = LABS / "noise_lab.yaml"
    # the SR785's full baseband (0-102.4 kHz, 800 lines: 128 Hz per line, ~8 ms per average)
    common = ["--station", str(station), "--bias-start", "-1.0", "--bias-stop", "1.0", "--bias-step", "0.5",
              "--time-constant", "1e-4", "--averages", "20", "--measure-reference", "true",
              "--center", "51200", "--span", "102400"]
    riser = run(tmp_path, "shot-noise", *common, "--gate-value", "-1.2")  # G ~ 0.5 G0
    plateau = run(tmp_path, "shot-noise", *common, "--gate-value", "-1.15")  # G = 1 G0

    def excess(df):
        m = df[df["Reference"] == 0]
        zero = m[m["Bias (V)"].abs() < 1e-9]["PSD (V^2/Hz)"].mean()
        high = m[m["Bias (V)"].abs() > 0.99]["PSD (V^2/Hz)"].mean()
        return high - zero, zero

    ex_riser, base = excess(riser)
    ex_plateau, _ = excess(plateau)
    assert ex_riser > 0.05 * base  # loud on the riser (averaged noise scatters ~ base / sqrt(20) per point)
    assert abs(ex_plateau) < 0.2 * ex_riser  # quiet on the plateau
    ref = riser[riser["Reference"] == 1]
    assert len(ref) == 5 and (ref["G/G0"].abs() < 0.01).all()  # the reference pass is pinched off
    spectra = sorted(tmp_path.glob("*.spectra.csv"))
    assert spectra and len(pd.read_csv(spectra[0])) > 0


def test_noise_against_gate_is_largest_on_the_risers(tmp_path):
    station = LABS / "noise_lab.yaml"
    df = run(tmp_path, "noise-vs-gate", "--station", str(station), "--start", "-1.26", "--stop", "-1.1",
             "--step", "0.01", "--bias-value", "1.0", "--time-constant", "1e-4", "--averages", "20",
             "--center", "51200", "--span", "102400")
    g = df["G/G0"].to_numpy()
    psd = df["PSD (V^2/Hz)"].to_numpy()
    on_riser = psd[(g > 0.3) & (g < 0.7)].mean()
    on_plateau = psd[np.abs(g - 1.0) < 0.02].mean()
    pinched = psd[g < 0.02].mean()
    assert on_riser > on_plateau and on_riser > pinched


def test_hall_sweep_shows_quantised_plateaus(tmp_path):
    station = fast_copy(tmp_path, "hall_lab.yaml", magnet_rate=2.0)
    df = run(tmp_path, "hall-sweep", "--station", str(station), "--field-start", "3.6", "--field-stop", "4.6",
             "--field-step", "0.1", "--time-constant", "0.003")
    r_k = H / E**2
    nu2 = df[(df["Field (T)"] > 3.9) & (df["Field (T)"] < 4.35)]
    assert len(nu2) >= 3
    # n = 2e11 cm^-2: filling factor 2 near 4.1 T: R_xy = h / (2 e^2) within 1e-3, R_xx ~ 0
    assert np.allclose(nu2["R_xy (ohm)"], r_k / 2, rtol=1e-3)
    assert (nu2["R_xx (ohm)"].abs() < 1e-3 * r_k).all()
