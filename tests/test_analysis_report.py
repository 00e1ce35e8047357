"""`qpclab analyse FILE` (analysis.report.main / analyse): the report's numbers, the figures (PNG and PDF), and
clear "not determined" entries instead of numbers for bad data."""

import re

import numpy as np
import pytest

from qpclab.analysis.report import analyse, detect_kind, main
from qpclab.analysis.synthetic import (random_qpc, simulate_field_map, simulate_hall, simulate_shot_noise,
                                       simulate_staircase, write_run)

PNG = b"\x89PNG\r\n\x1a\n"


def _figures_ok(rep):
    assert rep.figures
    for f in rep.figures:
        assert f.read_bytes()[:8] == PNG
        assert f.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"


def test_cli_staircase_report(tmp_path, capsys):
    p = random_qpc(21)
    path = write_run(tmp_path / "stair.csv", simulate_staircase(p, x_noise_V=1e-4))
    rc = main([str(path), "--out", str(tmp_path / "figs"), "--lever", str(p.lever_eV_per_V),
               "--temperature", str(p.temperature_K)])
    out = capsys.readouterr().out
    assert rc in (0, 1)
    assert "measurement: staircase" in out and "Plateaus" in out
    m = re.search(r"hbar omega_y\s+= ([0-9.]+) ± \S+ meV", out)
    assert m and float(m.group(1)) == pytest.approx(p.hw_y_eV * 1e3, rel=0.05)
    assert list((tmp_path / "figs").glob("*.png")) and list((tmp_path / "figs").glob("*.pdf"))


def test_analyse_each_kind_writes_figures(tmp_path):
    p = random_qpc(22)
    files = {
        "field map": write_run(tmp_path / "field.csv", simulate_field_map(p, n_gate=120, n_field=11,
                                                                          x_noise_V=1e-4), procedure="field-map"),
        "shot noise": write_run(tmp_path / "noise.csv", simulate_shot_noise(p, p.step_center_V(0)),
                                procedure="shot-noise"),
        "hall": write_run(tmp_path / "hall.csv", simulate_hall(n_field=401), excitation_V=1.0,
                          procedure="hall-sweep"),
    }
    for kind, path in files.items():
        rep = analyse(path, tmp_path / "out", lever_eV_per_V=p.lever_eV_per_V)
        assert rep.kind == kind
        _figures_ok(rep)
        assert not rep.problems, rep.problems
    rep = analyse(files["field map"], tmp_path / "out2")  # no lever arm: splittings only, no g
    assert "no g-factors" in rep.text()


def test_report_of_a_pinched_off_run_gives_reasons_not_numbers(tmp_path, capsys):
    p = random_qpc(23)
    lo = p.v_pinch - 0.3
    df = simulate_staircase(p, gate_range=(lo - 0.2, lo), x_noise_V=1e-4)
    path = write_run(tmp_path / "off.csv", df)
    rc = main([str(path), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "not determined" in out and "pinched off" in out
    assert "hbar omega" not in out and "lever arm a" not in out


def test_report_with_nans_and_truncation(tmp_path):
    p = random_qpc(24)
    df = simulate_staircase(p, x_noise_V=1e-4)
    df.loc[df.index[::3], "X (V)"] = np.nan
    df = df.iloc[: int(0.45 * len(df))]  # truncated: two plateaus
    rep = analyse(write_run(tmp_path / "t.csv", df), tmp_path)
    assert [q.index for q in rep.values["plateaus"]][:2] == [1.0, 2.0]


def test_cli_unreadable_file(tmp_path, capsys):
    assert main([str(tmp_path / "missing.csv")]) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("#Procedure: <x.Y>\n#Data:\nfoo,bar\n1,2\n")
    assert main([str(bad)]) == 2
    assert "unknown measurement" in capsys.readouterr().err


def test_detect_kind():
    assert detect_kind(["Gate (V)", "Bias (V)", "X (V)"]) == "bias map"
    assert detect_kind(["Bias (V)", "PSD (V^2/Hz)", "Reference", "Gate (V)"]) == "shot noise"
    assert detect_kind(["Gate (V)", "PSD (V^2/Hz)", "Bias (V)", "X (V)"]) == "noise vs gate"
    assert detect_kind(["Gate (V)", "Temperature (K)", "X (V)"]) == "temperature map"
    assert detect_kind(["Gate (V)", "Gate 2 (V)", "X (V)"]) == "gate map"
