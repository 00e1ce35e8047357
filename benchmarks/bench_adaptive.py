"""Adaptive against grid staircases (issue 17), on the default lab and on the realistic lab (without its telegraph
fluctuator, whose 1 mV switches move any two runs' risers apart by more than the 0.5 mV compared).

For each lab, in one run: a dense grid (0.5 mV) is the reference; the points a uniform grid needs for step centres
within 0.5 mV and plateau values within 0.01 G0 are found from every k-th point of it; then the grid that needs and
the adaptive staircase run at the same lock-in time constant, and their wall times (ramps and settling included)
are compared. Measured (2 shared cores): points 0.27 (default lab) and 0.19 (realistic) of the grid's; wall time
0.46 and 0.38 of the grid's at 3 ms, 0.34 and 0.26 at 10 ms (the gate walks the range once, as the grid does).

The online saddle fit and the online diamonds estimate of a bias map: the time of one update with 10,000 points in
(issue 17: at most 50 ms), against the full fit of the same points (qpclab.analysis.saddle_fit,
qpclab.analysis.bias_spectroscopy).

    python benchmarks/bench_adaptive.py [--time-constant 0.003]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Row  # noqa: E402

RANGE = {"start": -1.45, "stop": 0.0}
STEP = {"default": 0.01, "realistic": 0.004}  #: the resolution on the risers (as in tests/test_adaptive.py)
CENTRE_TOL_V, PLATEAU_TOL_G0 = 0.5e-3, 0.01


def _stations(folder: Path) -> dict[str, str]:
    from qpclab.sim_configs import station_path

    data = yaml.safe_load(station_path("realistic").read_text())
    data["simulation"]["sample"]["telegraph"] = []
    quiet = folder / "realistic_quiet.yaml"
    quiet.write_text(yaml.safe_dump(data, sort_keys=False))
    return {"default": str(station_path("qpc")), "realistic": str(quiet)}


def _timed_run(station: str, path: Path, **parameters) -> tuple[pd.DataFrame, float]:
    import qpclab

    t0 = time.perf_counter()
    qpclab.run("staircase", station=station, data=path, progress=False, **parameters)
    return pd.read_csv(path, comment="#"), time.perf_counter() - t0


def run(time_constant: float = 0.003) -> list[Row]:
    from qpclab.analysis.steps import grid_points_needed, staircase_errors, staircase_reference

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for lab, station in _stations(folder).items():
            dense, _ = _timed_run(station, folder / f"{lab}-dense.csv", step=0.0005, time_constant=1e-4, **RANGE)
            reference = staircase_reference(dense["Gate (V)"], dense["G/G0"])
            needed = grid_points_needed(dense["Gate (V)"], dense["G/G0"], reference, CENTRE_TOL_V, PLATEAU_TOL_G0)
            grid_step = (RANGE["stop"] - RANGE["start"]) / (needed - 1)
            grid, grid_s = _timed_run(station, folder / f"{lab}-grid.csv", step=grid_step,
                                      time_constant=time_constant, **RANGE)
            adaptive, adaptive_s = _timed_run(station, folder / f"{lab}-adaptive.csv", sampling="adaptive",
                                              step=STEP[lab], plateau_step=0.1, time_constant=time_constant,
                                              **RANGE)
            centre, plateau = staircase_errors(reference, adaptive["Gate (V)"], adaptive["G/G0"])
            accurate = centre <= CENTRE_TOL_V and plateau <= PLATEAU_TOL_G0
            ratio = len(adaptive) / needed
            rows.append(Row(f"adaptive staircase, {lab} lab: points", f"{len(adaptive)} points (centres within "
                            f"{centre * 1e3:.2f} mV, plateaus {plateau:.4f} G0)",
                            f"grid {needed} points ({grid_step * 1e3:.1f} mV step)", ratio, "<= 1/3",
                            accurate and ratio <= 1 / 3))
            rows.append(Row(f"adaptive staircase, {lab} lab: wall time at {time_constant * 1e3:g} ms",
                            f"{adaptive_s:.1f} s", f"grid {grid_s:.1f} s ({len(grid)} points)", adaptive_s / grid_s,
                            "<= 1/2", adaptive_s / grid_s <= 0.5))
    return rows


def _seconds(work) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def _update_s(online, before) -> float:
    """The median time of 10 updates of an online fit (``before()`` runs ahead of each, untimed)."""
    times = []
    for _ in range(10):
        before()
        times.append(_seconds(online.update))
    return sorted(times)[len(times) // 2]


def online_fit(points: int = 10_000) -> Row:
    import numpy as np

    from qpclab.analysis.online_fit import OnlineSaddleFit
    from qpclab.analysis.saddle_fit import fit_saddle_staircase, saddle_model_G0

    rng = np.random.default_rng(17)
    gate = rng.uniform(-1.45, 0.0, points)
    g = saddle_model_G0(gate, -1.2, 0.1, 0.025, 0.02, 0.05) + rng.normal(0, 2e-3, points)
    online = OnlineSaddleFit(0.05)
    for x, y in zip(gate, g):
        online.add(float(x), float(y))
    online.update()  # the first fit (from the crossings) iterates longer; the per-update cost is the next ones
    update = _update_s(online, lambda: online.add(float(gate[0]), float(g[0])))
    full = _seconds(lambda: fit_saddle_staircase(gate, g, 0.05))
    return Row(f"online saddle fit, one update at {points} points", f"{update * 1e3:.1f} ms",
               f"full fit {full * 1e3:.0f} ms", update / full, "<= 50 ms per update", update <= 0.05)


def online_diamonds(points: int = 10_000) -> Row:
    """One update of the bias map's online diamonds estimate with ``points`` points in (a synthetic map)."""
    from qpclab.analysis.bias_spectroscopy import fit_bias_spectroscopy
    from qpclab.analysis.online_fit import OnlineDiamonds
    from qpclab.analysis.synthetic import DEFAULT_CIRCUIT, random_qpc, simulate_bias_map

    df = simulate_bias_map(random_qpc(17), n_gate=points // 50, n_bias=50, seed=17)
    online = OnlineDiamonds(DEFAULT_CIRCUIT)
    for x, bias, g in zip(df["Gate (V)"], df["Bias (V)"], df["G/G0"]):
        online.add(float(x), float(bias), float(g))
    update = _update_s(online, lambda: None)
    full = _seconds(lambda: fit_bias_spectroscopy(df, DEFAULT_CIRCUIT, 0.1))
    return Row(f"online diamonds estimate, one update at {len(df)} points", f"{update * 1e3:.1f} ms",
               f"full bias-spectroscopy fit {full * 1e3:.0f} ms", update / full, "<= 50 ms per update",
               update <= 0.05)


def main() -> int:
    from common import HEADER

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-constant", type=float, default=0.003, help="lock-in time constant, s (default 0.003)")
    rows = [online_fit(), online_diamonds()] + run(ap.parse_args().time_constant)
    print("\n".join([HEADER] + [r.markdown() for r in rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
