"""What is read at each point of a plan, and how it is converted: the conductance, the noise, the Hall resistances.

A :class:`Readout` sets its instruments up once (:meth:`Readout.setup`, after the station is connected), says how
long the signal needs to settle after a move (from the lock-in's time constant and filter slope, read back from the
instrument), and reads one point (:meth:`Readout.read`) into the row's columns. The conversion from lock-in volts
to conductance or resistance is the station's circuit's (:class:`~qpclab.analysis.circuit.MeasurementCircuit`),
the one description of the circuit that the simulator measures through too.

Every lock-in reading is checked for overload (X, Y and the overload status in one message): on overload the
sensitivity goes one step coarser, the filter settles again (to 1e-6: it remembers an unknown, large signal) and
the point is read again, up to 6 times; an overload that auto-ranging cannot cure stops the run (or suspends it:
the station's ``suspenders.overload``). Each change of range is reported to the run's file as a comment line
(``note``).
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..analysis.circuit import MeasurementCircuit
from ..analysis.constants import G0
from ..instruments.connect import Lab
from ..instruments.lockin_filter import order_for_slope, settle_time
from ..instruments.lockins import SRSLockIn
from ..instruments.roles import InstrumentError

log = logging.getLogger(__name__)

__all__ = ["Readout", "LockInReadout", "LockInSettings", "ConductanceReadout", "NoiseReadout", "HallReadout", "Wait", "Note",
           "UncuredOverload"]

#: ``wait(seconds)``: wait, waking early (and raising) if the run is stopped
Wait = Callable[[float], None]
#: ``note(name, text)``: a comment line ``#<name>: <text>`` in the run's file (auto-ranging, ...)
Note = Callable[[str, str], None]

OVERLOAD_RETRIES = 6
SLOPES_DB = (6, 12, 18, 24)


@dataclass(frozen=True)
class LockInSettings:
    """How a lock-in is set up for a run: time constant (s), filter slope (dB/oct), sine output (V rms), full scale
    (V), and how closely the output must have settled before a reading (fraction of the step)."""

    time_constant: float
    filter_slope: int
    excitation: float
    sensitivity: float
    settle_tolerance: float

    def __post_init__(self):
        if self.filter_slope not in SLOPES_DB:
            raise ValueError(f"filter slope {self.filter_slope} dB/oct is not one of 6, 12, 18, 24")

    def apply(self, li: SRSLockIn, excitation: bool = True) -> None:
        li.time_constant = self.time_constant
        li.filter_slope = self.filter_slope
        if excitation:
            li.excitation_V = self.excitation
        li.sensitivity = self.sensitivity  # a known full scale, not whatever the last user left

    def planned_settle_s(self) -> float:
        """Settling time from the requested settings (the dry run; the instrument may round the time constant)."""
        return settle_time(self.time_constant, order_for_slope(self.filter_slope), self.settle_tolerance)


class UncuredOverload(InstrumentError):
    """An overload that auto-ranging cannot cure: ends the run, or suspends it (station ``suspenders.overload``)."""


def read_checked(li: SRSLockIn, wait: Wait, note: Note) -> tuple[float, float]:
    """X and Y (V rms) of a settled lock-in, with the overload check and auto-range of the module docstring."""
    x, y, overloaded = li.read_xy_checked()
    tries = 0
    while overloaded:
        if tries >= OVERLOAD_RETRIES or not li.sensitivity_up():
            raise UncuredOverload(f"{li.name}: overload that auto-ranging cannot cure (X = {x:g} V, Y = {y:g} V)")
        note("Auto-range", f"{li.name} overloaded (X = {x:g} V, Y = {y:g} V); sensitivity now {li.sensitivity:g} V")
        wait(li.settle_time(1e-6))  # the filter remembers an unknown, large signal: wait until it forgot it
        x, y, overloaded = li.read_xy_checked()
        tries += 1
    return x, y


class Readout(abc.ABC):
    """What one point reads; ``columns`` are the row columns it fills."""

    columns: tuple[str, ...] = ()

    @abc.abstractmethod
    def setup(self, lab: Lab, data_path: Path | None) -> None:
        """Configure the instruments (once, after connecting); ``data_path`` is the run's file (companions go
        beside it)."""

    @abc.abstractmethod
    def settle_s(self) -> float:
        """Seconds to wait after a move before reading (after :meth:`setup`: from the instruments' read-back)."""

    @abc.abstractmethod
    def planned_settle_s(self) -> float:
        """The same from the requested settings, without instruments (the dry run)."""

    def planned_read_s(self) -> float:
        """Seconds a reading takes beyond the settling (noise averages), for the dry run."""
        return 0.0

    @abc.abstractmethod
    def read(self, lab: Lab, row: dict, point: int, wait: Wait, note: Note) -> None:
        """Read plan point ``point`` (settled) into ``row``."""

    def close(self) -> None:
        """Release what :meth:`setup` opened (files); called on every exit."""


class LockInReadout(Readout):
    """A readout through lock-ins set up with ``settings``, converted by the station's circuit: the sine output's
    amplitude and the settling come from the instruments' read-back after :meth:`setup`."""

    def __init__(self, settings: LockInSettings, circuit: MeasurementCircuit):
        self.settings, self.circuit = settings, circuit
        self._amplitude = settings.excitation
        self._settle = settings.planned_settle_s()

    def settle_s(self) -> float:
        return self._settle

    def planned_settle_s(self) -> float:
        return self.settings.planned_settle_s()


class ConductanceReadout(LockInReadout):
    """The station's main lock-in: X, Y and the conductance through the circuit, in S and in G0."""

    columns = ("X (V)", "Y (V)", "G (S)", "G/G0")

    def setup(self, lab: Lab, data_path: Path | None) -> None:
        li = lab.lockin
        self.settings.apply(li)
        self._amplitude = li.excitation_V  # read back: what the instrument really applies
        self._settle = li.settle_time(self.settings.settle_tolerance)

    def read(self, lab: Lab, row: dict, point: int, wait: Wait, note: Note) -> None:
        x, y = read_checked(lab.lockin, wait, note)
        self.convert(row, x, y)

    def convert(self, row: dict, x: float, y: float) -> None:
        """X and Y (V rms, read at a point or from a buffer) and the conductance through the circuit into ``row``."""
        g = self.circuit.conductance_S(x, self._amplitude)
        row["X (V)"], row["Y (V)"], row["G (S)"], row["G/G0"] = x, y, g, g / G0


class NoiseReadout(ConductanceReadout):
    """The conductance, then the noise analyser's PSD (a fresh average) at the same point.

    Full spectra go to a companion file ``<data>.spectra.csv`` (long format: ``Point, Reference, Frequency (Hz),
    PSD (V^2/Hz)``), written point by point; ``Point`` is the plan point, so a resumed run continues it."""

    columns = ConductanceReadout.columns + ("PSD (V^2/Hz)",)
    SPECTRA_HEADER = "Point,Reference,Frequency (Hz),PSD (V^2/Hz)\n"

    def __init__(self, settings: LockInSettings, circuit: MeasurementCircuit, center_Hz: float, span_Hz: float,
                 averages: int):
        super().__init__(settings, circuit)
        self.center_Hz, self.span_Hz, self.averages = center_Hz, span_Hz, averages
        self._spectra = None

    def setup(self, lab: Lab, data_path: Path | None) -> None:
        super().setup(lab, data_path)
        lab.noise_analyser.configure(self.center_Hz, self.span_Hz, self.averages)
        if data_path is not None:
            path = data_path.with_suffix(".spectra.csv")
            self._spectra = open(path, "a", encoding="utf-8")
            if path.stat().st_size == 0:
                self._spectra.write(self.SPECTRA_HEADER)
                self._spectra.flush()

    def planned_read_s(self) -> float:
        # an FFT analyser's record is (lines / span); 800 lines is the SR785's and a common default
        return self.averages * 800.0 / self.span_Hz

    def read(self, lab: Lab, row: dict, point: int, wait: Wait, note: Note) -> None:
        super().read(lab, row, point, wait, note)
        na = lab.noise_analyser
        row["PSD (V^2/Hz)"] = na.measure_psd()
        if self._spectra is not None:
            freqs, psd = na.measure_spectrum()
            reference = row.get("Reference", 0)
            self._spectra.write("".join(f"{point},{reference},{f!r},{p!r}\n" for f, p in zip(freqs, psd)))
            self._spectra.flush()

    def close(self) -> None:
        if self._spectra is not None:
            self._spectra.close()
            self._spectra = None


class HallReadout(LockInReadout):
    """R_xx and R_xy from the lock-ins labelled ``xx`` and ``xy``; the Hall bar is current-biased from the xx
    lock-in's sine output through the circuit's Hall current resistor, voltage preamps before both lock-ins."""

    columns = ("X xx (V)", "X xy (V)", "R_xx (ohm)", "R_xy (ohm)")

    def setup(self, lab: Lab, data_path: Path | None) -> None:
        for label in ("xx", "xy"):
            self.settings.apply(lab.lockins[label], excitation=(label == "xx"))
        self._amplitude = lab.lockins["xx"].excitation_V
        self._settle = max(lab.lockins[label].settle_time(self.settings.settle_tolerance) for label in ("xx", "xy"))

    def read(self, lab: Lab, row: dict, point: int, wait: Wait, note: Note) -> None:
        x_xx, _ = read_checked(lab.lockins["xx"], wait, note)
        x_xy, _ = read_checked(lab.lockins["xy"], wait, note)
        row["X xx (V)"], row["X xy (V)"] = x_xx, x_xy
        row["R_xx (ohm)"] = float(self.circuit.hall_resistance_ohm(x_xx, self._amplitude))
        row["R_xy (ohm)"] = float(self.circuit.hall_resistance_ohm(x_xy, self._amplitude))
