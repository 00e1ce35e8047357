"""Hall sweep: step the magnetic field, read R_xx and R_xy with two lock-ins.

The Hall bar is current-biased from the xx lock-in's sine output through the station's Hall current resistor;
voltage preamplifiers (circuit.voltage_preamp_gain) sit before both lock-ins. Resistances come from the one
circuit description: R = X / (preamp gain * I).

Both lock-ins start at the ``sensitivity`` full scale and are read with the overload check of every qpclab
procedure (:meth:`~qpclab.procedures.base.QPCProcedure.read_lockin_checked`): an overloaded lock-in goes one
range coarser, settles again and is read again; an overload that ranging cannot cure stops the run.
"""

from __future__ import annotations

import time

from pymeasure.experiment import FloatParameter, IntegerParameter

from ..instruments.station import Station
from .axes import FieldAxis
from .base import QPCProcedure, linspace_points

__all__ = ["HallSweep"]


class HallSweep(QPCProcedure):
    """Step the field and record R_xx and R_xy (station lock-ins labelled ``xx`` and ``xy``)."""

    field_start = FloatParameter("Field start", units="T", default=0.0)
    field_stop = FloatParameter("Field stop", units="T", default=8.0)
    field_step = FloatParameter("Field step", units="T", default=0.02, minimum=1e-6, maximum=20.0)
    time_constant = FloatParameter("Lock-in time constant", units="s", default=0.003, minimum=1e-5, maximum=3e4)
    filter_slope = IntegerParameter("Lock-in filter slope", units="dB/oct", default=24, minimum=6, maximum=24)
    excitation = FloatParameter("Lock-in sine output", units="V", default=1.0, minimum=0.004, maximum=5.0)
    sensitivity = FloatParameter("Lock-in sensitivity", units="V", default=0.5, minimum=2e-9, maximum=1.0)
    settle_tolerance = FloatParameter("Settle to within", default=1e-3, minimum=1e-9, maximum=0.5)

    DATA_COLUMNS = ["Field (T)", "X xx (V)", "X xy (V)", "R_xx (ohm)", "R_xy (ohm)", "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        missing = {"xx", "xy"} - set(station.lockins)
        if missing:
            raise ValueError(f"the station needs lock-ins labelled xx and xy (station.lockins); missing {sorted(missing)}")
        axis = FieldAxis(station)
        axis.check(self.field_start)
        axis.check(self.field_stop)
        if self.filter_slope not in (6, 12, 18, 24):
            raise ValueError(f"filter slope {self.filter_slope} dB/oct is not one of 6, 12, 18, 24")

    def startup(self):
        super().startup()
        for label in ("xx", "xy"):
            li = self.lab.lockins[label]
            li.time_constant = self.time_constant
            li.filter_slope = self.filter_slope
            li.sensitivity = self.sensitivity  # a known full scale, not whatever the last user left
        self.lab.lockins["xx"].excitation_V = self.excitation
        self._amplitude = self.lab.lockins["xx"].excitation_V
        self._settle_s = self.lab.lockins["xx"].settle_time(self.settle_tolerance)

    def measure(self) -> None:
        axis = FieldAxis(self.station)
        circuit = self.station.circuit
        fields = linspace_points(self.field_start, self.field_stop, self.field_step)
        t0 = time.monotonic()
        for i, b in enumerate(fields):
            if self.skip_point():
                continue
            reached = axis.move(self.lab, b, self.should_stop)
            if self.should_stop():
                return
            self.wait(self._settle_s)
            x_xx, _ = self.read_lockin_checked(self.lab.lockins["xx"])
            x_xy, _ = self.read_lockin_checked(self.lab.lockins["xy"])
            self.emit("results", {
                "Field (T)": reached, "X xx (V)": x_xx, "X xy (V)": x_xy,
                "R_xx (ohm)": float(circuit.hall_resistance_ohm(x_xx, self._amplitude)),
                "R_xy (ohm)": float(circuit.hall_resistance_ohm(x_xy, self._amplitude)),
                "Time (s)": time.monotonic() - t0,
            })
            self.emit("progress", 100.0 * (i + 1) / len(fields))
            if self.should_stop():
                return
