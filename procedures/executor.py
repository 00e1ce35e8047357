"""The executor: runs any :class:`~qpclab.procedures.plan.Plan`, the one per-point loop of qpclab.

For every front end (command line, window, Python API) and every procedure:

1. connect the station (instruments opened, sources switched on at their present level);
2. check the plan once more against the values read back from the outputs (a virtual gate's projection depends on
   where its physical gates really are), before anything moves;
3. set the readout's instruments up, then write the file's header with what the instruments hold (read back);
4. for each line: its moves (slow axes, parked outputs), every source's error queue, then each point: move the fast
   axis safely (the row records the value the instrument holds), wait for the signal to settle, read, check every
   source for compliance (gate leakage: the run stops before the point is recorded), convert, write the row, report
   progress; a stop request ends the run after the point (or interrupts a ramp between steps);
   between points the station's suspenders (:mod:`qpclab.procedures.suspenders`) are checked when due (one clock
   comparison per point otherwise): a tripped one pauses the run, which then measures again from the plan point
   the suspension names;
5. always, whatever happened (end, abort, error, a full disk): bring every output to its end value after a normal
   end and to its safe value otherwise, close the readout and the instruments, and close the file with its
   ``#Status:`` line. A stop request during this safe ramp does not interrupt it (:class:`RunControl`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..instruments.connect import Lab, connect
from ..instruments.gates import RampInterrupted, safe_state
from ..instruments.station import Station
from .buffered import walk as buffered_walk
from .dryrun import check_limits  # the same limit walk as the dry run, from the read-back values
from .plan import TIME_COLUMN, Plan, SteeredPlan
from .point import PointMeasurer, line_moves
from .readouts import UncuredOverload
from .suspenders import Guard, SuspensionTimeout, Trip, config_for, suspenders_for
from .writer import RunWriteError, RunWriter

log = logging.getLogger(__name__)

__all__ = ["execute", "Outcome", "RunControl", "Aborted"]


class Aborted(Exception):
    """The user stopped the run (window abort, Ctrl-C, a signal): not an error."""


class RunControl:
    """What a front end and the executor share while a run goes: the stop request, progress, the phase.

    ``stop()`` asks the run to end after the current point (a ramp stops between two steps); it is what Ctrl-C,
    SIGTERM, SIGHUP, the window's Abort and :meth:`qpclab.RunHandle.stop` call. Once the run brings the station to
    its safe values (``phase == "safe"``), stop requests are only acknowledged: the safe ramp always completes.
    ``progress(done, total)`` is called as points are written (every 0.1 %). While a suspender holds the run
    (:mod:`qpclab.procedures.suspenders`) ``phase`` is "suspended" and ``suspended`` says why; ``resume()`` ends
    the suspension at once (what is still tripped is switched off for the rest of the run); ``on_event(line)``
    hears every pause and resume, one line each (the command line prints them).
    """

    def __init__(self, progress: Callable[[int, int], None] | None = None,
                 on_row: Callable[[Mapping], None] | None = None, event: threading.Event | None = None,
                 on_event: Callable[[str], None] | None = None):
        self._event = event if event is not None else threading.Event()
        self.progress = progress
        self.on_row = on_row
        self.on_event = on_event
        self.phase = "starting"  #: starting, measuring, suspended, safe, done
        self.safe_left = ""  #: during the safe ramp: what is left ("gate to 0 V: 3 s")
        self.suspended = ""  #: while suspended: why ("suspended: mixing chamber 0.31 K")
        self._resume = threading.Event()
        self.point = 0  #: the plan point the run measures next

    def stop(self) -> None:
        self._event.set()

    def resume(self) -> None:
        """End a suspension now (the window's Resume); nothing happens while the run measures."""
        if self.phase == "suspended":
            self._resume.set()

    def resume_requested(self) -> bool:
        return self._resume.is_set()

    def suspend(self, reason: str) -> None:
        """The executor's report: suspended for ``reason``, or measuring again (``""``)."""
        self.suspended = reason
        if self.phase in ("measuring", "suspended"):
            self.phase = "suspended" if reason else "measuring"
        if not reason:
            self._resume.clear()

    def event(self, line: str) -> None:
        if self.on_event is not None:
            self.on_event(line)

    def should_stop(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> None:
        """Wait ``seconds`` (the settling), waking early and raising :class:`Aborted` if the run is stopped.

        Sleeps in slices of at most 50 ms and spins for the last 2 ms: time.sleep overshoots short waits by a
        large fraction of a millisecond, which at short time constants would cost more than the settling."""
        end = time.perf_counter() + seconds
        while True:
            remaining = end - time.perf_counter()
            if remaining > 0.002:
                if self._event.is_set():
                    raise Aborted()
                time.sleep(min(remaining - 0.0015, 0.05))
            elif remaining <= 0:
                return


@dataclass
class Outcome:
    """How a run ended: ``status`` finished | aborted | failed, the rows written in this session, the error."""

    status: str
    points: int
    error: BaseException | None = None

    @property
    def reason(self) -> str:
        if self.error is None:
            return ""
        text = str(self.error).strip() or type(self.error).__name__
        return f"{type(self.error).__name__}: {text}"


def execute(plan: Plan, station: Station, writer: RunWriter, control: RunControl, *,
            metadata: Callable[[Lab], Mapping[str, str]] | None, start_point: int = 0, time_offset: float = 0.0,
            data_path: Path | None = None) -> Outcome:
    """Run ``plan`` on ``station``, writing rows through ``writer``, from plan point ``start_point`` on.

    ``metadata(lab)`` gives the header's metadata once the instruments are set up (a new file); ``None`` continues
    an existing file (resume: a ``#Resumed:`` comment line instead). ``time_offset`` continues the time column.
    Never raises for what happens in the run: the :class:`Outcome` carries the error."""
    lab: Lab | None = None
    status, error = "finished", None
    header_written = False
    control.point = start_point
    try:
        lab = connect(station)
        check_limits(plan, station, start={g.name: g.read() for g in lab.outputs()})
        plan.readout.setup(lab, data_path)
        if metadata is not None:
            writer.begin(metadata(lab))
        else:
            writer.comment("Resumed", f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} after {start_point} points")
        header_written = True
        cfg = config_for(station)
        active, _ = suspenders_for(plan, station, cfg)
        guard = Guard(cfg, active, lab, start_point) if active else None
        control.phase = "measuring"
        if isinstance(plan, SteeredPlan):  # points decided as it goes (a learner, a tuning): its own loop
            plan.run(lab, writer, control, start_point, time_offset, data_path, guard)
        else:
            _loop(plan, lab, writer, control, start_point, time_offset, guard)
        plan.conclude(writer.path, writer.comment)
        if control.should_stop():
            status = "aborted"
    except (Aborted, RampInterrupted, KeyboardInterrupt) as exc:
        status = "aborted"
        log.info("run stopped by the user (%s)", type(exc).__name__)
    except SuspensionTimeout as exc:  # an unattended night does not hang for ever: ends like an abort
        status, error = "aborted", exc
        control.event(f"Aborted: {exc}")
    except BaseException as exc:  # noqa: BLE001 - every error ends the run the same way: station safe, file closed
        status, error = "failed", exc
    finally:
        control.phase = "safe"
        try:
            if lab is not None:
                held = plan.held if status == "finished" else ()  # a tuned gate stays where the run put it
                outputs = [g for g in lab.outputs() if g.name not in held]
                control.safe_left = _safe_left(outputs, end=(status == "finished"))
                failures = safe_state(outputs, end=(status == "finished"))
                if failures:
                    text = "; ".join(f"{name}: {exc}" for name, exc in failures)
                    log.error("gates not brought to their safe values: %s", text)
                    if error is None:
                        status, error = "failed", RuntimeError(f"gates not brought to their safe values: {text}")
        finally:
            plan.readout.close()
            if lab is not None:
                lab.close()
            control.phase = "done"
            points = writer.rows
            _close_file(writer, header_written, status, error, control.point)
    return Outcome(status, points, error)


def _safe_left(outputs, end: bool) -> str:
    """What the safe ramp has left to do, for the acknowledgement of a signal: "bringing gate to 0 V: about 3 s"."""
    parts, total = [], 0.0
    for gate in outputs:
        target = gate.spec.end if end else gate.spec.safe
        try:
            now = gate.read()
        except Exception:  # noqa: BLE001 - a lost instrument: the safe ramp will say so
            continue
        total += abs(now - target) / gate.spec.rate
        parts.append(f"{gate.name} to {target:g} V")
    return f"bringing {', '.join(parts) or 'the station'} to {'end' if end else 'safe'} values: about {total:.1f} s"


def _close_file(writer: RunWriter, header_written: bool, status: str, error: BaseException | None,
                total_points: int) -> None:
    if not header_written:
        writer.discard()  # nothing measured, nothing to keep: no stub file
        return
    try:
        writer.finish(status, Outcome(status, 0, error).reason, total_points)
    except RunWriteError as exc:  # a full disk: the rows are kept, the status line cannot be
        log.error("%s", exc)


def _loop(plan: Plan, lab: Lab, writer: RunWriter, control: RunControl, start_point: int, time_offset: float,
          guard: Guard | None) -> int:
    """Measure from plan point ``start_point`` to the end (or a stop); returns the plan point reached. A tripped
    suspender breaks out of the line; :meth:`Guard.suspend` holds, and the walk restarts at the point it names."""
    point = start_point
    t0 = time.monotonic() - time_offset
    walk = _walk if plan.buffered is None else buffered_walk  # a buffered plan: hardware-timed lines
    while True:
        trip = walk(plan, lab, writer, control, point, t0, guard)
        if trip is None:
            return control.point
        point = guard.suspend(trip, control.point, control, writer.comment)
        control.point = point


def _walk(plan: Plan, lab: Lab, writer: RunWriter, control: RunControl, start_point: int, t0: float,
          guard: Guard | None) -> Trip | None:
    fast = plan.fast
    should_stop, progress = control.should_stop, control.progress
    measure = PointMeasurer(fast, plan.fast_column, plan.readout, lab, writer, control, t0).measure
    total = plan.n_points
    report_every = max(1, total // 1000)  # progress in steps of 0.1 %
    check_at = guard.next_at if guard is not None else math.inf
    point = control.point = start_point
    for _, line, offset in plan.lines_from(start_point):
        values = line.values
        if plan.fast_first:
            fast.move(lab, values[offset], should_stop)  # to the line's start before the slow moves
        fixed = line_moves(line, lab, should_stop)
        if should_stop():
            break
        lab.check_errors()
        with fast.sweeping(lab):
            for i in range(offset, len(values)):
                try:
                    row = measure(values[i], fixed, point)
                except UncuredOverload as exc:
                    if guard is None or guard.overload is None:
                        raise
                    return Trip(guard.overload, str(exc))  # this point is not written: measured after the pause
                point += 1
                if progress is not None and (point % report_every == 0 or point == total):
                    progress(point, total)
                if row[TIME_COLUMN] + t0 >= check_at:
                    trip = guard.check(point)
                    if trip is not None:
                        return trip
                    check_at = guard.next_at
                if should_stop():
                    break
        if should_stop():
            break
        lab.check_errors()
    return None
