"""The conductance staircase: sweep one gate, read the lock-in, record G in units of G0.

Each point: step the gate (within its step, rate and limits), wait for the lock-in to settle (computed from its
time constant and filter slope), read X and Y together, and convert to conductance with the station's circuit
(excitation divider, preamp gain, series resistance).
"""

from __future__ import annotations

from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter

from ..instruments.station import Station
from .axes import GateAxis
from .base import LockInProcedure, check_value
from .plan import Line, Plan, linspace_points
from .readouts import ConductanceReadout

__all__ = ["Staircase"]

DIRECTIONS = {"up": (False,), "down": (True,), "up and down": (False, True)}


class Staircase(LockInProcedure):
    """Sweep a gate (or a virtual gate) and record the conductance staircase, up and/or down, repeated."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.4)
    stop = FloatParameter("Stop", units="V", default=0.0)
    step = FloatParameter("Step", units="V", default=0.002, minimum=1e-6, maximum=1.0)
    direction = ListParameter("Direction", choices=list(DIRECTIONS), default="up")
    repeats = IntegerParameter("Repeats", default=1, minimum=1, maximum=10000)

    DATA_COLUMNS = ["Gate (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Sweep", "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        axis = GateAxis(station, self.gate)
        check_value(axis, "start", self.start)
        check_value(axis, "stop", self.stop)

    def plan(self, station: Station) -> Plan:
        up = linspace_points(self.start, self.stop, self.step)
        pattern = [up[::-1] if down else up for down in DIRECTIONS[self.direction]]
        return Plan(fast=GateAxis(station, self.gate), fast_column="Gate (V)", lines=self.repeats * len(pattern),
                    line=lambda k: Line((), pattern[k % len(pattern)], {"Sweep": k}),
                    readout=ConductanceReadout(self.lockin_settings(), station.circuit), columns=self.DATA_COLUMNS)
