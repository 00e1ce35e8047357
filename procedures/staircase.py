"""The conductance staircase: sweep one gate, read the lock-in, record G in units of G0.

Each point: step the gate (within its step, rate and limits), wait for the lock-in to settle (computed from its
time constant and filter slope), read X and Y together, and convert to conductance with the station's circuit
(excitation divider, preamp gain, series resistance).
"""

from __future__ import annotations

import time

from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter

from ..analysis.constants import G0
from ..instruments.station import Station
from .base import QPCProcedure, linspace_points

__all__ = ["Staircase"]


class Staircase(QPCProcedure):
    """Sweep a gate and record the conductance staircase."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.4)
    stop = FloatParameter("Stop", units="V", default=0.0)
    step = FloatParameter("Step", units="V", default=0.002, minimum=1e-6, maximum=1.0)
    direction = ListParameter("Direction", choices=["up", "down", "up and down"], default="up")
    repeats = IntegerParameter("Repeats", default=1, minimum=1, maximum=10000)
    time_constant = FloatParameter("Lock-in time constant", units="s", default=0.001, minimum=1e-5, maximum=3e4)
    filter_slope = IntegerParameter("Lock-in filter slope", units="dB/oct", default=24, minimum=6, maximum=24)
    excitation = FloatParameter("Lock-in sine output", units="V", default=0.1, minimum=0.004, maximum=5.0)
    sensitivity = FloatParameter("Lock-in sensitivity", units="V", default=0.5, minimum=2e-9, maximum=1.0)
    settle_tolerance = FloatParameter("Settle to within", default=1e-3, minimum=1e-9, maximum=0.5)

    DATA_COLUMNS = ["Gate (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Sweep", "Time (s)"]

    def check(self, station: Station) -> None:
        if self.gate not in station.gates:
            raise ValueError(f"gate {self.gate!r} is not in the station; its gates are {sorted(station.gates)}")
        spec = station.gates[self.gate]
        for label, v in (("start", self.start), ("stop", self.stop)):
            try:
                spec.check(v)
            except ValueError as exc:
                raise ValueError(f"{label}: {exc}") from None
        if self.filter_slope not in (6, 12, 18, 24):
            raise ValueError(f"filter slope {self.filter_slope} dB/oct is not one of 6, 12, 18, 24")
        if station.lockin is None:
            raise ValueError("the station has no lock-in (station.lockin)")

    def sweeps(self) -> list[list[float]]:
        """The gate values of every sweep, in order."""
        up = linspace_points(self.start, self.stop, self.step)
        one = {"up": [up], "down": [up[::-1]], "up and down": [up, up[::-1]]}[self.direction]
        return [s for _ in range(self.repeats) for s in one]

    def startup(self):
        super().startup()
        li = self.lab.lockin
        li.time_constant = self.time_constant
        li.filter_slope = self.filter_slope
        li.excitation_V = self.excitation
        li.sensitivity = self.sensitivity
        self._settle_s = li.settle_time(self.settle_tolerance)
        self._amplitude = li.excitation_V  # read back: what the instrument really applies

    def measure(self) -> None:
        gate = self.lab.gates[self.gate]
        circuit = self.station.circuit
        sweeps = self.sweeps()
        total = sum(len(s) for s in sweeps)
        done = 0
        t0 = time.monotonic()
        for k, values in enumerate(sweeps):
            for v in values:
                gate.ramp_to(v, should_stop=self.should_stop)
                x, y = self.read_lockin()
                g = circuit.conductance_S(x, self._amplitude)
                self.emit("results", {
                    "Gate (V)": v, "X (V)": x, "Y (V)": y, "G (S)": g, "G/G0": g / G0,
                    "Sweep": k, "Time (s)": time.monotonic() - t0,
                })
                done += 1
                self.emit("progress", 100.0 * done / total)
                if self.should_stop():
                    return

    def estimated_duration(self) -> float:
        """Rough run time (s): settling per point plus gate ramps."""
        from ..instruments.lockin_filter import order_for_slope, settle_time

        n = sum(len(s) for s in self.sweeps())
        return n * settle_time(self.time_constant, order_for_slope(self.filter_slope), self.settle_tolerance)
