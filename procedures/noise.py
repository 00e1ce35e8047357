"""Shot noise: the noise analyser's PSD and the conductance against DC bias (or gate).

:class:`ShotNoise` parks a gate at a fixed point and sweeps the DC bias; with ``Measure reference`` it first
sweeps the same biases with the QPC pinched off (``Reference`` = 1 rows): a pinched-off QPC makes no shot
noise, so those rows calibrate the amplifier background and gain. :class:`NoiseVsGate` keeps the bias fixed and
sweeps the gate (shot noise rises on the risers and vanishes on the plateaus).

Full spectra, when the analyser returns them, go to a companion file ``<data>.spectra.csv`` (long format:
``Point, Reference, Frequency (Hz), PSD (V^2/Hz)``), written and flushed point by point.

The swept output is moved inside its ``sweeping()`` context (read back and error check at the start, every
second and at the end, as the staircase does); the parked outputs are checked once in place (:meth:`check_sources`)
before any point is taken and again after the sweep: a gate that leaks drives its source into compliance, cannot
hold its voltage, and every point taken there would be wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, Parameter

from ..instruments.station import Station
from .axes import GateAxis
from .base import LockInProcedure, linspace_points

__all__ = ["ShotNoise", "NoiseVsGate"]


class _NoiseProcedure(LockInProcedure):
    center = FloatParameter("Noise band centre", units="Hz", default=5.0e4, minimum=0.0, maximum=3.0e9)
    span = FloatParameter("Noise band span", units="Hz", default=1.28e4, minimum=1.0, maximum=3.0e9)
    averages = IntegerParameter("Noise averages", default=100, minimum=1, maximum=100000)

    data_path: str | None = None  # set by the runner: spectra go beside the data

    def check(self, station: Station) -> None:
        super().check(station)
        if station.noise_analyser is None:
            raise ValueError("the station has no noise analyser (station.noise_analyser)")
        if station.bias is None:
            raise ValueError("the station has no bias source (station.bias)")

    def startup(self):
        super().startup()
        self.lab.noise_analyser.configure(self.center, self.span, self.averages)
        self._spectra = None
        if self.data_path:
            path = Path(self.data_path).with_suffix(".spectra.csv")
            self._spectra = open(path, "a", encoding="utf-8")
            if path.stat().st_size == 0:
                self._spectra.write("Point,Reference,Frequency (Hz),PSD (V^2/Hz)\n")
                self._spectra.flush()
        self._point = 0

    def shutdown(self):
        try:
            super().shutdown()
        finally:
            if getattr(self, "_spectra", None) is not None:
                self._spectra.close()

    def check_sources(self) -> None:
        """Ask every gate and bias source for refused values and current compliance (InstrumentError naming the
        source: the run stops, gates go safe)."""
        for out in self.lab.outputs():
            check = getattr(out.source, "check_errors", None)
            if check is not None:
                check()

    def noise_point(self, reference: int) -> dict:
        """G from the lock-in, then the PSD (a fresh average); the spectrum to the companion file."""
        row = self.conductance_point()
        na = self.lab.noise_analyser
        row["PSD (V^2/Hz)"] = na.measure_psd()
        if self._spectra is not None:
            try:
                freqs, psd = na.measure_spectrum()
            except NotImplementedError:
                freqs, psd = [], []
            for f, p in zip(freqs, psd):
                self._spectra.write(f"{self._point},{reference},{f!r},{p!r}\n")
            self._spectra.flush()
        self._point += 1
        return row


class ShotNoise(_NoiseProcedure):
    """Sweep the DC bias at a fixed gate point; record PSD and G (reference sweep with the QPC pinched off)."""

    gate = Parameter("Gate", default="gate")
    gate_value = FloatParameter("Gate value", units="V", default=-1.1)
    reference_gate_value = FloatParameter("Pinch-off gate value (reference)", units="V", default=-1.6)
    measure_reference = BooleanParameter("Measure reference", default=True)
    bias_start = FloatParameter("Bias start", units="V", default=-1.0)
    bias_stop = FloatParameter("Bias stop", units="V", default=1.0)
    bias_step = FloatParameter("Bias step", units="V", default=0.1, minimum=1e-6, maximum=10.0)

    DATA_COLUMNS = ["Bias (V)", "PSD (V^2/Hz)", "X (V)", "Y (V)", "G (S)", "G/G0", "Reference", "Gate (V)",
                    "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        gate = GateAxis(station, self.gate)
        gate.check(self.gate_value)
        if self.measure_reference:
            gate.check(self.reference_gate_value)
        bias = GateAxis(station, "bias")
        bias.check(self.bias_start)
        bias.check(self.bias_stop)

    def passes(self) -> list[tuple[int, float]]:
        """(reference flag, gate value) of each bias sweep, in order."""
        out = [(1, self.reference_gate_value)] if self.measure_reference else []
        return out + [(0, self.gate_value)]

    def planned_moves(self):
        biases = linspace_points(self.bias_start, self.bias_stop, self.bias_step)
        return [(self.gate, [g for _, g in self.passes()]), ("bias", list(biases) * len(self.passes()) + [0.0])]

    def measure(self) -> None:
        gate = GateAxis(self.station, self.gate)
        bias = GateAxis(self.station, "bias", column="Bias (V)")
        biases = linspace_points(self.bias_start, self.bias_stop, self.bias_step)
        total = len(biases) * len(self.passes())
        done = 0
        t0 = time.monotonic()
        for reference, g in self.passes():
            bias.move(self.lab, 0.0, self.should_stop)  # change the gate at zero bias
            gate.move(self.lab, g, self.should_stop)
            self.check_sources()
            with bias.sweeping(self.lab):
                for b in biases:
                    if self.skip_point():
                        done += 1
                        continue
                    bias.move(self.lab, b, self.should_stop)
                    row = {"Bias (V)": b, "Reference": reference, "Gate (V)": g}
                    row.update(self.noise_point(reference))
                    row["Time (s)"] = time.monotonic() - t0
                    self.emit("results", row)
                    done += 1
                    self.emit("progress", 100.0 * done / total)
                    if self.should_stop():
                        return
            self.check_sources()


class NoiseVsGate(_NoiseProcedure):
    """Sweep a gate at a fixed DC bias; record PSD and G."""

    gate = Parameter("Gate", default="gate")
    start = FloatParameter("Start", units="V", default=-1.3)
    stop = FloatParameter("Stop", units="V", default=-0.9)
    step = FloatParameter("Step", units="V", default=0.005, minimum=1e-6, maximum=1.0)
    bias_value = FloatParameter("Bias", units="V", default=1.0)

    DATA_COLUMNS = ["Gate (V)", "PSD (V^2/Hz)", "X (V)", "Y (V)", "G (S)", "G/G0", "Bias (V)", "Time (s)"]

    def check(self, station: Station) -> None:
        super().check(station)
        gate = GateAxis(station, self.gate)
        gate.check(self.start)
        gate.check(self.stop)
        GateAxis(station, "bias").check(self.bias_value)

    def planned_moves(self):
        return [(self.gate, linspace_points(self.start, self.stop, self.step)), ("bias", [self.bias_value])]

    def measure(self) -> None:
        gate = GateAxis(self.station, self.gate)
        bias = GateAxis(self.station, "bias", column="Bias (V)")
        values = linspace_points(self.start, self.stop, self.step)
        gate.move(self.lab, values[0], self.should_stop)
        bias.move(self.lab, self.bias_value, self.should_stop)
        self.check_sources()
        t0 = time.monotonic()
        with gate.sweeping(self.lab):
            for i, v in enumerate(values):
                if self.skip_point():
                    continue
                gate.move(self.lab, v, self.should_stop)
                row = {"Gate (V)": v, "Bias (V)": self.bias_value}
                row.update(self.noise_point(0))
                row["Time (s)"] = time.monotonic() - t0
                self.emit("results", row)
                self.emit("progress", 100.0 * (i + 1) / len(values))
                if self.should_stop():
                    return
        self.check_sources()
