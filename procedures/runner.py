"""Run a procedure headless: data to a CSV file line by line, progress on the terminal, Ctrl-C stops safely.

The file is pymeasure's format (``#`` header with the procedure, its parameters and metadata, then CSV), so
``pymeasure.experiment.Results.load`` and ``pandas.read_csv(path, comment="#")`` both read it. Every point is
written and flushed as it is measured: after a crash or a hard kill the file holds every point measured before.

A run that ends (finished, aborted or failed) appends a last line ``#Status: <status> ...``; a file without it is
an incomplete run (killed, power lost). :func:`resume_run` continues such a run into the same file, without
re-measuring the points on disk.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

from pymeasure.experiment import Procedure, Results

log = logging.getLogger(__name__)

__all__ = ["run_procedure", "resume_run", "RunResult", "run_status", "complete_rows"]


class RunResult:
    def __init__(self, path: Path, status: str, points: int, error: BaseException | None, seconds: float):
        self.path = path
        self.status = status  # "finished", "aborted" or "failed"
        self.points = points
        self.error = error
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r}, {self.status}, {self.points} points, {self.seconds:.1f} s)"


def run_procedure(procedure: Procedure, data_path: str | os.PathLike, *, progress: bool = True,
                  stop_event: threading.Event | None = None,
                  on_point: Callable[[dict], None] | None = None, resume: bool = False) -> RunResult:
    """Run ``procedure`` to completion (or until stopped), writing its data to ``data_path``.

    The first Ctrl-C asks the procedure to stop after the current point (gates then go to their safe values in
    shutdown); a second one interrupts at once (shutdown still runs). Returns a :class:`RunResult`; a procedure
    error is re-raised after the data and the gates are safe.
    """
    data_path = Path(data_path)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    if resume:
        if not data_path.exists():
            raise FileNotFoundError(f"{data_path}: nothing to resume")
        status = run_status(data_path)
        if status is not None:
            raise ValueError(f"{data_path}: the run already ended ({status}); nothing to resume")
        procedure.resume_from = complete_rows(data_path, truncate=True)
    elif data_path.exists():
        raise FileExistsError(f"{data_path} exists: qpclab never overwrites data; choose another name")
    stop = stop_event or threading.Event()
    procedure.should_stop = stop.is_set
    procedure.data_path = str(data_path)  # companion files (spectra) go beside the data
    results = Results(procedure, str(data_path))
    fh = _RunFile(data_path)
    if resume:
        fh.write(f"#Resumed: {time.strftime('%Y-%m-%dT%H:%M:%S%z')} after {procedure.resume_from} points\n")
    points = 0
    bar = _progress_bar(procedure) if progress else None

    columns = tuple(procedure.DATA_COLUMNS)
    # "%r" of a float or an int is what pymeasure writes for it (f"{v}"): every qpclab row takes this fast path,
    # with the procedure's COLUMN_FORMATS where it gives one
    formats = getattr(procedure, "COLUMN_FORMATS", {})
    template = ",".join([formats.get(c, "%r") for c in columns]) + Results.LINE_BREAK
    plain = {float, int}

    def emit(topic, record):
        nonlocal points
        if topic == "results":
            try:
                values = tuple([record[c] for c in columns])
            except KeyError:
                values = None
            if values is not None and plain.issuperset(map(type, values)):
                fh.write(template % values)  # on disk (in the OS) before the next point starts
            else:  # anything else: pymeasure's own formatting
                fh.write(results.format(record) + Results.LINE_BREAK)
            points += 1
            if on_point is not None:
                on_point(record)
        elif topic == "progress" and bar is not None:
            bar.update(max(0.0, round(float(record), 1) - bar.n))  # tqdm throttles redraws

    procedure.emit = emit
    status, error = "finished", None
    t0 = time.monotonic()
    old_handler = _install_sigint(stop)
    try:
        procedure.status = Procedure.RUNNING
        try:
            procedure.startup()
            procedure.evaluate_metadata()  # as pymeasure's Worker does: Metadata values are read after startup
            if not resume:
                fh.close()
                results.store_metadata()  # station, instrument snapshot: known after startup
                fh = _RunFile(data_path)
            procedure.execute()
            if stop.is_set():
                status = "aborted"
        except KeyboardInterrupt as exc:
            status, error = "aborted", exc
        except BaseException as exc:  # noqa: BLE001 - reported after the gates are safe
            status, error = "failed", exc
        finally:
            try:
                procedure.shutdown()
            finally:
                reason = f" ({type(error).__name__}: {error})".replace("\n", " ") if status == "failed" else ""
                fh.write(f"#Status: {status}{reason} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}, "
                         f"{points + procedure.resume_from} points\n")
                fh.close()
                if bar is not None:
                    bar.close()
    finally:
        _restore_sigint(old_handler)
    procedure.status = {"finished": Procedure.FINISHED, "aborted": Procedure.ABORTED}.get(status, Procedure.FAILED)
    result = RunResult(data_path, status, points, error, time.monotonic() - t0)
    if status == "failed":
        raise error
    return result


class _RunFile:
    """The run's data file, appended to without a buffer: every ``write`` is in the operating system's hands when
    it returns (one system call), so a crash or a hard kill of qpclab loses nothing written."""

    def __init__(self, path: Path):
        self._raw = open(path, "ab", buffering=0)

    def write(self, text: str) -> None:
        data = text.encode(Results.ENCODING)
        written = self._raw.write(data)
        if written != len(data):  # a short write (full disk, a signal): write the rest
            rest = memoryview(data)[written:]
            while rest:
                rest = rest[self._raw.write(rest):]

    def close(self) -> None:
        self._raw.close()


def _progress_bar(procedure):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=100.0, desc=type(procedure).__name__, unit="%", bar_format=(
        "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"))


def _install_sigint(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("stopping after the current point (Ctrl-C again to interrupt at once)")

    return signal.signal(signal.SIGINT, handler)


def _restore_sigint(old) -> None:
    if old is not None:
        signal.signal(signal.SIGINT, old)


def run_status(path: str | os.PathLike) -> str | None:
    """'finished', 'aborted' or 'failed' from the file's last ``#Status:`` line; None for an incomplete run."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read().decode("utf-8", errors="replace")
    for line in reversed(tail.splitlines()):
        if line.startswith("#Status:"):
            return line.split()[1]
        if line.strip() and not line.startswith("#"):
            return None
    return None


def complete_rows(path: str | os.PathLike, truncate: bool = False) -> int:
    """Number of complete data rows in a run file; with ``truncate`` a half-written last line (hard kill in the
    middle of a write) is cut off so that appending continues cleanly."""
    with open(path, "rb+" if truncate else "rb") as fh:
        data = fh.read()
        end = len(data)
        if data and not data.endswith(b"\n"):
            end = data.rfind(b"\n") + 1
            if truncate:
                fh.truncate(end)
    lines = data[:end].decode("utf-8", errors="replace").splitlines()
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    return max(0, len(body) - 1)  # the first non-comment line is the column header


def resume_run(data_path: str | os.PathLike, **kwargs) -> RunResult:
    """Continue an incomplete run (killed, power lost) into the same file, from the procedure and parameters in
    its header; points already on disk are not measured again."""
    from pymeasure.experiment import Results as _Results

    data_path = Path(data_path)
    complete_rows(data_path, truncate=True)
    procedure = _Results.load(str(data_path)).procedure
    return run_procedure(procedure, data_path, resume=True, **kwargs)
