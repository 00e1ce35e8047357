"""Run a procedure into a file: the front-end glue every front end uses (command line, window, Python API).

:func:`run_procedure` checks everything before anything opens (parameters against their ranges, the station,
every planned value against the limits), opens the file with the one writer, installs the signal handlers (in the
main thread: SIGINT, SIGTERM and SIGHUP all mean "stop after this point and bring the station to safe"; during the
safe ramp they are acknowledged, never obeyed), shows progress, and runs the plan through the one executor.

:func:`resume_run` continues an incomplete run (killed, power cut) into the same file, from the plan its header
records exactly (``#Plan:``): the procedure is found by its registered name in qpclab's table; a file never makes
qpclab import or call anything. A run that ended (finished, aborted, failed) is not resumed. The time column
continues across the resume.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Mapping

from . import entry, procedure_class, registered_name
from .base import QPCProcedure
from .catalogue import RUNNING, RunEntry, new_run_id, record_end, record_start
from .dryrun import PlanReport, plan_report
from .executor import Outcome, RunControl, execute
from .plan import TIME_COLUMN
from .writer import FILE_FORMAT, RunWriter, complete_rows, last_value, next_point, run_status, stored_plan

log = logging.getLogger(__name__)

__all__ = ["run_procedure", "resume_run", "prepare", "new_data_path", "RunResult", "run_status", "complete_rows"]

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class RunResult:
    """How a run ended: ``path``, ``status`` (finished | aborted | failed), ``points`` written in this session,
    ``error`` (None unless failed), ``seconds``."""

    def __init__(self, path: Path, status: str, points: int, error: BaseException | None, seconds: float):
        self.path, self.status, self.points, self.error, self.seconds = path, status, points, error, seconds

    def __repr__(self) -> str:
        return f"RunResult({str(self.path)!r}, {self.status}, {self.points} points, {self.seconds:.1f} s)"


def prepare(procedure: QPCProcedure):
    """Everything checked before anything opens: (station, plan, dry-run report). Raises ValueError (subclasses
    name the parameter, the station key or every value beyond a limit)."""
    procedure.validate()
    station = procedure.load_station()
    procedure.check(station)
    plan = procedure.plan(station)
    return station, plan, plan_report(plan, station)


def new_data_path(folder: Path, name: str) -> Path:
    """A new file ``<folder>/<name>-<date>-<time>.csv`` (``-1``, ``-2``... if taken): the command line's and the
    window's names."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"{name}-{stamp}.csv"
    n = 1
    while path.exists() or path.with_suffix(".spectra.csv").exists():
        path = folder / f"{name}-{stamp}-{n}.csv"
        n += 1
    return path


def plan_record(procedure: QPCProcedure, report: PlanReport) -> dict:
    return {"format": FILE_FORMAT, "procedure": registered_name(type(procedure)),
            "parameters": procedure.parameter_record(), "points": report.points, "lines": report.lines}


def run_procedure(procedure: QPCProcedure, data_path: str | os.PathLike, *, progress: bool = True,
                  stop_event: threading.Event | None = None, on_point: Callable[[Mapping], None] | None = None,
                  on_progress: Callable[[int, int], None] | None = None, resume: bool = False,
                  control: RunControl | None = None, catalogue: str | os.PathLike | None = None) -> RunResult:
    """Run ``procedure`` to completion (or until stopped), writing its data to ``data_path``.

    ``stop_event`` (or ``control``) stops the run after the current point; ``on_point(row)`` sees every row after
    it is written; ``on_progress(done, total)`` every 0.1 %. The run is entered in the ``catalogue`` (default:
    :func:`qpclab.procedures.catalogue.default_path`) as it starts, and updated from its file at the end. Returns
    a :class:`RunResult`; an error in the run is re-raised after the data and the station are safe."""
    data_path = Path(data_path)
    station, plan, report = prepare(procedure)
    control = control or RunControl(event=stop_event)
    bar = _Bar(procedure, plan.n_points) if progress else None
    listeners = [cb for cb in (on_progress, bar.update_to if bar else None) if cb is not None]

    def tell_progress(done: int, total: int) -> None:
        for listener in listeners:
            listener(done, total)

    control.progress = tell_progress if listeners else None
    control.on_row = on_point
    if control.on_event is None:  # the command line and the Python API: one line per pause and resume
        control.on_event = _print_event
    if resume:
        writer, start, offset = _reopen(procedure, data_path, plan.n_points)
        metadata = None
    else:
        record = plan_record(procedure, report)
        writer = RunWriter.create(data_path, procedure, record)
        start, offset = 0, 0.0
        run_id = new_run_id()
        record_start(RunEntry(run_id, data_path.resolve(), record["procedure"], station.name, station.sample,
                              station.cooldown, time.time(), status=RUNNING, parameters=record["parameters"]),
                     catalogue)

        def metadata(lab) -> dict[str, str]:
            return {"Run ID": run_id,
                    "Station": json.dumps({"path": str(station.path), "station": station.as_dict()}, default=str),
                    "Instrument snapshot": json.dumps(lab.snapshot(), default=str),
                    "Started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "Estimated run time (s)": f"{report.estimate_s:.4g}"}

    t0 = time.monotonic()
    old = _install_signals(control)
    try:
        outcome: Outcome = execute(plan, station, writer, control, metadata=metadata, start_point=start,
                                   time_offset=offset, data_path=data_path)
    finally:
        _restore_signals(old)
        if bar is not None:
            bar.close()
        record_end(data_path, catalogue)
    result = RunResult(data_path, outcome.status, outcome.points, outcome.error, time.monotonic() - t0)
    if outcome.status == "failed":
        raise outcome.error
    return result


def _reopen(procedure: QPCProcedure, data_path: Path, n_points: int) -> tuple[RunWriter, int, float]:
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path}: nothing to resume")
    status = run_status(data_path)
    if status is not None:
        raise ValueError(f"{data_path}: the run already ended ({status}); nothing to resume")
    writer = RunWriter.append(data_path, procedure.DATA_COLUMNS, procedure.COLUMN_FORMATS)
    done = next_point(data_path)  # plan points, not rows: a suspension re-measures some
    if done >= n_points:
        writer.close()
        raise ValueError(f"{data_path}: all {n_points} planned points are on disk; nothing to resume")
    last = last_value(data_path, TIME_COLUMN)
    return writer, done, (last if last is not None else 0.0)


def resume_run(data_path: str | os.PathLike, **kwargs) -> RunResult:
    """Continue an incomplete run into the same file from the plan its header records (see the module docstring)."""
    data_path = Path(data_path)
    if not data_path.is_file():
        raise FileNotFoundError(f"{data_path}: no such run file")
    class_path, record = stored_plan(data_path)
    name = record.get("procedure")
    if not isinstance(name, str):
        raise ValueError(f"{data_path}: its #Plan: line names no procedure")
    known = entry(name)  # ValueError for a name that is not in qpclab's table
    if class_path != known.class_path:
        raise ValueError(f"{data_path}: its header names the procedure <{class_path}>, its plan {name!r} "
                         f"(<{known.class_path}>): refusing to resume a file that contradicts itself")
    parameters = record.get("parameters")
    if not isinstance(parameters, dict):
        raise ValueError(f"{data_path}: its #Plan: line records no parameters")
    procedure = procedure_class(name)()
    procedure.set_values(**parameters)
    _, plan, _ = prepare(procedure)
    if record.get("points") != plan.n_points:
        raise ValueError(f"{data_path}: the recorded plan has {record.get('points')} points, rebuilding it gives "
                         f"{plan.n_points}: refusing to resume onto another grid")
    return run_procedure(procedure, data_path, resume=True, **kwargs)


# ---- progress and signals ---------------------------------------------------------------------------------------


def _print_event(line: str) -> None:
    print(f"qpclab: {line}", file=sys.stderr, flush=True)


class _Bar:
    """tqdm over the plan's points (a notebook widget in Jupyter, a text bar on a terminal)."""

    def __init__(self, procedure: QPCProcedure, total: int):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=type(procedure).__name__, unit="pt", file=sys.stderr,
                         dynamic_ncols=True, mininterval=0.5)

    def update_to(self, done: int, total: int) -> None:
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _install_signals(control: RunControl):
    """SIGINT, SIGTERM, SIGHUP: stop after this point, then safe; during the safe ramp: acknowledged only."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if control.phase in ("safe", "done"):
            print(f"qpclab: {name} received: {control.safe_left or 'bringing the station to its safe values'}; "
                  "the safe ramp is not interrupted", file=sys.stderr, flush=True)
        elif control.should_stop():
            print(f"qpclab: {name} received: already stopping after this point, then bringing the station to its "
                  "safe values", file=sys.stderr, flush=True)
        else:
            control.stop()
            print(f"qpclab: {name} received: stopping after this point, then bringing the station to its safe "
                  "values", file=sys.stderr, flush=True)

    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def _restore_signals(old) -> None:
    for sig, handler in (old or {}).items():
        signal.signal(sig, handler)
