"""The simulated lab: one physics model of the sample and the circuit, behind the simulated instruments.

The lab holds the state the instruments change (gate voltages, bias, field, temperature) and wires the instruments
to it: each instrument of the lab file's station gets its twin, each source channel its sample output. What the
instruments read is computed in :mod:`.sample_response` (:class:`~.sample_response.SampleResponse`); the clock,
the listeners and the tickers of drifting state are in :mod:`.dynamics` (:class:`~.dynamics.LabDynamics`).

Every output change is recorded with its time in :attr:`SimulatedLab.history` (gate safety tests read it),
every unknown command in :attr:`unknown_commands` (tests fail on any), every refused one in :attr:`refused`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path
from typing import Callable

from ...analysis.circuit import MeasurementCircuit
from ...analysis.hall import HallBar
from ...analysis.realistic_qpc import RealisticQPC
from ..registry import twin_class
from ..station import Station, parse_station, read_yaml
from .bus_timing import BusTiming, interface_of, parse_bus_timing
from .dynamics import LabDynamics
from .faults import FaultInjector, parse_faults
from .sample_response import SampleResponse, load_sample
from .twin import InstrumentTwin
from .wiring import TriggerWiring

log = logging.getLogger(__name__)

__all__ = ["SimulatedLab", "load_sample", "UnknownCommandError"]


class BoundedHistory(list):
    """A list of (time, value) that drops its oldest quarter when it grows past ``maxlen`` (amortised O(1))."""

    def __init__(self, maxlen: int):
        super().__init__()
        self.maxlen = maxlen
        self.dropped = 0  #: entries dropped so far

    def append(self, item) -> None:
        super().append(item)
        if len(self) > self.maxlen:
            n = len(self) - (3 * self.maxlen) // 4
            del self[:n]
            self.dropped += n


class UnknownCommandError(AssertionError):
    """Raised by :meth:`SimulatedLab.assert_no_unknown_commands`."""


class SimulatedLab(LabDynamics, SampleResponse):
    """The sample, the circuit, the instruments' shared state and the clock.

    Parameters are read from a lab file (pyvisa-sim sections + ``station`` + ``simulation``).
    ``clock`` returns seconds (``time.monotonic`` by default); tests may pass a manual clock.
    """

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.lock = threading.RLock()
        self.clock = clock
        data = read_yaml(self.path.read_text(encoding="utf-8"), self.path)
        self.data = data
        self.station: Station = parse_station(data, self.path)
        self.circuit: MeasurementCircuit = self.station.circuit
        sim = dict(data.get("simulation") or {})
        self.simulation = sim
        self._take_sample(load_sample(sim.get("sample", {})))
        self.seed = int(sim.get("seed", 0))
        self.loads_ohm: dict[str, float] = {k: float(v) for k, v in (sim.get("loads_ohm") or {}).items()}
        self._base_temperature_K = float(sim.get("electron_temperature_K", 0.05))
        #: what a VISA write or read costs per interface (zero unless the lab file sets simulation.bus_timing)
        self.bus_timing: dict[str, BusTiming] = parse_bus_timing(sim.get("bus_timing"), f"{self.path}: "
                                                                                       "simulation.bus_timing")
        #: how many (time, value) entries per output the history keeps (oldest dropped first)
        self.history_max = int(sim.get("history_max", 200_000))
        self._base_loads = dict(self.loads_ohm)
        # wiring: which (instrument, channel) drives which output of the sample
        self.wiring: dict[tuple[str, int | None], str] = {}
        for name, spec in self.station.outputs().items():
            self.wiring[(spec.instrument, spec.channel)] = name
        self._reset_state()
        self.twins: dict[str, InstrumentTwin] = {}  # by resource name
        self.twins_by_name: dict[str, InstrumentTwin] = {}
        for name, inst in self.station.instruments.items():
            try:
                cls = twin_class(inst.driver)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"{self.path}: no simulated twin for driver {inst.driver!r} ({name}): {exc}") from None
            twin = cls(self, name, {"options": inst.options})
            self.twins[inst.address] = twin
            self.twins_by_name[name] = twin
        #: trigger lines between instruments (``simulation.wiring``, and the station's ``triggers``)
        cables = sim.get("wiring")
        if self.station.triggers and (cables is None or isinstance(cables, list)):
            cables = list(cables or []) + [c.as_wiring for c in self.station.triggers]
        self.trigger_wiring = TriggerWiring(cables, self.twins_by_name, self.path)
        self.reset()

    def _take_sample(self, sample) -> None:
        self.sample = sample
        self.sample_kind = "hall_bar" if isinstance(sample, HallBar) else "qpc"
        #: the lock-in reads the harmonics of the current over the excitation cycle (a realistic sample's choice)
        self.finite_excitation = isinstance(sample, RealisticQPC) and sample.finite_excitation

    def use_sample(self, sample) -> None:
        """Put another sample behind the instruments (a device drawn in a test: no lab file per device) and start
        afresh (:meth:`reset`); the lab file's sample comes back only with a new lab."""
        with self.lock:
            self._take_sample(sample)
            self.reset()

    # ---- state ---------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a fresh state: outputs at 0 V, base temperature, no field, logs and histories empty."""
        with self.lock:
            self._reset_state()
            for twin in self.twins.values():
                twin.reset()

    def _reset_state(self) -> None:
        with self.lock:
            self.rng = random.Random(self.seed)
            self.outputs: dict[str, float] = {name: 0.0 for name in self.station.outputs()}
            self.field_T = 0.0
            self.temperature_K = self._base_temperature_K
            # bounded, so that a 1e6-point run does not grow the simulator without limit (tests read far fewer)
            self.history: dict[str, BoundedHistory] = {name: BoundedHistory(self.history_max) for name in self.outputs}
            self.unknown_commands: list[tuple[str, str, list[str]]] = []
            self.refused: list[tuple[str, str, str]] = []
            self.reset_dynamics()
            self.forget_response()
            self.input_spike: dict[str, float] = {}
            self.loads_ohm = dict(getattr(self, "_base_loads", self.loads_ohm))
            self.faults = FaultInjector(self, parse_faults(self.simulation.get("faults")))
            self.start_environment()

    def bus_timing_of(self, resource_name: str) -> BusTiming | None:
        """The bus timing of a resource's interface, None if its exchanges are instantaneous."""
        timing = self.bus_timing[interface_of(resource_name)]
        return None if timing.is_zero else timing

    def changed(self, t: float | None = None) -> None:
        """The sample's state changed at ``t`` (now if None): the response is computed afresh, listeners hear of it."""
        self.forget_response()
        self.notify(self.now() if t is None else t)

    # ---- what the instruments set --------------------------------------------------------------------------
    def output_name(self, instrument: str, channel: int | None = None) -> str | None:
        """Which sample output (gate name or 'bias') an instrument channel drives, or None if unconnected."""
        name = self.wiring.get((instrument, channel))
        if name is None and channel in (None, 1):
            name = self.wiring.get((instrument, None if channel == 1 else 1))
        return name

    def set_output(self, name: str, volts: float, t: float | None = None) -> None:
        """A source changed the voltage it applies to a gate or to the bias line (recorded with its time: now, or
        ``t``, the lab time at which a source's trigger model stepped)."""
        with self.lock:
            volts = float(volts)
            self.history[name].append((self.now() if t is None else t, volts))
            if self.environment is not None and name != "bias":
                self.environment.gate_moved(name, volts)
            if self.outputs.get(name) != volts:
                self.outputs[name] = volts
                self.changed(t)  # a trigger-model step at its own time: the lock-in filters switch input then

    def set_field(self, tesla: float, at: float | None = None) -> None:
        """The magnet's field (T); ``at``: the time it was reached, for a break point of a ramp published while
        the lab ticks (listeners hear of it even if the value did not change)."""
        with self.lock:
            if tesla != self.field_T:
                self.field_T = float(tesla)
                self.changed(at)
            elif at is not None:
                self.drift_point(at)

    def set_input_spike(self, lockin: str, volts: float) -> None:
        """Fault injection: add a pickup spike (V rms, in phase) to a lock-in's input (0 = none)."""
        with self.lock:
            if volts == 0.0:
                self.input_spike.pop(lockin, None)
            else:
                self.input_spike[lockin] = volts
            self.changed()

    def set_temperature(self, kelvin: float) -> None:
        with self.lock:
            if kelvin != self.temperature_K:
                self.temperature_K = float(kelvin)
                self.changed()

    # ---- bookkeeping ----------------------------------------------------------------------------------------
    def log_unknown(self, instrument: str, header: str, args: list[str]) -> None:
        log.warning("simulated %s: unknown command %r args %r", instrument, header, args)
        self.unknown_commands.append((instrument, header, list(args)))

    def log_refused(self, instrument: str, message: str, exc: Exception) -> None:
        log.info("simulated %s refused %r: %s", instrument, message, exc)
        self.refused.append((instrument, message, str(exc)))

    def assert_no_unknown_commands(self) -> None:
        if self.unknown_commands:
            raise UnknownCommandError(f"unknown commands reached the simulated lab: {self.unknown_commands}")

    def gauss(self, sigma: float) -> float:
        return self.rng.gauss(0.0, sigma) if sigma > 0 else 0.0
