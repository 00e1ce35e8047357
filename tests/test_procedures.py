"""Procedures end to end from the command line on the simulated stations; their data shows the physics."""

import numpy as np
import pandas as pd
import pytest

from qpclab.cli import main
from qpclab.instruments.station import default_station_path

SPLIT_GATE_LAB = default_station_path().with_name("split_gate_lab.yaml")
FAST = ["--quiet", "--time-constant", "1e-4"]


def _run(tmp_path, *argv):
    data = tmp_path / "run.csv"
    code = main(["run", *argv, "--data", str(data), *FAST])
    assert code == 0
    return pd.read_csv(data, comment="#"), data


def test_run_staircase_from_the_command_line(tmp_path, sim_library):
    df, path = _run(tmp_path, "staircase", "--start", "-1.3", "--stop", "-0.9", "--step", "0.004",
                    "--direction", "up and down")
    assert set(df["Sweep"]) == {0, 1}
    up, down = df[df["Sweep"] == 0], df[df["Sweep"] == 1]
    assert np.allclose(up["Gate (V)"].to_numpy(), down["Gate (V)"].to_numpy()[::-1])
    # no hysteresis in a Landauer QPC: up and down sweeps agree point by point (within the reading noise)
    assert np.nanmax(np.abs(up["G/G0"].to_numpy() - down["G/G0"].to_numpy()[::-1])) < 0.01
    # plateaus at 1, 2, 3 G0 (gate -1.3 V to -0.9 V covers the first three subbands of the preset)
    for n in (1, 2, 3):
        assert (np.abs(df["G/G0"] - n) < 0.01 * n).sum() >= 10
    header = path.read_text().split("\n#Data", 1)[0] if "#Data" in path.read_text() else path.read_text()
    assert "Station" in header and "Instrument snapshot" in header


def test_gate_column_records_what_the_instrument_holds(tmp_path, sim_library, sim_lab):
    """The Keithley 2400 takes levels with 6 significant digits (pymeasure's ``%g``): a sweep from -1.2345678 V
    in 1.1111111 mV steps cannot hold the planned values; the Gate column must show the values the (simulated)
    instrument was set to, as its own record of every level it received shows them."""
    df, _ = _run(tmp_path, "staircase", "--start", "-1.2345678", "--stop", "-1.2234567", "--step", "0.0011111111")
    held = {v for _, v in sim_lab.history["gate"]}
    recorded = df["Gate (V)"].to_numpy()
    planned = np.linspace(-1.2345678, -1.2234567, len(recorded))
    assert len(recorded) == 11
    assert set(recorded) <= held  # every recorded value is one the instrument was set to
    assert not np.array_equal(recorded, planned)  # and not the planned values, which it could not hold
    assert np.allclose(recorded, planned, rtol=0, atol=5e-6)  # 6 significant digits of ~1.2 V


def test_bias_map_shows_half_plateaus_at_the_subband_spacing(tmp_path, sim_library):
    # preset: hw_y = 2 meV; the bias divider 1e-3 makes 2 V at the source ~2 mV at the sample
    df, _ = _run(tmp_path, "bias-map", "--start", "-1.3", "--stop", "-0.95", "--step", "0.005",
                 "--bias-start", "0", "--bias-stop", "2.0", "--bias-step", "2.0")
    zero = df[df["Bias (V)"] == 0.0]["G/G0"].to_numpy()
    high = df[df["Bias (V)"] == 2.0]["G/G0"].to_numpy()
    assert len(zero) == len(high) == 71
    # linear response: a point near a half integer only on a riser (at most one per riser at 5 mV steps);
    # at eV ~ hw_y the bias window holds one subband more for one lead than the other: half plateaus
    for half in (0.5, 1.5):
        assert (np.abs(zero - half) < 0.03).sum() <= 2
        assert (np.abs(high - half) < 0.03).sum() >= 4


def test_gate_gate_map_depends_on_the_sum_of_the_gates(tmp_path, sim_library):
    df, _ = _run(tmp_path, "gate-gate-map", "--station", str(SPLIT_GATE_LAB), "--gate", "gate_left",
                 "--gate2", "gate_right", "--start", "-1.5", "--stop", "-0.7", "--step", "0.1",
                 "--gate2-start", "-1.5", "--gate2-stop", "-0.7", "--gate2-step", "0.1")
    grid = df.pivot_table(index="Gate 2 (V)", columns="Gate (V)", values="G/G0")
    g = grid.to_numpy()
    assert g.shape == (9, 9)
    # equal lever arms: the map is symmetric under exchange of the two halves
    assert np.nanmax(np.abs(g - g.T)) < 0.02
    assert g[0, 0] < 0.01 and g[-1, -1] > 2.9  # both halves low: pinched off; both high: open


def test_dry_run_refuses_a_plan_beyond_the_limits_and_moves_nothing(tmp_path, sim_library, capsys):
    before = {k: list(v) for k, v in sim_library.lab.history.items()}
    code = main(["run", "staircase", "--stop", "0.5", "--dry-run"])
    assert code == 2
    assert "outside its limits" in capsys.readouterr().err
    assert sim_library.lab.history == before
    assert main(["run", "staircase", "--stop", "-1.0", "--dry-run"]) == 0
    assert "nothing moves" in capsys.readouterr().out
    assert sim_library.lab.history == before


@pytest.mark.parametrize("argv, message", [
    (["run", "staircase", "--gate", "nope"], "is not a gate of the station"),
    (["run", "staircase", "--start", "nan"], "not a finite number"),
    (["run", "staircase", "--filter-slope", "7"], "filter slope"),
    (["run", "field-map", "--station", "qpc"], "no magnet"),
    (["run", "shot-noise", "--station", "qpc"], "no noise analyser"),
    (["run", "hall-sweep", "--station", "qpc"], "lock-ins labelled xx and xy"),
])
def test_bad_parameters_get_a_clear_error_before_anything_moves(argv, message, sim_library, capsys):
    before = {k: list(v) for k, v in sim_library.lab.history.items()}
    assert main(argv + ["--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert sim_library.lab.history == before


def test_sweep_plans_are_lazy_and_exact():
    """A 1e6-point plan costs no memory (values computed on demand); reversed sweeps hold the same floats."""
    import sys

    from qpclab.procedures.plan import linspace_points

    sweep = linspace_points(-1.4, -0.2, 1.2e-6)
    assert len(sweep) == 1_000_001 and sys.getsizeof(sweep) < 1000
    assert sweep[0] == -1.4 and sweep[-1] == -0.2 and sweep[500_000] == pytest.approx(-0.8, abs=1e-12)
    back = sweep[::-1]
    assert back[0] == sweep[-1] and back[-1] == sweep[0] and back[::-1] is sweep
    small = linspace_points(-1.0, -0.9, 0.02)
    assert list(small[::-1]) == list(small)[::-1]
    assert max(abs(b - a) for a, b in zip(small, list(small)[1:])) <= 0.02 * (1 + 1e-12)
