"""The conductance staircase: sweep one gate, read the lock-in, record G in units of G0.

Each point: step the gate (within its step, rate and limits), wait for the lock-in to settle (computed from its
time constant and filter slope), read X and Y together, and convert to conductance with the station's circuit
(excitation divider, preamp gain, series resistance).
"""

from __future__ import annotations

import time

from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter

from ..instruments.station import Station
from .axes import GateAxis
from .base import LockInProcedure, linspace_points

__all__ = ["Staircase"]


class Staircase(LockInProcedure):
    """Sweep a gate (or a virtual gate) and record the conductance staircase, up and/or down, repeated."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.4)
    stop = FloatParameter("Stop", units="V", default=0.0)
    step = FloatParameter("Step", units="V", default=0.002, minimum=1e-6, maximum=1.0)
    direction = ListParameter("Direction", choices=["up", "down", "up and down"], default="up")
    repeats = IntegerParameter("Repeats", default=1, minimum=1, maximum=10000)

    DATA_COLUMNS = ["Gate (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Sweep", "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        axis = GateAxis(station, self.gate)
        for label, v in (("start", self.start), ("stop", self.stop)):
            try:
                axis.check(v)
            except ValueError as exc:
                raise ValueError(f"{label}: {exc}") from None

    def sweeps(self) -> list[list[float]]:
        """The gate values of every sweep, in order."""
        up = linspace_points(self.start, self.stop, self.step)
        one = {"up": [up], "down": [up[::-1]], "up and down": [up, up[::-1]]}[self.direction]
        return [s for _ in range(self.repeats) for s in one]

    def planned_moves(self):
        return [(self.gate, sweep) for sweep in self.sweeps()]

    def measure(self) -> None:
        axis = GateAxis(self.station, self.gate)
        sweeps = self.sweeps()
        total = sum(len(s) for s in sweeps)
        done = 0
        resuming = self.resume_from > 0
        report_every = max(1, total // 1000)  # progress in steps of 0.1 %
        move, should_stop, emit = axis.mover(self.lab), self.should_stop, self.emit
        t0 = time.monotonic()
        for k, values in enumerate(sweeps):
            with axis.sweeping(self.lab):
                for v in values:
                    if resuming and self.skip_point():
                        done += 1
                        continue
                    # the gate value recorded is the one the instrument holds (its resolution)
                    row = self.conductance_point({"Gate (V)": move(v, should_stop), "Sweep": k})
                    row["Time (s)"] = time.monotonic() - t0
                    emit("results", row)
                    done += 1
                    if done % report_every == 0 or done == total:
                        emit("progress", 100.0 * done / total)
                    if should_stop():
                        return

    def estimated_duration(self) -> float:
        """Rough run time (s): settling per point."""
        return sum(len(s) for s in self.sweeps()) * self.settle_seconds()
