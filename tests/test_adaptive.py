"""Adaptive staircases (issue 17): the risers resolved and the plateaus sparse, judged against a dense grid of the
same device with the same rule as any grid (qpclab.analysis.steps), every move within the gate's step, rate and
limits (the simulator's history), and a run killed with SIGKILL resumed without re-measuring a point."""

import math
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

import qpclab
from qpclab.analysis.io import load_run
from qpclab.analysis.report import analyse
from qpclab.analysis.steps import grid_points_needed, staircase_errors, staircase_reference
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import load_station
from qpclab.procedures.base import ParameterError
from qpclab.procedures.runner import complete_rows, run_status
from qpclab.sim_configs import station_path
from test_safe_exits import check_history

#: a range whose risers do not fall on round fractions of it (a coarse pass must not land on them by chance)
RANGE = {"start": -1.273, "stop": -0.731}
ADAPTIVE = {"sampling": "adaptive", "plateau_step": 0.1, "time_constant": 1e-4, **RANGE}
#: the resolution on the risers: the realistic lab's first riser (the 0.7 structure) is not symmetric
STEP = {"qpc": 0.01, "realistic": 0.004}
CENTRE_TOL_V, PLATEAU_TOL_G0 = 0.5e-3, 0.01
#: the adaptive run's points over the grid's for the same accuracy. Issue 17 asks for 1/3: on the full range -1.45 -
#: 0 V (benchmarks/bench_adaptive.py) 0.27 (default lab) and 0.19 (realistic); on this short range of five risers
#: the first two, bracketed before the risers' spacing is known, weigh more: measured 0.42 (22 / 52; the default
#: lab's risers are wide: a 10 mV grid suffices there) and 0.26 (24 / 91) on the realistic lab
POINTS_RATIO = {"qpc": 0.45, "realistic": 0.3}


def quiet_realistic(tmp_path):
    """The realistic lab without its telegraph fluctuator: its 1 mV switches of the pinch-off at random times
    would move the risers of any two runs apart by more than the 0.5 mV compared here (1/f noise, hysteresis, the
    0.7 structure and the gate-dependent spacing stay)."""
    data = yaml.safe_load(station_path("realistic").read_text())
    data["simulation"]["sample"]["telegraph"] = []
    path = tmp_path / "realistic_quiet.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def staircase_data(path):
    df = pd.read_csv(path, comment="#")
    return df["Gate (V)"].to_numpy(), df["G/G0"].to_numpy()


@pytest.mark.parametrize("lab", ["qpc", "realistic"])
def test_adaptive_staircase_matches_dense_grid_with_fewer_points(lab, tmp_path):
    station = str(station_path(lab)) if lab == "qpc" else str(quiet_realistic(tmp_path))
    qpclab.run("staircase", station=station, data=tmp_path / "dense.csv", progress=False, step=0.0005,
               time_constant=1e-4, **RANGE)
    gate, g = staircase_data(tmp_path / "dense.csv")
    reference = staircase_reference(gate, g)
    assert len(reference.centres) >= 4
    grid_needs = grid_points_needed(gate, g, reference, CENTRE_TOL_V, PLATEAU_TOL_G0)

    library = SimVisaLibrary(station)
    library.reset()
    qpclab.run("staircase", station=station, data=tmp_path / "adaptive.csv", progress=False, step=STEP[lab],
               **ADAPTIVE)
    spec = load_station(station).gates["gate"]
    check_history(library.lab.history["gate"], spec)  # every move within step, rate and limits

    a_gate, a_g = staircase_data(tmp_path / "adaptive.csv")
    centre_error, plateau_error = staircase_errors(reference, a_gate, a_g)
    assert centre_error <= CENTRE_TOL_V and plateau_error <= PLATEAU_TOL_G0
    assert len(a_gate) <= POINTS_RATIO[lab] * grid_needs, (len(a_gate), grid_needs)
    # one walk along the sweep, risers refined where the gate is: the gate travels the range once and a few short
    # returns while the first two risers are bracketed, not once per point
    travel = np.abs(np.diff(a_gate)).sum() / (RANGE["stop"] - RANGE["start"])
    assert travel <= 2.5  # measured: 1.6 (default lab), 2.0 (realistic)
    assert run_status(tmp_path / "adaptive.csv") == "finished"
    # `qpclab analyse` reads the adaptive file: its plateaus are the dense grid's (G at their middles), every one
    # between the reference's risers found
    report = analyse(tmp_path / "adaptive.csv", tmp_path / "figures", pdf=False)
    plateaus = report.values["plateaus"]
    dense_at = np.interp([p.center_V for p in plateaus], np.sort(gate), g[np.argsort(gate)])
    assert np.max(np.abs([p.mean_G0 for p in plateaus] - dense_at)) <= PLATEAU_TOL_G0
    assert len(plateaus) >= len(reference.centres) - 1
    if lab == "qpc":  # the fits (written at the end, and analyse's) agree with the simulated sample (samples.yaml)
        sample = yaml.safe_load((station_path("qpc").parent / "samples.yaml").read_text())["gaas_split_gate"]
        spacing = sample["hw_y_eV"] / sample["lever_arms_eV_per_V"]["gate"]
        fit, grid_fit = fit_lines(tmp_path / "adaptive.csv"), fit_lines(tmp_path / "dense.csv")
        saddle = report.values["saddle"]
        for pinch, step in ((fit["pinch-off V_p"], fit["step spacing hw_y/a"]),
                            (grid_fit["pinch-off V_p"], grid_fit["step spacing hw_y/a"]),
                            (saddle.v_pinch.value, saddle.spacing_V.value)):
            assert abs(pinch - sample["v_pinch"]) < 1e-3
            assert abs(step - spacing) < 0.01 * spacing
        assert [p.index for p in plateaus[:4]] == [1, 2, 3, 4]
        assert all(abs(p.mean_G0 - p.index) <= PLATEAU_TOL_G0 for p in plateaus[:4])  # flat plateaus: hw_y = 4 hw_x


def fit_lines(path) -> dict[str, float]:
    """The ``#Saddle fit:`` comment lines of a run file: {quantity: value in V}; each with an uncertainty."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("#Saddle fit:") and " = " in line and "mV" in line:
            name, _, value = line[len("#Saddle fit:"):].partition(" = ")
            mean, error = value.replace("mV", "").split("±")
            assert 0 < float(error) < abs(float(mean))
            out[name.strip()] = float(mean) * 1e-3
    return out


def test_online_fit_follows_the_staircase_as_points_arrive(tmp_path):
    """Points of a dense staircase in the order an adaptive run would give them (coarse first): the fit appears
    once two risers are in and ends at the sample's pinch-off and spacing (samples.yaml)."""
    from qpclab.analysis.online_fit import OnlineSaddleFit

    sample = yaml.safe_load((station_path("qpc").parent / "samples.yaml").read_text())["gaas_split_gate"]
    qpclab.run("staircase", station=str(station_path("qpc")), data=tmp_path / "dense.csv", progress=False,
               step=0.001, time_constant=1e-4, **RANGE)
    gate, g = staircase_data(tmp_path / "dense.csv")
    order = np.concatenate([np.arange(0, gate.size, 64), np.setdiff1d(np.arange(gate.size),
                                                                      np.arange(0, gate.size, 64))])
    online = OnlineSaddleFit(0.0, bins=100)
    fits = []
    for k, i in enumerate(order):
        online.add(gate[i], g[i])
        if k % 50 == 49 or k == order.size - 1:
            fits.append(online.update())
    final = fits[-1]
    assert final.n_points == gate.size
    assert abs(final.v_pinch.value - sample["v_pinch"]) < 1e-3
    spacing = sample["hw_y_eV"] / sample["lever_arms_eV_per_V"]["gate"]
    assert abs(final.spacing_V.value - spacing) < 0.01 * spacing
    assert 0 < final.v_pinch.stderr < 1e-3 and 0 < final.spacing_V.stderr < 1e-3


def test_adaptive_run_killed_resumes_without_remeasuring(tmp_path):
    station = str(station_path("qpc"))
    qpclab.run("staircase", station=station, data=tmp_path / "dense.csv", progress=False, step=0.0005,
               time_constant=1e-4, **RANGE)
    reference = staircase_reference(*staircase_data(tmp_path / "dense.csv"))
    data = tmp_path / "adaptive.csv"
    args = ["run", "staircase", "--sampling", "adaptive", "--step", "0.01", "--plateau-step", "0.1",
            "--start", str(RANGE["start"]), "--stop", str(RANGE["stop"]), "--time-constant", "0.003", "--quiet",
            "--data", str(data)]
    proc = subprocess.Popen([sys.executable, "-m", "qpclab", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (data.exists() and complete_rows(data) >= 12):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert run_status(data) is None
    before = pd.read_csv(data, comment="#", on_bad_lines="skip").iloc[:complete_rows(data)]
    assert 12 <= len(before)

    done = subprocess.run([sys.executable, "-m", "qpclab", "resume", str(data), "--quiet"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert run_status(data) == "finished"
    after = pd.read_csv(data, comment="#")
    assert len(after) > len(before)
    pd.testing.assert_frame_equal(after.iloc[:len(before)], before)  # the rows on disk stay as they were
    gate = after["Gate (V)"].to_numpy()
    assert len(np.unique(gate)) == len(gate)  # no point measured twice
    assert np.all(np.diff(after["Time (s)"]) > 0)  # the time column continues across the resume
    centre_error, plateau_error = staircase_errors(reference, gate, after["G/G0"].to_numpy())
    assert centre_error <= CENTRE_TOL_V and plateau_error <= PLATEAU_TOL_G0


def test_adaptive_stopping_rules_and_refusals(tmp_path):
    station = str(station_path("qpc"))
    run = qpclab.run("staircase", station=station, data=tmp_path / "budget.csv", progress=False, max_points=9,
                     **ADAPTIVE, step=0.01)
    text = (tmp_path / "budget.csv").read_text()
    assert len(staircase_data(tmp_path / "budget.csv")[0]) == 9 and "#Adaptive: point budget (9 points)" in text
    assert run.status == "finished"
    with pytest.raises(ParameterError, match="--sampling"):
        qpclab.run("staircase", station=station, data=tmp_path / "no.csv", progress=False, direction="up and down",
                   **ADAPTIVE)
    with pytest.raises(ParameterError, match="--plateau-step"):
        qpclab.run("staircase", station=station, data=tmp_path / "no.csv", progress=False, step=0.2,
                   **ADAPTIVE)
    assert not (tmp_path / "no.csv").exists()


def test_a_point_in_a_riser_goes_to_the_centre_of_a_logistic_step():
    """Two points on the straight-ish part of an exact logistic step 3 -> 4 G0 (centre -0.9 V, scale 4 mV): the new
    point is the analytic centre; with an end on a plateau, the middle; a pass goes one way from the nearer end."""
    from qpclab.procedures.adaptive import StepLoss, order_pass, riser_point, riser_scale

    def g(v):
        return 3 + 1 / (1 + math.exp(-(v + 0.9) / 0.004))

    xs = [-0.93, -0.907, -0.889, -0.85]
    ys = [g(v) for v in xs]
    assert riser_point(xs, ys, 2) == pytest.approx(-0.9, abs=1e-9)
    assert riser_point(xs, ys, 1) == pytest.approx(0.5 * (xs[0] + xs[1]))  # g(-0.93) lies on the plateau
    # the riser's scale, from two points on its middle, puts a point next to one on the riser at the centre too
    assert riser_scale([-0.905, -0.897], [g(-0.905), g(-0.897)]) == pytest.approx(0.004)
    assert riser_point([-0.91, -0.85], [g(-0.91), g(-0.85)], 1, 0.004) == pytest.approx(-0.9, abs=1e-9)
    assert riser_point([-0.91, -0.85], [g(-0.91), g(-0.85)], 1) == pytest.approx(-0.88)  # scale unknown: the middle
    assert StepLoss.crossing(2.9, 4.2) == 3 and StepLoss.crossing(3.1, 3.4) is None
    assert StepLoss.crossing(2.2, 4.6) == -1  # across two risers
    assert order_pass([0.3, -0.2, 0.1], position=0.5) == [0.3, 0.1, -0.2]


@pytest.mark.parametrize("upward", [True, False])
def test_the_walk_reads_a_staircase_in_one_traverse(upward):
    """A staircase sampler alone on an exact logistic staircase whose riser spacing shrinks along the gate (as a
    real QPC's: 0.1 V, then 3 mV less at each riser; scale 4 mV): the analytic centres and plateau values (G at the
    middles between centres) recovered by the analysis's rule with about three points per riser, the gate walking
    the range once and a few short returns while the first risers are bracketed, either way."""
    from qpclab.analysis.steps import plateau_values, step_centres
    from qpclab.procedures.adaptive import StepSampler

    centres = np.array([-1.0 + 0.1 * k - 0.0015 * k * k for k in range(7)])

    def g(v):
        return float(np.sum(1 / (1 + np.exp(-(v - centres) / 0.004))))

    sampler = StepSampler((-1.1, -0.4), 0.01, 0.1, upward)
    gate = []
    while xs := sampler.next_pass(1000):
        for x in xs:
            sampler.tell(x, g(x))
            gate.append(x)
    conductance = [g(x) for x in gate]
    found = step_centres(gate, conductance, np.arange(7) + 0.5, centres, 0.03)
    assert np.max(np.abs(found - centres)) <= CENTRE_TOL_V
    middles = 0.5 * (centres[1:] + centres[:-1])
    read = plateau_values(gate, conductance, middles)
    assert np.max(np.abs(read - [g(m) for m in middles])) <= PLATEAU_TOL_G0
    assert len(gate) <= 3 * len(centres) + 9  # measured: 26 going up, 29 going down
    assert gate[0] == (-1.1 if upward else -0.4) and gate[-1] == (-0.4 if upward else -1.1)
    assert np.abs(np.diff(gate)).sum() <= 1.75 * 0.7  # measured: 1.43 (up), 1.67 (down) times the range


def test_adaptive_run_pauses_for_a_suspender_and_measures_again(tmp_path):
    """The mixing chamber warms up during an adaptive staircase (the simulator's warm_up fault): the run pauses,
    measures again from the point the suspension names, the same gate values in the same order, and the loaded
    data hold each gate value once, none of them taken between the fault and the pause."""
    from test_suspenders import REMEASURE, base, comments, first_set, lab_file

    path = lab_file(tmp_path, base(mixing_chamber={"ceiling_K": 0.1, "resume_K": 0.03, "every_s": 0}),
                    [{"instrument": "fridge_ls372", "kind": "warm_up", "after": 25, "peak_K": 0.5}])
    library = SimVisaLibrary(str(path))
    library.reset()
    lab = library.lab
    data = tmp_path / "adaptive.csv"
    run = qpclab.run("staircase", station=str(path), data=data, progress=False, step=0.01, **ADAPTIVE)
    assert run.status == "finished" and run_status(data) == "finished"
    (suspended,) = comments(data, "Suspended")
    (over,) = comments(data, "Suspension over")
    redo = int(suspended.rsplit(" ", 1)[1])
    assert over.endswith(f"plan point {redo}")
    text = data.read_text().splitlines()
    k = text.index(suspended)
    before = [float(ln.split(",")[0]) for ln in [ln for ln in text[:k] if ln and not ln.startswith("#")][1:]]
    after = [float(ln.split(",")[0]) for ln in text[k:] if ln and not ln.startswith("#")]
    assert after[:len(before) - redo] == before[redo:]  # the same points again, in their order
    (fault,) = [e for e in lab.faults.log if e[2] == "warm_up"]
    gate = lab.history["gate"]
    taken_after_fault = [i for i, v in enumerate(before) if first_set(gate, v) > fault[0]]
    assert len(taken_after_fault) <= 1 and all(i >= redo for i in taken_after_fault)  # paused within a point
    assert redo <= len(before) - REMEASURE  # the last points before the trip measured again too
    loaded = load_run(data).data["Gate (V)"].to_numpy()
    assert len(np.unique(loaded)) == len(loaded) == len(before) + len(after) - (len(before) - redo)
    check_history(gate, load_station(str(path)).gates["gate"])


def wide_bias_lab(tmp_path):
    """The default lab whose bias source may go to +-4 V (2.4 mV across the sample after the divider): beyond the
    diamonds' closure at e V = hbar omega_y = 2 meV; the gate ramps at 10 V/s (the test's time, not its physics)."""
    data = yaml.safe_load(station_path("qpc").read_text())
    data["station"]["bias"]["limits"] = [-4.0, 4.0]
    data["station"]["gates"]["gate"]["rate"] = 10.0
    path = tmp_path / "wide_bias.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_adaptive_bias_map_recovers_lever_arm_and_spacing_with_a_third_of_the_points(tmp_path):
    """Each bias row sampled by a learner: lever arm and subband spacing from `qpclab analyse` within 5 % of the
    sample's (samples.yaml: alpha = 0.02 eV/V, hbar omega_y = 2 meV) with at most a third of the grid's points;
    every gate and bias move within its step, rate and limits; the gate travels a few times the range per row."""
    station = wide_bias_lab(tmp_path)
    sample = yaml.safe_load((station_path("qpc").parent / "samples.yaml").read_text())["gaas_split_gate"]
    library = SimVisaLibrary(str(station))
    library.reset()
    grid = {"start": -1.27, "stop": -0.83, "step": 0.005, "bias_start": -2.4, "bias_stop": 2.4, "bias_step": 0.3}
    qpclab.run("bias-map", station=str(station), data=tmp_path / "map.csv", progress=False, time_constant=1e-4,
               sampling="adaptive", **grid)
    spec = load_station(str(station))
    check_history(library.lab.history["gate"], spec.gates["gate"])
    check_history(library.lab.history["bias"], spec.bias)
    df = pd.read_csv(tmp_path / "map.csv", comment="#")
    grid_points = (round((grid["stop"] - grid["start"]) / grid["step"]) + 1) * (
        round((grid["bias_stop"] - grid["bias_start"]) / grid["bias_step"]) + 1)
    assert len(df) <= grid_points / 3
    assert np.all(np.diff(df["Line"]) >= 0)  # the bias rows in order, each whole: the bias never goes back
    assert df.groupby("Line")["Bias (V)"].nunique().eq(1).all()
    rows = df.groupby("Line")
    for _, row in rows:  # a few one-way passes per row, risers refined where the gate is
        travel = np.abs(np.diff(row["Gate (V)"])).sum() / (grid["stop"] - grid["start"])
        assert travel <= 3.5  # measured: 1.6 - 2.9
    report = analyse(tmp_path / "map.csv", tmp_path / "figures", pdf=False)
    fit = report.values["bias_spectroscopy"]
    lever = sample["lever_arms_eV_per_V"]["gate"]
    assert abs(fit.lever.value - lever) <= 0.05 * lever
    assert abs(fit.mean_spacing_eV.value - sample["hw_y_eV"]) <= 0.05 * sample["hw_y_eV"]
    assert len(fit.subband_spacings_eV) >= 3
    # the online estimate (for the window), updated after every row in measured order: there once the rows split
    # the risers, and at the end within 10 % of the sample's (it skips the full analysis's bias integration)
    from qpclab.analysis.online_fit import OnlineDiamonds

    online = OnlineDiamonds(load_station(str(station)).circuit)
    estimates = []
    for _, row in rows:
        for x, bias, g in zip(row["Gate (V)"], row["Bias (V)"], row["G/G0"]):
            online.add(x, bias, g)
        estimates.append(online.update())
    assert estimates[0] is None and estimates[-1] is not None
    assert abs(estimates[-1].lever_eV_per_V - lever) <= 0.1 * lever
    assert abs(estimates[-1].spacing_eV - sample["hw_y_eV"]) <= 0.1 * sample["hw_y_eV"]


def test_adaptive_bias_map_cut_off_resumes_in_its_row(tmp_path):
    """An adaptive map cut off in its second row resumes in that row: the rows on disk stay, no (row, gate) point is
    measured twice, the rows follow each other in order across the resume (the bias never goes back)."""
    import threading

    from qpclab.procedures.maps import BiasMap
    from qpclab.procedures.runner import resume_run, run_procedure

    proc = BiasMap()
    proc.station_file = str(station_path("qpc"))
    proc.start, proc.stop, proc.step, proc.time_constant = -1.25, -0.95, 0.01, 1e-4
    proc.bias_start, proc.bias_stop, proc.bias_step, proc.sampling = -0.8, 0.8, 0.8, "adaptive"
    stop = threading.Event()
    seen = []

    def on_point(row):
        seen.append(row)
        if len(seen) == 20:  # inside the second row
            stop.set()

    data = tmp_path / "map.csv"
    first = run_procedure(proc, data, progress=False, stop_event=stop, on_point=on_point)
    assert first.status == "aborted"
    # what a SIGKILL at that moment leaves: every row written, no closing lines (an aborted run is not resumed)
    lines = data.read_text().splitlines(keepends=True)
    last_row = max(i for i, line in enumerate(lines) if not line.startswith("#"))
    data.write_text("".join(lines[:last_row + 1]))
    before = pd.read_csv(data, comment="#")
    assert before["Line"].iloc[-1] == 1
    assert resume_run(data, progress=False).status == "finished"
    after = pd.read_csv(data, comment="#")
    pd.testing.assert_frame_equal(after.iloc[:len(before)], before)
    assert not after.duplicated(["Line", "Gate (V)"]).any()
    assert np.all(np.diff(after["Line"]) >= 0) and set(after["Line"]) == {0, 1, 2}
    assert after["Bias (V)"].groupby(after["Line"]).nunique().eq(1).all()
