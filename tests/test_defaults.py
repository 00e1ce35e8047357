"""Every procedure's defaults give its physics (issue 16): ``qpclab run NAME`` with no option but the data file, on
the packaged lab it picks itself, then ``qpclab analyse`` (:func:`qpclab.analysis.report.analyse`, what the command
prints) on the file. Each quantity is compared with the packaged lab's sample (its lab file and the preset in
samples.yaml), within the round-trip tolerances of tests/test_analysis_fits.py: subband spacing and lever arm 5 %,
electron temperature 10 %, |g| 5 %, Fano factor 0.03, density 2 %, pinch-off within 5 % of hbar omega_x / alpha.

Each run's duration is printed in the test's output and recorded as its ``duration_s`` property (``--junitxml``):
the defaults are meant to take well under two minutes each (no assertion on time).
"""

import time

import numpy as np
import pytest
import yaml

from qpclab.analysis.constants import E, H, R_K
from qpclab.analysis.landauer import fano_factor
from qpclab.analysis.report import analyse
from qpclab.cli import main
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.sim.sample_response import load_sample
from qpclab.sim_configs import packaged_labs

SPACING_REL = LEVER_REL = 0.05
TEMPERATURE_REL = 0.10
G_REL = 0.05
FANO_ABS = 0.03
DENSITY_REL = 0.02


def simulation(lab: str) -> dict:
    """The ``simulation:`` section of a packaged lab file."""
    return yaml.safe_load(packaged_labs()[lab].read_text(encoding="utf-8"))["simulation"]


def sample(lab: str):
    """The packaged lab's sample (its preset with the lab's overrides): the truth the analysis is compared with."""
    return load_sample(simulation(lab)["sample"])


def lever(s) -> float:
    (value,) = s.lever_arms_eV_per_V.values()
    return value


def default_run(name: str, lab: str, tmp_path, capsys, record_property, **analysis):
    """``qpclab run NAME`` with its defaults (the lab it picks: ``lab``, freshly powered on), then the analysis.
    Returns the report; every quantity the analysis tries must be determined."""
    library = SimVisaLibrary(str(packaged_labs()[lab]))
    library.reset()
    data = tmp_path / f"{name}.csv"
    start = time.monotonic()
    code = main(["run", name, "--data", str(data), "--quiet"])
    seconds = time.monotonic() - start
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"({packaged_labs()[lab]})" in out  # the run's line names the station file it opened
    assert (f"using the packaged lab {lab!r}" in out) == (lab != "qpc")  # the lab it picked, said unless the default
    library.lab.assert_no_unknown_commands()
    library.reset()
    record_property("duration_s", round(seconds, 2))
    report = analyse(data, tmp_path, pdf=False, **analysis)
    with capsys.disabled():  # in the test's output, captured or not
        print(f"\n{name} with its defaults on the packaged lab {lab!r}: {seconds:.1f} s", end=" ")
    print(report.text())  # shown when the test fails
    assert not report.problems, report.problems
    return report


def test_staircase_defaults_give_the_spacing_and_the_pinch_off(tmp_path, capsys, record_property):
    s = sample("qpc")
    rep = default_run("staircase", "qpc", tmp_path, capsys, record_property)
    fit = rep.values["saddle"]
    assert fit.spacing_V.value == pytest.approx(s.hw_y_eV / lever(s), rel=SPACING_REL)
    assert fit.v_pinch.value == pytest.approx(s.v_pinch, abs=0.05 * s.hw_x_eV / lever(s))
    plateaus = rep.values["plateaus"]
    assert len(plateaus) >= 8  # the whole staircase up to 0 V: one plateau per subband spacing
    assert [p.index for p in plateaus] == list(range(1, len(plateaus) + 1))  # none missing, none twice
    spacing = s.hw_y_eV / lever(s)
    for p in plateaus:  # plateau n lies between risers n - 1 and n, centred at v_pinch + (n - 1/2) spacing
        assert p.mean_G0 == pytest.approx(p.index, abs=0.01)
        assert p.center_V == pytest.approx(s.v_pinch + (p.index - 0.5) * spacing, abs=0.25 * spacing)


def test_gate_gate_map_defaults_give_the_lever_arm_ratio_of_the_two_halves(tmp_path, capsys, record_property):
    s = sample("qdac")
    alpha = s.lever_arms_eV_per_V
    rep = default_run("gate-gate-map", "qdac", tmp_path, capsys, record_property)
    fit = rep.values["gate_map"]
    assert len(fit.lines) >= 2
    assert fit.lever_ratio.value == pytest.approx(alpha["gate_right"] / alpha["gate_left"], rel=LEVER_REL)
    assert fit.line_spacing_V.value == pytest.approx(s.hw_y_eV / alpha["gate_left"], rel=SPACING_REL)
    for line in fit.lines:  # riser n: alpha_l (V_l - V_p) + alpha_r (V_r - V_p) = n hbar omega_y
        expected = s.v_pinch + (line.riser * s.hw_y_eV - alpha["gate_right"] * (line.gate2_V - s.v_pinch)) / alpha["gate_left"]
        assert line.gate_V.value == pytest.approx(expected, abs=0.05 * s.hw_x_eV / alpha["gate_left"])


def test_bias_map_defaults_reach_the_diamonds_and_give_lever_arm_and_spacing(tmp_path, capsys, record_property):
    s = sample("qpc")
    rep = default_run("bias-map", "qpc", tmp_path, capsys, record_property)
    res = rep.values["bias_spectroscopy"]
    assert res.lever.value == pytest.approx(lever(s), rel=LEVER_REL)
    assert len(res.subband_spacings_eV) >= 2
    for spacing in res.subband_spacings_eV:
        assert spacing.value == pytest.approx(s.hw_y_eV, rel=SPACING_REL)
    assert not any("diamond vertices" in n for n in res.notes)  # the bias reaches the diamonds' closure


def test_field_map_defaults_give_the_g_factor(tmp_path, capsys, record_property):
    s = sample("fast_field")
    rep = default_run("field-map", "fast_field", tmp_path, capsys, record_property, lever_eV_per_V=lever(s))
    subbands = rep.values["zeeman"].subbands
    assert len(subbands) >= 2
    for sub in subbands:
        assert sub.g_abs.value == pytest.approx(abs(s.g_factor), rel=G_REL)


def test_temperature_map_defaults_give_the_electron_temperature(tmp_path, capsys, record_property):
    s = sample("fast_field")
    fridge = simulation("fast_field")["fridge"]
    rep = default_run("temperature-map", "fast_field", tmp_path, capsys, record_property, lever_eV_per_V=lever(s),
                      hw_x_eV=s.hw_x_eV)
    table = rep.values["temperature"]
    assert len(table) >= 3
    t_mc = table["T_mc (K)"].to_numpy()
    # the Lake Shore twin's electrons: T_e = (T_mc^5 + T_sat^5)^(1/5)
    expected = (t_mc**5 + fridge["electron_saturation_K"] ** 5) ** 0.2
    assert table["T_e (K)"].to_numpy() == pytest.approx(expected, rel=TEMPERATURE_REL)


def test_shot_noise_defaults_give_the_fano_factor_and_the_electron_temperature(tmp_path, capsys, record_property):
    from qpclab.procedures.noise import ShotNoise

    s = sample("noise")
    rep = default_run("shot-noise", "noise", tmp_path, capsys, record_property)
    fit = rep.values["shot_noise"]
    truth = fano_factor(s.transmissions({"gate": ShotNoise().gate_value}))  # at the default gate point
    assert fit.fano.value == pytest.approx(truth, abs=FANO_ABS)
    assert fit.temperature_K.value == pytest.approx(simulation("noise")["electron_temperature_K"],
                                                    rel=TEMPERATURE_REL)
    assert not fit.notes


def test_noise_vs_gate_defaults_give_the_fano_factor_on_each_riser(tmp_path, capsys, record_property):
    s = sample("noise")
    rep = default_run("noise-vs-gate", "noise", tmp_path, capsys, record_property,
                      temperature_K=simulation("noise")["electron_temperature_K"])
    res = rep.values["noise_vs_gate"]
    assert [n for n, *_ in res.riser_centres] == [0, 1, 2]  # the range holds the first three risers
    spacing = s.hw_y_eV / lever(s)
    for n, gate, _, f in res.riser_centres:
        # the analysis' riser centre where the sample's riser n is (v_pinch + n spacing), within the 20 mV gate step
        assert gate == pytest.approx(s.v_pinch + n * spacing, abs=0.02), f"riser {n}"
        assert f == pytest.approx(fano_factor(s.transmissions({"gate": gate})), abs=FANO_ABS), f"riser {n}"
    assert res.plateau_fano.value == pytest.approx(0.0, abs=FANO_ABS)  # no shot noise on a plateau


def test_hall_sweep_defaults_give_the_density_and_the_plateaus(tmp_path, capsys, record_property):
    s = sample("fast_hall")
    rep = default_run("hall-sweep", "fast_hall", tmp_path, capsys, record_property)
    res = rep.values["hall"]
    assert res.density_m2.value == pytest.approx(s.density_m2, rel=DENSITY_REL)
    nus = [p.filling_factor for p in res.plateaus]
    assert {2, 4} <= set(nus)
    for p in res.plateaus:
        assert p.mean_R_xy_ohm == pytest.approx(R_K / p.filling_factor, rel=1e-4)
        assert s.density_m2 * H / (E * p.center_T) == pytest.approx(p.filling_factor, abs=0.5)
    assert np.all(np.diff(nus) < 0)  # the filling factor falls as the field rises


# ---- the two reports added for the defaults refuse what they cannot measure --------------------------------------
def test_the_gate_map_and_noise_reports_refuse_data_without_their_physics():
    import pandas as pd

    from qpclab.analysis.gate_map import fit_riser_lines
    from qpclab.analysis.io import AnalysisError
    from qpclab.analysis.shot_noise import fano_against_gate
    from qpclab.analysis.synthetic import DEFAULT_CIRCUIT

    v1, v2 = np.meshgrid(np.linspace(-2.0, -1.5, 11), np.linspace(-2.0, -1.5, 5))
    pinched = pd.DataFrame({"Gate (V)": v1.ravel(), "Gate 2 (V)": v2.ravel(), "G/G0": 1e-4})
    with pytest.raises(AnalysisError, match="no riser"):
        fit_riser_lines(pinched)
    zero_bias = pd.DataFrame({"Gate (V)": np.linspace(-1.3, -1.0, 7), "PSD (V^2/Hz)": 1e-13, "X (V)": 1e-2,
                              "Bias (V)": 0.0})
    with pytest.raises(AnalysisError, match="bias is zero"):
        fano_against_gate(zero_bias, DEFAULT_CIRCUIT, 0.1, 0.05)


def test_tune_defaults_set_the_gate_to_half_a_conductance_quantum(tmp_path, capsys, record_property):
    """``qpclab run tune`` (target 0.5 G0): the gate the analysis reports, put into the sample model of the packaged
    lab (not the run's own check readings), gives 0.5 G0 within 0.03 G0."""
    s = sample("qpc")
    rep = default_run("tune", "qpc", tmp_path, capsys, record_property)
    result = rep.values["tune"]
    assert result["goal"] == "G = 0.5 G0"
    gate_V = float(result["gate"].split()[0])
    temperature_K = simulation("qpc")["electron_temperature_K"]
    assert s.conductance({"gate": gate_V}, temperature_K) * H / (2 * E**2) == pytest.approx(0.5, abs=0.03)
