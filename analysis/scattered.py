"""Maps whose rows were sampled adaptively (each row its own gate values) put on one gate grid, so that every map
analysis (bias spectroscopy, the transconductance figures) reads them as it reads a grid.

An adaptive row has points close together on the risers and far apart on the plateaus, where the conductance is
flat: linear interpolation between neighbouring points reproduces the row wherever it was sampled finely enough to
be resolved, and a plateau's straight line is what the learner saw there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .io import AnalysisError

__all__ = ["rows_on_grid"]


def rows_on_grid(data: pd.DataFrame, row: str, gate: str, gate_step_V: float) -> pd.DataFrame:
    """Every row (equal values of ``row``) of a map interpolated linearly onto one gate grid of ``gate_step_V``
    spanning the map's gate range; every numeric column is interpolated, points outside a row's own range left out.

    Raises:
        AnalysisError: a non-positive step or a step so fine the grid would exceed a million points per row."""
    if not gate_step_V > 0:
        raise AnalysisError(f"gate step {gate_step_V!r} V: must be positive")
    gates = data[gate].to_numpy(dtype=float)
    low, high = np.nanmin(gates), np.nanmax(gates)
    n = int(round((high - low) / gate_step_V)) + 1
    if n > 1_000_000:
        raise AnalysisError(f"a gate grid of {n} points per row (step {gate_step_V:g} V): too fine")
    grid = np.linspace(low, high, n)
    columns = [c for c in data.columns if c not in (row, gate) and pd.api.types.is_numeric_dtype(data[c])]
    pieces = []
    keys = np.round(data[row].to_numpy(dtype=float), 12)
    for key in np.unique(keys[np.isfinite(keys)]):
        sub = data[keys == key].sort_values(gate)
        x = sub[gate].to_numpy(dtype=float)
        x, first = np.unique(x, return_index=True)
        if x.size < 2:
            continue
        at = grid[(grid >= x[0]) & (grid <= x[-1])]
        piece = {gate: at, row: np.full(at.size, key)}
        for c in columns:
            piece[c] = np.interp(at, x, sub[c].to_numpy(dtype=float)[first])
        pieces.append(pd.DataFrame(piece))
    if not pieces:
        raise AnalysisError("no row of the map has two points")
    return pd.concat(pieces, ignore_index=True)[list(data.columns)]
