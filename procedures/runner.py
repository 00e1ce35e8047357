"""Run a procedure headless: data to a CSV file line by line, progress on the terminal, Ctrl-C stops safely.

The file is pymeasure's format (``#`` header with the procedure, its parameters and metadata, then CSV), so
``pymeasure.experiment.Results.load`` and ``pandas.read_csv(path, comment="#")`` both read it. Every point is
written and flushed as it is measured.
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

__all__ = ["run_procedure", "RunResult"]


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
                  on_point: Callable[[dict], None] | None = None) -> RunResult:
    """Run ``procedure`` to completion (or until stopped), writing its data to ``data_path``.

    The first Ctrl-C asks the procedure to stop after the current point (gates then go to their safe values in
    shutdown); a second one interrupts at once (shutdown still runs). Returns a :class:`RunResult`; a procedure
    error is re-raised after the data and the gates are safe.
    """
    data_path = Path(data_path)
    data_path.parent.mkdir(parents=True, exist_ok=True)
    if data_path.exists():
        raise FileExistsError(f"{data_path} exists: qpclab never overwrites data; choose another name")
    stop = stop_event or threading.Event()
    procedure.should_stop = stop.is_set
    procedure.data_path = str(data_path)  # companion files (spectra) go beside the data
    results = Results(procedure, str(data_path))
    fh = open(data_path, "a", encoding=Results.ENCODING)
    points = 0
    bar = _progress_bar(procedure) if progress else None

    def emit(topic, record):
        nonlocal points
        if topic == "results":
            fh.write(results.format(record) + Results.LINE_BREAK)
            fh.flush()
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
            fh.close()
            results.store_metadata()  # station, instrument snapshot: known after startup
            fh = open(data_path, "a", encoding=Results.ENCODING)
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
