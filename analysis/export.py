"""Runs as xarray Datasets and NetCDF files (written and read with h5netcdf).

:func:`run_dataset` (also ``load_run(path).to_xarray()``):

- a 2D map (a procedure with live maps in qpclab's table) becomes 2D DataArrays on the planned grid: dimensions
  the slow axis and the fast axis, coordinates their planned values (rebuilt from the exact parameters of the
  file's ``#Plan:`` line), every column a DataArray on them (the swept columns as read back from the instruments:
  ``Gate_read``, ``Bias_read``; snake lines put back in grid order). An aborted map holds the lines it reached,
  the last one NaN beyond the last point measured;
- every other run (staircase, noise, Hall, a map whose rows do not fit its plan) is a list of points: one
  dimension ``point``, nothing padded; the swept column is a coordinate.

Each variable carries ``units`` (from the column's ``(unit)``), ``long_name`` and ``column`` (the CSV column, so
nothing is lost on the way back); the Dataset carries the procedure, run ID, sample, cooldown, status, and the
station, the exact plan parameters and the parameters as written (JSON text: NetCDF attributes are flat).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from .io import Run, load_run

__all__ = ["run_dataset", "export_netcdf", "open_netcdf", "variable_name"]

_UNIT = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")


def variable_name(column: str) -> tuple[str, str]:
    """(NetCDF variable name, units) of a CSV column: ``"Gate (V)"`` -> ("Gate", "V"), ``"G/G0"`` -> ("G_G0",
    "1") (a ratio), ``"Line"`` -> ("Line", "")."""
    m = _UNIT.match(column)
    name, units = (m.group(1), m.group(2)) if m else (column, "1" if "/" in column else "")
    return re.sub(r"\W+", "_", name).strip("_") or "value", units


def _attrs(column: str, note: str = "") -> dict[str, str]:
    _, units = variable_name(column)
    return {"units": units, "long_name": column + note, "column": column}


def _map_grid(run: Run):
    """(fast values, slow values, snake, fast column, slow column) of a map run, from its ``#Plan:`` line; None
    for a run that is not a map."""
    from ..procedures import PROCEDURES, procedure_class
    from ..procedures.maps import GateMap

    name = run.plan.get("procedure")
    if name not in PROCEDURES or not PROCEDURES[name].maps:
        return None
    proc = procedure_class(name)()
    if not isinstance(proc, GateMap):
        return None
    proc.set_values(**run.plan.get("parameters", {}))
    fast, slow = proc.map_grid()
    return np.asarray(list(fast), float), np.asarray(list(slow), float), bool(proc.alternate), "Gate (V)", \
        proc.SLOW_COLUMN


def _grid_positions(n_rows: int, n_fast: int, snake: bool) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n_rows)
    line, j = i // n_fast, i % n_fast
    if snake:
        j = np.where(line % 2 == 1, n_fast - 1 - j, j)
    return line, j


def _gridded(run: Run) -> Any:
    import xarray as xr

    grid = _map_grid(run)
    if grid is None:
        return None
    fast, slow, snake, fast_col, slow_col = grid
    data = run.data
    n_fast, n_rows = len(fast), len(data)
    lines = -(-n_rows // n_fast)
    if n_rows == 0 or lines > len(slow) or fast_col not in data or slow_col not in data:
        return None
    line, j = _grid_positions(n_rows, n_fast, snake)
    if "Line" in data and not np.array_equal(data["Line"].to_numpy(), line):
        return None  # the rows do not follow the plan: keep them as points
    fast_name, _ = variable_name(fast_col)
    slow_name, _ = variable_name(slow_col)
    dims = (slow_name, fast_name)
    variables = {}
    for column in data.columns:
        values = data[column].to_numpy()
        padded = n_rows < lines * n_fast  # an aborted map: NaN beyond its last point
        cube = np.full((lines, n_fast), np.nan) if padded else np.empty((lines, n_fast), dtype=values.dtype)
        cube[line, j] = values
        name, _ = variable_name(column)
        note = ""
        if column in (fast_col, slow_col):
            name, note = name + "_read", ", as read back from the instrument"
        variables[name] = (dims, cube, _attrs(column, note))
    coords = {fast_name: (fast_name, fast, _attrs(fast_col, ", planned")),
              slow_name: (slow_name, slow[:lines], _attrs(slow_col, ", planned"))}
    return xr.Dataset(variables, coords=coords)


def _points(run: Run) -> Any:
    import xarray as xr

    from ..procedures import PROCEDURES

    variables = {variable_name(c)[0]: ("point", run.data[c].to_numpy(), _attrs(c)) for c in run.data.columns}
    ds = xr.Dataset(variables)
    name = run.plan.get("procedure")
    if name in PROCEDURES and PROCEDURES[name].curves:
        x = variable_name(PROCEDURES[name].curves[0][0])[0]
        if x in ds:
            ds = ds.set_coords(x)
    return ds


def run_dataset(run: Run) -> Any:
    """The run as an :class:`xarray.Dataset` (see the module docstring)."""
    from ..procedures.writer import run_status

    ds = _gridded(run)
    gridded = ds is not None
    if ds is None:
        ds = _points(run)
    station = run.metadata.get("Station")
    inner = station.get("station", {}) if isinstance(station, dict) else {}
    inner = inner if isinstance(inner, dict) else {}
    other = {k: v for k, v in run.metadata.items() if k not in ("Station", "Run ID")}
    ds.attrs.update({
        "procedure": str(run.plan.get("procedure", "")), "procedure_class": run.procedure,
        "run_id": str(run.metadata.get("Run ID", "")), "station_name": str(inner.get("name", "")),
        "sample": str(inner.get("sample", "")), "cooldown": str(inner.get("cooldown", "")),
        "status": (run_status(run.path) or "incomplete") if run.path is not None else "",
        "source_file": str(run.path or ""), "gridded": int(gridded), "points": len(run.data),
        "station": json.dumps(station, default=str), "plan": json.dumps(run.plan, default=str),
        "parameters": json.dumps(run.parameters), "metadata": json.dumps(other, default=str),
    })
    return ds


def export_netcdf(source: Run | str | Path, out: str | Path | None = None) -> Path:
    """Write a run (a :class:`Run` or a run file) to NetCDF-4 through h5netcdf; default ``<run>.nc`` beside the
    file. Refuses to overwrite a file."""
    import warnings

    if isinstance(source, Run):
        run = source
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a run without a circuit exports as well as any other
            run = load_run(source)
    if out is None:
        if run.path is None:
            raise ValueError("a run built in memory needs an output path")
        out = run.path.with_suffix(".nc")
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists: choose another name (--out)")
    run_dataset(run).to_netcdf(out, engine="h5netcdf")
    return out


def open_netcdf(path: str | Path) -> Any:
    """A NetCDF file written by :func:`export_netcdf`, loaded into memory (h5netcdf)."""
    import xarray as xr

    return xr.load_dataset(path, engine="h5netcdf")

