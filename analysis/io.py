"""Reading qpclab run files, and what every analysis step shares: the error class and a value with uncertainty.

A run file is pymeasure's format: ``#`` header lines (``#Procedure: <module.Class>``, ``#Parameters:`` followed by
``#\\tName: value units`` lines, ``#Metadata:`` with ``#\\tStation: {json}`` written with ``unicode_escape``), then
a CSV block whose first line holds the column names. :func:`load_run` returns the data as a pandas DataFrame with
the parameters, the metadata and the measurement circuit recorded with the run.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .circuit import MeasurementCircuit

__all__ = ["AnalysisError", "Value", "format_uncertain", "Run", "load_run", "parse_header", "require_columns", "finite_rows"]


class AnalysisError(ValueError):
    """The data cannot give the requested quantity (no plateau, pinched off, too noisy, missing columns...).

    Raised instead of returning a number that would be wrong. The message says what was wrong with the data.
    """


def format_uncertain(value: float, error: float, digits: int = 3) -> str:
    """A value with its uncertainty: the uncertainty to two significant digits, the value to the same decimal."""
    if not (math.isfinite(value) and math.isfinite(error)) or error <= 0:
        return f"{value:.{digits}g}" + ("" if error == 0 else f" ± {error:.2g}")
    last = math.floor(math.log10(error)) - 1  # the decimal place of the uncertainty's second digit
    top = math.floor(math.log10(abs(value))) if value else last
    if -4 <= top <= 5 and last >= -8:  # plain decimals
        places = max(0, -last)
        return f"{round(value, -last):.{places}f} ± {round(error, -last):.{places}f}"
    places = max(0, top - last)
    return f"({value / 10 ** top:.{places}f} ± {error / 10 ** top:.{places}f})e{top:+03d}"


@dataclass(frozen=True)
class Value:
    """A fitted quantity: value with its one-standard-deviation uncertainty, in SI units (``unit`` names them)."""

    value: float
    stderr: float
    unit: str = ""

    def __float__(self) -> float:
        return float(self.value)

    @property
    def relative_error(self) -> float:
        return abs(self.stderr / self.value) if self.value else math.inf

    def scaled(self, factor: float, unit: str = "") -> "Value":
        return Value(self.value * factor, abs(self.stderr * factor), unit or self.unit)

    def format(self, scale: float = 1.0, unit: str | None = None, digits: int = 3) -> str:
        """``value ± uncertainty unit``: the uncertainty to two significant digits and the value to the same
        decimal place (``20.000 ± 0.015``; ``(1.234 ± 0.056)e-05`` for very large or small numbers); without an
        uncertainty (zero or not finite) the value to ``digits`` significant digits."""
        u = self.unit if unit is None else unit
        text = format_uncertain(self.value * scale, abs(self.stderr * scale), digits)
        return text + (f" {u}" if u else "")

    def __str__(self) -> str:
        return self.format()


@dataclass
class Run:
    """One measurement run: its data and what was recorded with it.

    Attributes:
        data: the data columns (pandas DataFrame, column names as written, e.g. ``"Gate (V)"``).
        parameters: procedure parameters, name -> value as written (string, units included, e.g. ``"0.1 V"``).
        metadata: name -> value; ``"Station"`` is decoded from JSON into a dict when possible.
        circuit: the :class:`MeasurementCircuit` recorded with the run (None if the file has none).
        procedure: the procedure class path (e.g. ``qpclab.procedures.staircase.Staircase``), "" if unknown.
        plan: the ``#Plan:`` record (the procedure's registered name, its exact parameters), {} if none.
        skipped: what was left out when reading (an incomplete last line), for the report to say.
        path: the file read (None for runs built in memory).
    """

    data: pd.DataFrame
    parameters: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    circuit: MeasurementCircuit | None = None
    procedure: str = ""
    path: Path | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def dataframe(self) -> pd.DataFrame:
        return self.data

    def to_xarray(self):
        """The run as an xarray Dataset: maps on their planned grid, other runs as point lists
        (:func:`qpclab.analysis.export.run_dataset`)."""
        from .export import run_dataset

        return run_dataset(self)

    def number(self, name: str, default: float | None = None) -> float:
        """A parameter as a float (units stripped), e.g. ``run.number("Lock-in sine output")`` -> 0.1 (V)."""
        if name not in self.parameters:
            if default is not None:
                return float(default)
            raise AnalysisError(f"{self._where()}: parameter {name!r} is not recorded "
                                f"(recorded: {sorted(self.parameters)})")
        raw = str(self.parameters[name]).strip()
        try:
            return float(raw.split()[0])
        except (ValueError, IndexError):
            raise AnalysisError(f"{self._where()}: parameter {name!r} = {raw!r} is not a number") from None

    @property
    def excitation_V(self) -> float:
        """Lock-in sine-output amplitude (V rms) of the run."""
        return self.number("Lock-in sine output")

    def require_circuit(self) -> MeasurementCircuit:
        if self.circuit is None:
            raise AnalysisError(f"{self._where()}: no measurement circuit recorded with the run (metadata "
                                f"'Station' missing or empty): cannot convert lock-in volts to conductance")
        return self.circuit

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "run"


def _decode_metadata_value(raw: str) -> Any:
    text = raw
    try:
        text = raw.encode("latin-1", errors="backslashreplace").decode("unicode_escape")
    except (UnicodeDecodeError, UnicodeEncodeError):
        text = raw
    stripped = text.strip()
    if stripped.startswith("{") or stripped.startswith("["):
        for candidate in (stripped, raw.strip()):
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    return text


def parse_header(lines: list[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(procedure, parameters, metadata) from the ``#`` header lines of a run file (``#`` included)."""
    procedure = ""
    parameters: dict[str, str] = {}
    metadata: dict[str, Any] = {}
    section = None
    for line in lines:
        body = line[1:] if line.startswith("#") else line
        body = body.rstrip("\r\n")
        if body.startswith("Procedure:"):
            rest = body.split(":", 1)[1].strip()
            procedure = rest.strip("<>")
            section = None
        elif body.startswith("Plan:"):
            try:
                plan = json.loads(body.split(":", 1)[1])
            except ValueError:
                plan = None
            metadata["Plan"] = plan if isinstance(plan, dict) else {}
            section = None
        elif body.startswith("Parameters:"):
            section = "parameters"
        elif body.startswith("Metadata:"):
            section = "metadata"
        elif body.startswith("Data:"):
            section = None
        elif body.startswith("\t") and section is not None:
            name, sep, value = body[1:].partition(": ")
            if not sep:
                name, value = body[1:].rstrip(":"), ""
            if section == "parameters":
                parameters[name] = value
            else:
                metadata[name] = _decode_metadata_value(value) if value else ""
    return procedure, parameters, metadata


def circuit_from_metadata(metadata: dict[str, Any]) -> MeasurementCircuit | None:
    """The circuit in the ``Station`` metadata (``{"path":..., "station": {..., "circuit": {...}}}``), or None."""
    station = metadata.get("Station")
    if not isinstance(station, dict):
        return None
    inner = station.get("station", station)
    if not isinstance(inner, dict) or "circuit" not in inner:
        return None
    try:
        return MeasurementCircuit.from_mapping(inner.get("circuit"), where="Station metadata circuit")
    except ValueError as exc:
        raise AnalysisError(f"the circuit recorded with the run is invalid: {exc}") from None


def load_run(path: str | Path, *, circuit: MeasurementCircuit | None = None) -> Run:
    """Read a run file (pymeasure CSV with a ``#`` header) into a :class:`Run`.

    ``circuit`` overrides the circuit recorded with the run (for files written before it was recorded); if the
    file has none and none is given, ``Run.circuit`` is None and a warning is issued (conversions from lock-in
    volts then refuse with :class:`AnalysisError`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run file")
    if path.is_dir():
        raise AnalysisError(f"{path}: is a folder; give a run file (a .csv written by qpclab)")
    text = path.read_text(encoding="utf-8", errors="replace")
    skipped = []
    if text and not text.endswith("\n"):  # a run killed while writing its last line
        cut = text.rfind("\n") + 1
        skipped.append(f"the incomplete last line {text[cut:][:60]!r} (the run was stopped while writing it)")
        text = text[:cut]
    lines = text.splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#")]
    body = "".join(ln for ln in lines if not ln.startswith("#"))
    if not body.strip():
        raise AnalysisError(f"{path}: no data (only a header)")
    procedure, parameters, metadata = parse_header(header)
    try:
        data = pd.read_csv(io.StringIO(body))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AnalysisError(f"{path}: cannot parse the data block: {exc}") from None
    for col in data.columns:
        if data[col].dtype == object:
            data[col] = pd.to_numeric(data[col], errors="coerce")
    data = _latest_of_each_point(data, lines)
    if circuit is None:
        circuit = circuit_from_metadata(metadata)
        if circuit is None:
            warnings.warn(f"{path}: no measurement circuit recorded with the run", stacklevel=2)
    return Run(data=data, parameters=parameters, metadata=metadata, circuit=circuit, procedure=procedure,
               path=path, plan=metadata.pop("Plan", {}), skipped=skipped)


def _latest_of_each_point(data: pd.DataFrame, lines: list[str]) -> pd.DataFrame:
    """A suspension re-measures points: keep the latest row of each plan point, in plan order."""
    from ..procedures.writer import row_points

    points = pd.Series(row_points(lines)[0])
    if len(points) != len(data) or not points.duplicated().any():
        return data
    keep = points[~points.duplicated(keep="last")].sort_values(kind="stable").index
    return data.iloc[keep].reset_index(drop=True)


def require_columns(df: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(f"{what}: column(s) {missing} missing; the data has {list(df.columns)}")


def finite_rows(*arrays) -> np.ndarray:
    """Boolean mask of the rows where every array is finite."""
    mask = np.ones(np.shape(arrays[0]), dtype=bool)
    for a in arrays:
        mask &= np.isfinite(np.asarray(a, dtype=float))
    return mask
