"""The run catalogue, batch analysis and NetCDF export (issue 19).

- batch analysis of 200 simulated runs (100 staircases, 100 shot-noise sweeps): 2 worker processes against 1,
  both timed here (the speed-up; at most 2 on a 2-core machine, none when other work holds both cores: the load
  average is reported with it);
- listing 1,000 catalogued runs (with their tags and results), as ``qpclab runs`` does after its start: the time
  against the issue's 200 ms bar;
- a 1000 x 1000 gate-bias map: loading it from NetCDF (h5netcdf) against loading its CSV (``load_run``), and
  against the CSV made into the same Dataset (``load_run(...).to_xarray()``).

    python benchmarks/bench_catalogue.py [--quick]     (--quick: a 300 x 300 map)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HEADER, Row, median_time  # noqa: E402


def _batch_files(folder: Path, n_pairs: int = 100) -> None:
    from qpclab.analysis.synthetic import random_qpc, simulate_shot_noise, simulate_staircase, write_run

    for seed in range(n_pairs):
        p = random_qpc(seed)
        write_run(folder / f"stair-{seed:03d}.csv", simulate_staircase(p, seed=seed))
        write_run(folder / f"noise-{seed:03d}.csv", simulate_shot_noise(p, p.step_center_V(0), seed=seed),
                  procedure="shot-noise")


def batch_rows(folder: Path) -> list[Row]:
    from qpclab.analysis.batch import analyse_files

    _batch_files(folder)
    paths = sorted(folder.glob("*.csv"))
    analyse_files(paths[:4])  # imports and caches warm
    times = {}
    for workers in (1, 2, 1, 2):  # interleaved: a shared machine drifts
        t0 = time.perf_counter()
        analyse_files(paths, workers=workers)
        times.setdefault(workers, []).append(time.perf_counter() - t0)
    t1, t2 = min(times[1]), min(times[2])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [Row("batch analysis, 200 runs: speed-up with 2 processes", f"{t2:.2f} s", f"1 process {t1:.2f} s",
                t1 / t2, f"reported ({os.cpu_count()} cores, load average {load:.1f} while measuring)", True)]


def listing_rows(folder: Path) -> list[Row]:
    from qpclab.analysis.synthetic import random_qpc, simulate_staircase, write_run
    from qpclab.procedures.catalogue import Catalogue

    df = simulate_staircase(random_qpc(0), n_points=20)
    for k in range(1000):
        write_run(folder / f"run-{k:04d}.csv", df)
    cat = Catalogue(folder / "runs.sqlite")
    t0 = time.perf_counter()
    cat.rebuild([folder])
    rebuild_s = time.perf_counter() - t0
    entries = cat.query()
    cat.store_results([(e, {"V_pinch": (-1.0, 1e-4, "V"), "T_e": (0.05, 1e-3, "K")}) for e in entries])
    for e in entries[::10]:
        cat.tag(e.id, ["good"])

    def listing():
        lines = [e.line() for e in cat.query()]
        assert len(lines) == 1000

    t = median_time(listing, repeats=7)
    return [Row("list 1,000 runs (tags, results)", f"{t * 1e3:.1f} ms", "bar 200 ms", t / 0.2, "< 200 ms", t < 0.2),
            Row("rebuild the catalogue of 1,000 run files", f"{rebuild_s:.2f} s", "-", float("nan"), "-", True)]


def _map_file(path: Path, n: int) -> Path:
    """An n x n gate-bias map file as the runner writes it (bias-map, no snake)."""
    from qpclab.procedures import PROCEDURES

    rng = np.random.default_rng(0)
    step = 0.001
    gate = np.round(np.arange(n) * step - 1.5, 12)
    bias = np.round(np.arange(n) * step - 0.5, 12)
    g, b = np.meshgrid(gate, bias)
    x = rng.normal(1e-3, 1e-5, n * n)
    columns = {"Gate (V)": g.ravel(), "Bias (V)": b.ravel(), "X (V)": x, "Y (V)": rng.normal(0, 1e-6, n * n),
               "G (S)": x * 1e-3, "G/G0": x * 12.9, "Line": np.repeat(np.arange(n), n),
               "Time (s)": np.arange(n * n) * 0.01}
    parameters = {"start": float(gate[0]), "stop": float(gate[-1]), "step": step, "bias_start": float(bias[0]),
                  "bias_stop": float(bias[-1]), "bias_step": step, "alternate": False}
    plan = {"format": 1, "procedure": "bias-map", "parameters": parameters, "points": n * n, "lines": n}
    head = [f"#Procedure: <{PROCEDURES['bias-map'].class_path}>", "#Plan: " + json.dumps(plan), "#Parameters:",
            "#\tLock-in sine output: 0.1 V", "#Metadata:", "#Data:", ",".join(columns)]
    with open(path, "w") as fh:
        fh.write("\n".join(head) + "\n")
        pd.DataFrame(columns).to_csv(fh, index=False, header=False)
    return path


def netcdf_rows(folder: Path, n: int) -> list[Row]:
    from qpclab.analysis.export import export_netcdf, open_netcdf
    from qpclab.analysis.io import load_run

    csv = _map_file(folder / "map.csv", n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nc = export_netcdf(csv)
        ds = open_netcdf(nc)
        assert dict(ds.sizes) == {"Bias": n, "Gate": n}
        t_nc = median_time(lambda: open_netcdf(nc), repeats=3)
        t_csv = median_time(lambda: load_run(csv), repeats=3)
        t_csv_ds = median_time(lambda: load_run(csv).to_xarray(), repeats=3)
    size = f"{n} x {n} map"
    return [Row(f"load a {size}: NetCDF against the CSV (load_run)", f"{t_nc:.3f} s", f"CSV {t_csv:.2f} s",
                t_csv / t_nc, "ratio reported (CSV / NetCDF)", True),
            Row(f"load a {size} as a Dataset: NetCDF against CSV + to_xarray", f"{t_nc:.3f} s",
                f"CSV {t_csv_ds:.2f} s", t_csv_ds / t_nc, "ratio reported (CSV / NetCDF)", True)]


def run(quick: bool = False) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("batch", batch_rows), ("listing", listing_rows),
                           ("netcdf", lambda f: netcdf_rows(f, 300 if quick else 1000))):
            folder = Path(tmp) / name
            folder.mkdir()
            rows += make(folder)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 300 x 300 map instead of 1000 x 1000")
    rows = run(ap.parse_args().quick)
    print("\n".join([HEADER] + [r.markdown() for r in rows]))
