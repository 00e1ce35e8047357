"""Shot noise: the noise analyser's PSD and the conductance against DC bias (or gate).

:class:`ShotNoise` parks a gate at a fixed point and sweeps the DC bias; with ``Measure reference`` it first
sweeps the same biases with the QPC pinched off (``Reference`` = 1 rows): a pinched-off QPC makes no shot
noise, so those rows calibrate the amplifier background and gain. :class:`NoiseVsGate` keeps the bias fixed and
sweeps the gate (shot noise rises on the risers and vanishes on the plateaus).

Full spectra go to a companion file ``<data>.spectra.csv`` (see :class:`~qpclab.procedures.readouts.NoiseReadout`).
Gate and bias columns record the values the instruments hold; every source's error queue (refused values,
current compliance from a leaking gate) is read after each line's moves and after each sweep.
"""

from __future__ import annotations

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, Parameter

from ..instruments.station import Station
from .axes import GateAxis
from .base import LockInProcedure, check_value
from .plan import Line, Move, Plan, linspace_points
from .readouts import NoiseReadout

__all__ = ["ShotNoise", "NoiseVsGate"]


class _NoiseProcedure(LockInProcedure):
    # default: the SR785's whole baseband (0-102.4 kHz, 800 lines, 7.8 ms per record)
    center = FloatParameter("Noise band centre", units="Hz", default=5.12e4, minimum=0.0, maximum=3.0e9)
    span = FloatParameter("Noise band span", units="Hz", default=1.024e5, minimum=1.0, maximum=3.0e9)
    averages = IntegerParameter("Noise averages", default=20, minimum=1, maximum=100000)

    def check(self, station: Station) -> None:
        super().check(station)
        if station.noise_analyser is None:
            raise ValueError("the station has no noise analyser (station.noise_analyser)")
        if station.bias is None:
            raise ValueError("the station has no bias source (station.bias)")

    def readout(self, station: Station) -> NoiseReadout:
        return NoiseReadout(self.lockin_settings(), station.circuit, self.center, self.span, self.averages)


class ShotNoise(_NoiseProcedure):
    """Sweep the DC bias at a fixed gate point; record PSD and G (reference sweep with the QPC pinched off). The
    defaults sit in the middle of the packaged QPC's first riser (F = 1/2) at +-80 uV across it: several k_B T / e
    at 50 mK, well below hbar omega_x / e, where the constant-transmission Fano fit holds."""

    gate = Parameter("Gate", default="gate")
    gate_value = FloatParameter("Gate value", units="V", default=-1.2)
    reference_gate_value = FloatParameter("Pinch-off gate value (reference)", units="V", default=-1.6)
    measure_reference = BooleanParameter("Measure reference", default=True)
    bias_start = FloatParameter("Bias start", units="V", default=-0.08)
    bias_stop = FloatParameter("Bias stop", units="V", default=0.08)
    bias_step = FloatParameter("Bias step", units="V", default=0.02, minimum=1e-6, maximum=10.0)

    DATA_COLUMNS = ["Bias (V)", "PSD (V^2/Hz)", "X (V)", "Y (V)", "G (S)", "G/G0", "Reference", "Gate (V)",
                    "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        gate, bias = GateAxis(station, self.gate), GateAxis(station, "bias")
        check_value(gate, "gate_value", self.gate_value)
        if self.measure_reference:
            check_value(gate, "reference_gate_value", self.reference_gate_value)
        check_value(bias, "bias_start", self.bias_start)
        check_value(bias, "bias_stop", self.bias_stop)

    def passes(self) -> list[tuple[int, float]]:
        """(reference flag, gate value) of each bias sweep, in order."""
        out = [(1, self.reference_gate_value)] if self.measure_reference else []
        return out + [(0, self.gate_value)]

    def plan(self, station: Station) -> Plan:
        gate, bias = GateAxis(station, self.gate), GateAxis(station, "bias", column="Bias (V)")
        biases = linspace_points(self.bias_start, self.bias_stop, self.bias_step, what="bias_step")
        passes = self.passes()

        def line(k: int) -> Line:  # the gate changes at zero bias
            reference, g = passes[k]
            return Line((Move(bias, 0.0), Move(gate, g, "Gate (V)")), biases, {"Reference": reference})

        return Plan(fast=bias, fast_column="Bias (V)", lines=len(passes), line=line, readout=self.readout(station),
                    columns=self.DATA_COLUMNS)


class NoiseVsGate(_NoiseProcedure):
    """Sweep a gate at a fixed DC bias; record PSD and G (the defaults: the packaged QPC's first three risers,
    their middles on the grid, at 100 uV across the QPC)."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.24)
    stop = FloatParameter("Stop", units="V", default=-0.96)
    step = FloatParameter("Step", units="V", default=0.02, minimum=1e-6, maximum=1.0)
    bias_value = FloatParameter("Bias", units="V", default=0.1)
    averages = IntegerParameter("Noise averages", default=50, minimum=1, maximum=100000)  # F from each point alone

    DATA_COLUMNS = ["Gate (V)", "PSD (V^2/Hz)", "X (V)", "Y (V)", "G (S)", "G/G0", "Bias (V)", "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        gate = GateAxis(station, self.gate)
        check_value(gate, "start", self.start)
        check_value(gate, "stop", self.stop)
        check_value(GateAxis(station, "bias"), "bias_value", self.bias_value)

    def plan(self, station: Station) -> Plan:
        gate, bias = GateAxis(station, self.gate), GateAxis(station, "bias", column="Bias (V)")
        values = linspace_points(self.start, self.stop, self.step)
        return Plan(fast=gate, fast_column="Gate (V)", lines=1,
                    line=lambda k: Line((Move(bias, self.bias_value, "Bias (V)"),), values),
                    readout=self.readout(station), columns=self.DATA_COLUMNS, fast_first=True)
