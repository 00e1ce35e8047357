"""Analysis basics: run files, raw readings to conductance, QPC bias, plateau finding, bad data, and one real run
on the simulated lab (procedures.staircase through procedures.runner)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from qpclab.analysis.circuit import MeasurementCircuit
from qpclab.analysis.conductance import add_conductance, qpc_bias_V, transconductance
from qpclab.analysis.constants import G0
from qpclab.analysis.io import AnalysisError, Value, load_run
from qpclab.analysis.plateaus import find_plateaus, step_positions
from qpclab.analysis.synthetic import random_qpc, simulate_staircase, write_run

CIRCUIT = MeasurementCircuit(excitation_divider=2e-4, bias_divider=1e-3, series_resistance_ohm=2000.0,
                             preamp_gain_V_per_A=1e7)


def _logistic_staircase(x, centers, scale):
    return sum(1.0 / (1.0 + np.exp(-(x - c) / scale)) for c in centers)


# ---- run files --------------------------------------------------------------------------------------------------
def test_load_run_reads_parameters_metadata_and_circuit(tmp_path):
    df = pd.DataFrame({"Gate (V)": [-1.0, -0.9], "X (V)": [0.0, 0.01], "Y (V)": [0.0, 0.0]})
    path = write_run(tmp_path / "r.csv", df, circuit=CIRCUIT, excitation_V=0.05,
                     parameters={"Start": "-1 V", "Gate": "gate"})
    run = load_run(path)
    assert run.procedure == "qpclab.procedures.staircase.Staircase"
    assert run.excitation_V == 0.05
    assert run.number("Start") == -1.0
    assert run.parameters["Gate"] == "gate"
    assert run.circuit == CIRCUIT
    assert isinstance(run.metadata["Station"], dict)
    assert list(run.data.columns) == ["Gate (V)", "X (V)", "Y (V)"]
    with pytest.raises(AnalysisError, match="Lock-in time constant"):
        run.number("Lock-in time constant")


def test_load_run_unicode_escaped_station_json(tmp_path):
    # the runner writes metadata with unicode_escape: a path with a non-ASCII character and a tab survives
    station = {"path": "C:\\data\\Probe\u00e9\tX.yaml", "station": {"circuit": {"series_resistance_ohm": 750.0}}}
    text = ("#Procedure: <qpclab.procedures.staircase.Staircase>\n#Parameters:\n#\tLock-in sine output: 0.1 V\n"
            "#Metadata:\n#\tStation: " + json.dumps(station, ensure_ascii=False).encode("unicode_escape").decode()
            + "\n#Data:\nGate (V),X (V)\n0,0\n1,0.001\n")
    p = tmp_path / "u.csv"
    p.write_text(text, encoding="utf-8")
    run = load_run(p)
    assert run.metadata["Station"]["path"] == station["path"]
    assert run.circuit.series_resistance_ohm == 750.0
    assert run.circuit.preamp_gain_V_per_A == MeasurementCircuit().preamp_gain_V_per_A  # default kept


def test_load_run_without_circuit_warns_and_conversion_refuses(tmp_path):
    df = pd.DataFrame({"Gate (V)": [0.0, 1.0], "X (V)": [0.0, 0.01]})
    path = write_run(tmp_path / "n.csv", df, circuit=None)
    with pytest.warns(UserWarning, match="no measurement circuit"):
        run = load_run(path)
    with pytest.raises(AnalysisError, match="no measurement circuit"):
        run.require_circuit()


def test_load_run_header_only_refused(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("#Procedure: <x.Y>\n#Parameters:\n#Data:\n")
    with pytest.raises(AnalysisError, match="no data"):
        load_run(p)


# ---- conductance ---------------------------------------------------------------------------------------------------
def test_conductance_from_x_by_hand():
    # X = A * V_exc * G / (1 + G R_s) -> G; hand numbers: 0.1 V sine, 2e-4 divider: 20 uV; G = G0
    v_exc = 0.1 * 2e-4
    i = v_exc * G0 / (1 + G0 * 2000.0)
    x = 1e7 * i
    out = add_conductance(pd.DataFrame({"X (V)": [x, 0.0]}), CIRCUIT, 0.1)
    assert out["G/G0"].iloc[0] == pytest.approx(1.0, rel=1e-12)
    assert out["G (S)"].iloc[1] == 0.0
    with pytest.raises(AnalysisError, match="sine output"):
        add_conductance(pd.DataFrame({"X (V)": [x]}), CIRCUIT, 0.0)


def test_qpc_bias_constant_conductance_is_divider():
    # constant g: V_qpc = a V_source / (1 + g R_s) exactly
    g = 2.5 * G0
    vs = np.linspace(-1, 1, 21)
    v = qpc_bias_V(vs, np.full(vs.size, g), CIRCUIT)
    np.testing.assert_allclose(v, 1e-3 * vs / (1 + g * 2000.0), rtol=1e-12, atol=1e-18)


def test_qpc_bias_integrates_varying_conductance():
    # g(V_app) = g0 + k V_app: V_qpc = int dV / (1 + (g0 + k V) R) = ln((1 + (g0 + k V) R) / (1 + g0 R)) / (k R)
    g0, k, r = G0, 0.3 * G0 / 1e-3, 2000.0
    vs = np.linspace(-1, 1, 2001)
    va = 1e-3 * vs
    v = qpc_bias_V(vs, g0 + k * va, CIRCUIT)
    expect = np.log((1 + (g0 + k * va) * r) / (1 + g0 * r)) / (k * r)
    np.testing.assert_allclose(v, expect, rtol=1e-6, atol=1e-12)


def test_transconductance_of_a_line_and_a_logistic():
    x = np.linspace(-1, 1, 401)
    gx, d = transconductance(x, 3.0 * x + 1.0)
    np.testing.assert_allclose(d, 3.0, rtol=1e-9)
    s = 0.05
    gx, d = transconductance(x, 1 / (1 + np.exp(-x / s)))
    assert np.max(d) == pytest.approx(1 / (4 * s), rel=0.01)  # logistic slope at its centre


# ---- plateaus --------------------------------------------------------------------------------------------------------
def test_plateaus_of_an_ideal_staircase():
    x = np.linspace(-0.1, 1.0, 1101)
    centers = [0.0, 0.2, 0.4, 0.6]
    y = _logistic_staircase(x, centers, 0.01)
    plats = find_plateaus(x, y)
    assert [p.index for p in plats] == [1.0, 2.0, 3.0, 4.0]
    for p, lo, hi in zip(plats, centers, centers[1:] + [1.0]):
        assert lo < p.start_V < p.center_V < p.stop_V <= hi
        assert abs(p.deviation_G0) < 1e-3
    # a flat region of 0.2 V between risers of scale 0.01 V: the plateau covers most of it
    assert 0.1 < plats[1].width_V < 0.2
    np.testing.assert_allclose(step_positions(x, y), centers, atol=2e-3)


def test_plateaus_report_offset_and_slope_of_a_bad_plateau():
    x = np.linspace(-0.1, 0.6, 701)
    y = 0.93 * _logistic_staircase(x, [0.0, 0.3], 0.01) + 0.05 * x  # disorder: below the integers, tilted
    plats = find_plateaus(x, y)
    assert plats[0].index == 1.0
    assert plats[0].deviation_G0 == pytest.approx(-0.07 + 0.05 * plats[0].center_V, abs=5e-3)
    assert plats[0].slope_G0_per_V == pytest.approx(0.05, abs=0.02)


def test_plateaus_spin_resolved_unit():
    x = np.linspace(-0.1, 0.5, 601)
    y = 0.5 * _logistic_staircase(x, [0.0, 0.15, 0.3], 0.005)
    plats = find_plateaus(x, y, unit=0.5)
    assert [p.index for p in plats] == [0.5, 1.0, 1.5]


def test_plateaus_bad_data_messages():
    x = np.linspace(-1, 0, 200)
    with pytest.raises(AnalysisError, match="pinched off"):
        find_plateaus(x, 1e-4 * np.random.default_rng(0).standard_normal(200))
    with pytest.raises(AnalysisError, match="no plateau"):
        find_plateaus(x, 3.0 * (x + 1))  # a ramp, no step
    with pytest.raises(AnalysisError, match="finite points"):
        find_plateaus(x[:5], np.ones(5))
    y = _logistic_staircase(x, [-0.8, -0.5], 0.01)
    y[::2] = np.nan
    assert [p.index for p in find_plateaus(x, y)] == [1.0, 2.0]  # NaNs are dropped, not propagated
    with pytest.raises(AnalysisError, match="finite points"):
        find_plateaus(x, np.full(200, np.nan))


def test_plateaus_from_simulated_staircase_file(tmp_path):
    p = random_qpc(11)
    df = simulate_staircase(p, x_noise_V=2e-4, seed=3)
    path = write_run(tmp_path / "s.csv", df)
    run = load_run(path)
    d = add_conductance(run.data, run.circuit, run.excitation_V)
    plats = find_plateaus(d["Gate (V)"], d["G/G0"])
    assert [q.index for q in plats[:4]] == [1.0, 2.0, 3.0, 4.0]
    # the risers sit at v_pinch + n hw_y / alpha (model truth), within a fifth of the step width
    steps = step_positions(d["Gate (V)"], d["G/G0"])
    truth = [p.step_center_V(n) for n in range(len(steps))]
    np.testing.assert_allclose(steps, truth, atol=0.2 * p.hw_x_eV / p.lever_eV_per_V)


@pytest.mark.parametrize("value, error, text", [
    (1.234e-3, 5e-6, "1.2340 ± 0.0050 meV"),  # scaled by 1e3 below
    (20e-3, 0.015e-3, "20.000 ± 0.015 meV"),  # the uncertainty's two digits set the value's last decimal
    (-1.2, 0.74e-6, "-1200.00000 ± 0.00074 meV"),
    (1.2346, 27e-3, "1235 ± 27 meV"),
    (1.234e3, 56.0, "(1.234 ± 0.056)e+06 meV"),  # beyond plain decimals: a common power of ten
    (3e-3, 0.0, "3 meV"),  # no uncertainty: the value alone
])
def test_value_formatting(value, error, text):
    v = Value(value, error, "eV")
    assert v.format(1e3, "meV") == text
    assert v.relative_error == pytest.approx(abs(error / value))


# ---- a real run on the simulated lab -----------------------------------------------------------------------------
def test_staircase_run_on_simulated_lab_gives_integer_plateaus(tmp_path):
    from qpclab.instruments.station import load_station
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    proc = Staircase()
    proc.start, proc.stop, proc.step = -1.4, -0.6, 0.01  # coarse: ~10 points per plateau
    proc.time_constant = 1e-4
    path = tmp_path / "stair.csv"
    result = run_procedure(proc, path, progress=False)
    assert result.status == "finished"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = load_run(path)
    circuit = run.circuit or load_station().circuit  # see test_staircase_run_records_its_circuit
    d = add_conductance(run.data, circuit, run.excitation_V)
    plats = find_plateaus(d["Gate (V)"], d["G/G0"])
    assert [p.index for p in plats[:5]] == [1.0, 2.0, 3.0, 4.0, 5.0]
    for p in plats[:5]:
        assert abs(p.deviation_G0) < 0.01  # clean simulated sample: within 1 % of the integer


def test_staircase_run_records_its_circuit(tmp_path):
    from qpclab.instruments.station import load_station
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    proc = Staircase()
    proc.start, proc.stop, proc.step, proc.time_constant = -1.3, -1.2, 0.05, 1e-4
    run_procedure(proc, tmp_path / "c.csv", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = load_run(tmp_path / "c.csv")
    assert run.circuit == load_station().circuit
