"""The one writer of run files, for every front end (command line, window, Python), and what reads them back.

A run file is pymeasure's format, so ``pandas.read_csv(path, comment="#")`` and pymeasure's browser read it::

    #Procedure: <qpclab.procedures.staircase.Staircase>
    #Plan: {"format": 1, "procedure": "staircase", "parameters": {...}, "points": 701, "lines": 1}
    #Parameters:
    #	Start: -1.4 V
    ...
    #Metadata:
    #	Station: {...}
    #	Instrument snapshot: {...}      (read back after the set-up: what the instruments hold)
    #Data:
    Gate (V),X (V),Y (V),G (S),G/G0,Sweep,Time (s)
    -1.4,...
    #Auto-range: lockin overloaded ...  (anything that changed during the run, as a comment line)
    #Suspended: ... measuring again from plan point 41     (a suspender: the rows after it start at point 41)
    #Status: finished at 2026-12-04T21:00:00+0000, 701 points

Each data row is one plan point, in order; a ``#Suspended:`` or ``#Suspension over:`` line (``... from plan point
K``) and a ``#Resumed:`` line (``... after K points``) say that the rows after them start at plan point K, so a
re-measured point has more than one row: :func:`row_points` names each row's point (the latest row of a point is
its measurement; ``pandas.read_csv(path, comment="#")`` sees every row).

``#Plan:`` holds the procedure's registered name and its parameters exactly (JSON, floats to the last digit), so a
resume rebuilds the very same plan; nothing in a file is ever imported or called.

Durability: every row is one ``write`` system call of a whole line on an unbuffered file, in the operating
system's hands before the next point starts (a crash or a hard kill of qpclab loses nothing written), and the file
is fsynced at most once a second and at the end (a power cut loses at most the last second). An I/O error (disk
full, file-size limit, file removed, folder read-only) raises :class:`RunWriteError` after cutting the file back to
its last whole line: the run stops like an abort, the file parses and holds every whole row.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # base imports what imports this module
    from .base import QPCProcedure


__all__ = ["RunWriter", "RunWriteError", "run_status", "complete_rows", "stored_plan", "last_value", "STATUSES",
           "FILE_FORMAT", "row_points", "next_point"]

ENCODING = "utf-8"  #: pymeasure's Results.ENCODING
STATUSES = ("finished", "aborted", "failed")
#: the version of the ``#Plan:`` record
FILE_FORMAT = 1
#: the data file is fsynced at most this often (s), and at the end
FSYNC_INTERVAL_S = 1.0


class RunWriteError(OSError):
    """The run's file could not be written (disk full, file-size limit, removed, read-only): the run stops."""


def _escaped(text: str) -> str:
    """One header line whatever the text holds (pymeasure's escaping: newlines become \\n)."""
    return text.encode("unicode_escape").decode("utf-8")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class RunWriter:
    """Writes one run's file: header, rows, comment lines and the closing ``#Status:`` line.

    ``RunWriter.create(path, procedure, plan_record)`` starts a new file (refusing to overwrite one);
    ``RunWriter.append(path)`` continues an incomplete run's file (resume) after cutting a half-written last line.
    ``formats`` maps a column to a %-format (default ``%r``: the shortest repr of the float, as pymeasure writes).
    """

    def __init__(self, path: Path, columns: Sequence[str], formats: Mapping[str, str], *, new: bool):
        self.path = Path(path)
        self.columns = tuple(columns)
        self._template = ",".join(formats.get(c, "%r") for c in self.columns) + "\n"
        self._plain = {float, int}
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if new else 0), 0o644)
        except FileExistsError:
            raise FileExistsError(f"{self.path} exists: qpclab never overwrites data; choose another name") from None
        except OSError as exc:
            raise RunWriteError(exc.errno, f"{self.path}: cannot write the data file: {exc.strerror}") from None
        self._good = os.fstat(self._fd).st_size  # the end of the last whole line
        self._synced_at = time.monotonic()
        self.rows = 0

    # ---- opening ----------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, procedure: QPCProcedure, plan_record: Mapping[str, Any]) -> "RunWriter":
        """A new run file with the procedure, its plan and parameters (metadata comes with :meth:`begin`)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = cls(path, procedure.DATA_COLUMNS, procedure.COLUMN_FORMATS, new=True)
        writer._procedure = procedure
        writer._plan_record = dict(plan_record)
        return writer

    @classmethod
    def append(cls, path: Path, columns: Sequence[str], formats: Mapping[str, str]) -> "RunWriter":
        complete_rows(path, truncate=True)
        return cls(path, columns, formats, new=False)

    # ---- writing ----------------------------------------------------------------------------------------------
    def begin(self, metadata: Mapping[str, str]) -> None:
        """The header of a new file (pymeasure's layout, which its browser and ``Results.load`` read): procedure,
        plan, parameters (name: value with units), ``metadata`` (name -> text), column names."""
        cls = type(self._procedure)
        lines = [f"#Procedure: <{cls.__module__}.{cls.__qualname__}>",
                 "#Plan: " + json.dumps(self._plan_record, allow_nan=False), "#Parameters:"]
        lines += [f"#\t{p.name}: {_escaped(str(p))}" for p in self._procedure.parameter_objects().values()]
        lines.append("#Metadata:")
        lines += [f"#\t{name}: {_escaped(str(value))}" for name, value in metadata.items()]
        lines += ["#Data:", ",".join(self.columns)]
        self._write("\n".join(lines) + "\n")

    def comment(self, name: str, text: str) -> None:
        """A comment line ``#<name>: <text>`` (resume, auto-range, suspensions...)."""
        self._write(f"#{name}: " + " ".join(text.split()) + "\n")

    def write_row(self, row: Mapping[str, Any]) -> None:
        """One data row, on its way to the disk before this returns."""
        values = tuple([row[c] for c in self.columns])
        if self._plain.issuperset(map(type, values)):
            line = self._template % values
        else:  # numpy scalars and the like: as pymeasure would write them
            line = ",".join(f"{v}" for v in values) + "\n"
        self._write(line)
        self.rows += 1
        if time.monotonic() - self._synced_at >= FSYNC_INTERVAL_S:
            self.sync()

    def finish(self, status: str, reason: str, points: int) -> None:
        """The closing ``#Status:`` line (every ending), fsync, close."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {STATUSES}")
        reason = " ".join(reason.split())  # one line, whatever the error's text
        try:
            self._write(f"#Status: {status}{f' ({reason})' if reason else ''} at {_now()}, {points} points\n")
            self.sync()
        finally:
            self.close()

    def sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise RunWriteError(exc.errno, f"{self.path}: {exc.strerror}") from None
        self._synced_at = time.monotonic()

    def discard(self) -> None:
        """Close and remove a file that holds nothing yet (a run that failed before its header: no stub file)."""
        self.close()
        if self.path.stat().st_size == 0:
            self.path.unlink()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, text: str) -> None:
        """Write whole lines in one system call; on any error cut the file back to its last whole line."""
        if self._fd is None:
            raise RunWriteError(0, f"{self.path}: the run file is closed")
        data = text.encode(ENCODING)
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # a short write (a signal, a nearly full disk): write the rest
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._good)
            except OSError:
                pass
            raise RunWriteError(exc.errno, f"{self.path}: cannot write the data: {exc.strerror}") from None
        self._good += len(data)


# ---- reading back ----------------------------------------------------------------------------------------------


def _tail(path: str | os.PathLike, size: int = 8192) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(max(0, end - size))
        return fh.read().decode(ENCODING, errors="replace")


def run_status(path: str | os.PathLike) -> str | None:
    """'finished', 'aborted' or 'failed' from the file's last ``#Status:`` line; None for an incomplete run."""
    for line in reversed(_tail(path).splitlines()):
        if line.startswith("#Status:"):
            words = line.split()
            return words[1] if len(words) > 1 and words[1] in STATUSES else "failed"
        if line.strip() and not line.startswith("#"):
            return None
    return None


def complete_rows(path: str | os.PathLike, truncate: bool = False) -> int:
    """Number of complete data rows in a run file; with ``truncate`` a half-written last line (hard kill in the
    middle of a write) is cut off so that appending continues cleanly."""
    rows, header_seen, size, last_end = 0, False, 0, 0
    with open(path, "rb") as fh:
        for raw in fh:
            size += len(raw)
            if not raw.endswith(b"\n"):
                break
            last_end = size
            if raw.startswith(b"#") or not raw.strip():
                continue
            if header_seen:
                rows += 1
            else:
                header_seen = True  # the first non-comment line holds the column names
    if truncate and last_end < size:
        os.truncate(path, last_end)
    return rows


#: comment lines after which the rows start at the plan point they name
_FROM_POINT = re.compile(r"^#(?:Suspended|Suspension over): .* from plan point (\d+)\s*$")
_RESUMED = re.compile(r"^#Resumed: .* after (\d+) points\s*$")


def row_points(lines) -> tuple[list[int], int]:
    """(the plan point of each data row in order, the plan point after the file's end: where a resume continues)
    from a run file's complete lines. Re-measured rows do not count twice."""
    points: list[int] = []
    point, header_seen = 0, False
    for line in lines:
        if line.startswith("#"):
            match = _FROM_POINT.match(line) or _RESUMED.match(line)
            if match:
                point = int(match.group(1))
        elif line.strip():
            if header_seen:
                points.append(point)
                point += 1
            else:
                header_seen = True  # the column names
    return points, point


def next_point(path: str | os.PathLike) -> int:
    """The plan point a resume continues from (see :func:`row_points`); complete lines only."""
    with open(path, "r", encoding=ENCODING, errors="replace", newline="") as fh:
        return row_points(line for line in fh if line.endswith("\n"))[1]


def stored_plan(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """(the ``#Procedure:`` class path, the ``#Plan:`` record) of a run file; ValueError if it has none."""
    procedure, plan = "", None
    with open(path, "r", encoding=ENCODING, errors="replace") as fh:
        for n, line in enumerate(fh):
            if not line.startswith("#") or n > 10_000:
                break
            if line.startswith("#Procedure:"):
                procedure = line.split(":", 1)[1].strip().strip("<>")
            elif line.startswith("#Plan:"):
                try:
                    plan = json.loads(line.split(":", 1)[1])
                except ValueError:
                    raise ValueError(f"{path}: its #Plan: line is not valid JSON") from None
    if not isinstance(plan, dict):
        raise ValueError(f"{path}: not a qpclab run file (no #Plan: line in its header)")
    return procedure, plan


def last_value(path: str | os.PathLike, column: str) -> float | None:
    """The value of ``column`` in the file's last complete data row (None if there is none)."""
    columns = None
    with open(path, "r", encoding=ENCODING, errors="replace") as fh:
        for line in fh:
            if not line.startswith("#") and line.strip():
                columns = line.rstrip("\n").split(",")
                break
    if columns is None or column not in columns:
        return None
    for line in reversed(_tail(path, 1 << 16).splitlines(keepends=True)):
        if line.endswith("\n") and not line.startswith("#") and line.strip():
            cells = line.rstrip("\n").split(",")
            if len(cells) == len(columns):
                try:
                    return float(cells[columns.index(column)])
                except ValueError:
                    return None
    return None
