"""Buffered lines: the fast gate's line as a hardware-timed source list, the lock-in sampling on its trigger, one
buffer read per line (``--mode buffered``).

At the fridge a stepped point costs bus round trips (GPIB: about a millisecond each); at short time constants that,
not the physics, sets the length of a map. A buffered line costs the settling per point and a few exchanges per
line. For each line of a :class:`~qpclab.procedures.plan.Plan` whose ``buffered`` route is set
(:func:`~qpclab.instruments.source_lists.buffered_route`) the executor calls :func:`walk` instead of its per-point
loop, keeping its finaliser, suspenders and stop handling:

1. the list is the line's values as the instrument holds them, with a dwell per level from the lock-in's settling
   (time constant and slope read back, as in stepped mode), at least what the gate's rate needs for the largest
   step; it is checked by the gate-safety rules (:func:`~qpclab.instruments.source_lists.check_list`: limits,
   step, dwell for the rate, length) before anything moves for the line: a refusal is one line;
2. the fast gate ramps safely (SafeGate: from the read-back value, within step and rate) to the list's first
   level, the slow axis moves, and the list is checked again from the value read back there;
3. the lock-in buffer is armed, the list uploaded and started; after the list's time the buffer is read once
   (X and Y of every level, the overloads latched during the line);
4. the line's rows go to the writer at once (the same columns and format as stepped mode; a row's time is the
   moment its sample was taken), so a crash loses at most the line being measured. An overload re-measures the
   line one sensitivity coarser (noted in the file), as stepped mode re-reads a point;
5. on any way out of a line (stop, error) the list is stopped with the instrument's abort command and the channel
   returned to a fixed level where it is; the executor's finaliser then ramps every output safely.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..instruments.connect import Lab
from ..instruments.roles import InstrumentError
from ..instruments.source_lists import ListSource, LockInBuffer, check_list, list_dwell_s
from .plan import TIME_COLUMN, Plan
from .point import line_moves
from .readouts import OVERLOAD_RETRIES, ConductanceReadout, UncuredOverload
from .suspenders import Guard, Trip
from .writer import RunWriter

if TYPE_CHECKING:  # the executor imports this module
    from .executor import RunControl

__all__ = ["walk", "TRIGGER_TIMEOUT_S"]

#: how long after the list's end the lock-in may still be missing samples before the line fails (s)
TRIGGER_TIMEOUT_S = 2.0


def walk(plan: Plan, lab: Lab, writer: RunWriter, control: RunControl, start_point: int, t0: float,
         guard: Guard | None) -> Trip | None:
    """Measure ``plan`` line by line from plan point ``start_point`` (the executor's walk, hardware-timed)."""
    route, readout = plan.buffered, plan.readout
    if not isinstance(readout, ConductanceReadout):
        raise TypeError(f"a buffered plan reads the conductance, not {type(readout).__name__}")
    gate = lab.gates[route.gate]
    source, buffer = route.list_source(lab), route.lockin_buffer(lab)
    source.prepare()
    buffer.prepare()
    capacity = min(source.MAX_POINTS, buffer.MAX_POINTS)
    settle, should_stop = readout.settle_s(), control.should_stop
    total, report_every = plan.n_points, max(1, plan.n_points // 1000)
    point = control.point = start_point
    for _, line, offset in plan.lines_from(start_point):
        values = [gate.quantized(float(v)) for v in line.values[offset:]]  # what the instrument will hold
        dwell = list_dwell_s(gate.spec, values, settle, type(source), type(buffer))
        check_list(gate.spec, values[0], values, dwell, capacity)  # before anything moves for this line
        for attempt in range(OVERLOAD_RETRIES + 1):
            gate.ramp_to(values[0], should_stop)
            if attempt == 0:
                fixed = line_moves(line, lab, should_stop)
            if should_stop():
                return None
            lab.check_errors()
            check_list(gate.spec, gate.read_checked(), values, dwell, capacity)  # from where it really is
            try:
                started, xs, ys, overloaded = _run_list(source, buffer, values, dwell, control)
            finally:
                gate.written_by_list()
            lab.check_compliance()
            if not overloaded:
                break
            li = lab.lockin
            if attempt == OVERLOAD_RETRIES or not li.sensitivity_up():
                text = f"{li.name}: overload during a buffered line that auto-ranging cannot cure"
                if guard is None or guard.overload is None:
                    raise UncuredOverload(text)
                return Trip(guard.overload, text)  # the line is not written: measured again after the pause
            writer.comment("Auto-range", f"{li.name} overloaded during line {point // plan.points_per_line}; "
                                         f"sensitivity now {li.sensitivity:g} V; the line is measured again")
        lab.check_errors()
        for i, (value, x, y) in enumerate(zip(values, xs, ys)):
            row = dict(fixed)
            row[plan.fast_column] = value
            readout.convert(row, x, y)
            row[TIME_COLUMN] = started + (i + 1) * dwell - t0  # the sample at the end of the level's dwell
            writer.write_row(row)
            point += 1
            control.point = point
            if control.on_row is not None:
                control.on_row(row)
            if control.progress is not None and (point % report_every == 0 or point == total):
                control.progress(point, total)
        if guard is not None and time.monotonic() >= guard.next_at:
            trip = guard.check(point)
            if trip is not None:
                return trip
        if should_stop():
            return None
    return None


def _run_list(source: ListSource, buffer: LockInBuffer, values: list[float], dwell: float,
              control: RunControl) -> tuple[float, list[float], list[float], bool]:
    """One list: arm the buffer, upload, start, wait for every sample, read; (start time, X, Y, overloaded).
    On any way out the list is aborted, the channel left at a fixed level where it is and the buffer stopped."""
    n = len(values)
    try:  # from the upload on: a list that fails half-way is aborted like one stopped in mid-line
        buffer.arm(n)
        source.upload(values, dwell)
        started = time.monotonic()
        source.start()
        control.wait(n * dwell)
        deadline = time.monotonic() + TRIGGER_TIMEOUT_S
        while (got := buffer.count()) < n:
            if time.monotonic() > deadline:
                raise InstrumentError(f"{buffer.name}: {got} of {n} trigger pulses arrived from {source.name}; "
                                      "check the trigger cable (station.triggers)")
            control.wait(min(0.05, max(dwell, 0.002)))
        xs, ys, overloaded = buffer.read(n)
    except BaseException:
        source.abort()
        source.finish()
        buffer.stop()
        raise
    source.finish()
    return started, xs, ys, overloaded
