"""Hall sweep: step the magnetic field, read R_xx and R_xy with two lock-ins.

The Hall bar is current-biased from the xx lock-in's sine output through the station's Hall current resistor;
voltage preamplifiers (circuit.voltage_preamp_gain) sit before both lock-ins. Resistances come from the one
circuit description: R = X / (preamp gain * I) (:class:`~qpclab.procedures.readouts.HallReadout`). Both lock-ins
start at the ``sensitivity`` full scale and are read with the overload check of every qpclab readout.
"""

from __future__ import annotations

from pymeasure.experiment import FloatParameter

from ..instruments.station import Station
from .axes import FieldAxis
from .base import LockInProcedure, check_value
from .plan import Line, Plan, linspace_points
from .readouts import HallReadout

__all__ = ["HallSweep"]


class HallSweep(LockInProcedure):
    """Step the field and record R_xx and R_xy (station lock-ins labelled ``xx`` and ``xy``)."""

    COLUMN_FORMATS = {}
    field_start = FloatParameter("Field start", units="T", default=0.0)
    field_stop = FloatParameter("Field stop", units="T", default=6.0)
    field_step = FloatParameter("Field step", units="T", default=0.04, minimum=1e-6, maximum=20.0)
    time_constant = FloatParameter("Lock-in time constant", units="s", default=0.001, minimum=1e-5, maximum=3e4)
    excitation = FloatParameter("Lock-in sine output", units="V", default=1.0, minimum=0.004, maximum=5.0)

    DATA_COLUMNS = ["Field (T)", "X xx (V)", "X xy (V)", "R_xx (ohm)", "R_xy (ohm)", "Time (s)"]

    def check(self, station: Station) -> None:
        self.lockin_settings()
        missing = {"xx", "xy"} - set(station.lockins)
        if missing:
            raise ValueError(f"the station needs lock-ins labelled xx and xy (station.lockins); missing {sorted(missing)}")
        axis = FieldAxis(station)
        check_value(axis, "field_start", self.field_start)
        check_value(axis, "field_stop", self.field_stop)

    def plan(self, station: Station) -> Plan:
        fields = linspace_points(self.field_start, self.field_stop, self.field_step, what="field_step")
        return Plan(fast=FieldAxis(station), fast_column="Field (T)", lines=1, line=lambda k: Line((), fields),
                    readout=HallReadout(self.lockin_settings(), station.circuit), columns=self.DATA_COLUMNS)
