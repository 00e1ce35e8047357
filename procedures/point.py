"""One point of a measurement, the same for every plan: the executor's grid lines and adaptive passes both measure
through :class:`PointMeasurer`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Mapping

from ..instruments.connect import Lab
from .axes import Axis
from .plan import TIME_COLUMN, Line
from .readouts import Readout
from .writer import RunWriter

if TYPE_CHECKING:  # the executor imports this module
    from .executor import RunControl

__all__ = ["PointMeasurer", "line_moves"]


def line_moves(line: Line, lab: Lab, should_stop: Callable[[], bool]) -> dict:
    """Make a line's moves in order (each safely); returns the line's fixed columns: its constants and the values
    its moves reached."""
    fixed = dict(line.constants)
    for move in line.moves:
        reached = move.axis.move(lab, move.value, should_stop)
        if move.column:
            fixed[move.column] = reached
    return fixed


class PointMeasurer:
    """One point, the same for every plan (grid lines and adaptive passes): move the fast axis safely (the row
    records the value the instrument holds), wait for the signal to settle, read and convert, check every source
    for compliance (no point taken while a gate leaks is recorded), write the row, count it.

    ``measure(value, fixed, point)`` returns the row written; an exception leaves the point unwritten."""

    def __init__(self, fast: Axis, fast_column: str, readout: Readout, lab: Lab, writer: RunWriter,
                 control: RunControl, t0: float):
        self._move, self._column, self._t0 = fast.mover(lab), fast_column, t0
        self._lab, self._control = lab, control
        self._should_stop, self._wait, self._settle = control.should_stop, control.wait, readout.settle_s()
        self._read, self._note, self._write = readout.read, writer.comment, writer.write_row
        self._check_compliance = lab.check_compliance

    def measure(self, value: float, fixed: Mapping, point: int) -> dict:
        row = dict(fixed)
        row[self._column] = self._move(value, self._should_stop)
        self._wait(self._settle)
        self._read(self._lab, row, point, self._wait, self._note)
        self._check_compliance()
        row[TIME_COLUMN] = time.monotonic() - self._t0
        self._write(row)  # on its way to the disk before the next point starts
        control = self._control
        control.point = point + 1
        if control.on_row is not None:
            control.on_row(row)
        return row
