"""Analysis speed: fitting a 1e4-point staircase and a 500 x 500 bias map.

Baseline measured in the same run: the time pandas takes to read the same data from a run file (the one step no
analysis can skip). The ratio says how many file-reads the analysis costs.
"""

from __future__ import annotations

import io
import time

import pandas as pd

from common import Row


def _read_time(df: pd.DataFrame) -> float:
    text = df.to_csv(index=False)
    t0 = time.perf_counter()
    pd.read_csv(io.StringIO(text))
    return time.perf_counter() - t0


def run() -> list[Row]:
    from qpclab.analysis.bias_spectroscopy import fit_bias_spectroscopy
    from qpclab.analysis.saddle_fit import fit_saddle_staircase
    from qpclab.analysis.synthetic import DEFAULT_CIRCUIT, random_qpc, simulate_bias_map, simulate_staircase

    p = random_qpc(7)
    stair = simulate_staircase(p, n_points=10_000, n_steps=5, seed=1)
    t_read = min(_read_time(stair) for _ in range(3))
    t0 = time.perf_counter()
    fit = fit_saddle_staircase(stair["Gate (V)"].to_numpy(), stair["G/G0"].to_numpy(), p.temperature_K,
                               lever_eV_per_V=p.lever_eV_per_V)
    t_fit = time.perf_counter() - t0
    rows = [Row(f"analysis: saddle fit of a {len(stair):,}-point staircase", f"{t_fit:.2f} s",
                f"pandas read {t_read * 1e3:.1f} ms", t_fit / t_read, "report", fit is not None)]

    bmap = simulate_bias_map(p, n_gate=500, n_bias=500, n_steps=4, seed=2)
    t_read = min(_read_time(bmap) for _ in range(2))
    t0 = time.perf_counter()
    spec = fit_bias_spectroscopy(bmap, DEFAULT_CIRCUIT, 0.1)
    t_fit = time.perf_counter() - t0
    rows.append(Row("analysis: bias spectroscopy of a 500 x 500 map", f"{t_fit:.2f} s",
                    f"pandas read {t_read * 1e3:.0f} ms", t_fit / t_read, "report", spec is not None))
    return rows


if __name__ == "__main__":
    from common import HEADER

    print(HEADER)
    for row in run():
        print(row.markdown())
