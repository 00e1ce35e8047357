"""The simulated lab: one physics model of the sample and the circuit, behind the simulated instruments.

The lab holds the state the instruments change (gate voltages, bias, field, temperature) and answers what the
instruments read (the lock-in's input signal, the sources' currents), computed from
:mod:`qpclab.analysis.landauer` and the one :class:`~qpclab.analysis.circuit.MeasurementCircuit` of the station.

Every output change is recorded with its time in :attr:`SimulatedLab.history` (gate safety tests read it),
every unknown command in :attr:`unknown_commands` (tests fail on any), every refused one in :attr:`refused`.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from ...analysis.circuit import MeasurementCircuit
from ...analysis.constants import K_B_EV
from ...analysis.realistic_qpc import RealisticQPC, cycle_points, harmonic_phasor
from ..station import Station, parse_station, read_yaml
from ..registry import twin_class
from .bus_timing import BusTiming, interface_of, parse_bus_timing, spend
from .faults import FaultInjector, parse_faults
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


def load_sample(spec: dict[str, Any]):
    """Build the sample model from a lab file's ``simulation.sample`` mapping (preset name plus overrides)."""
    spec = dict(spec or {})
    params: dict[str, Any] = {}
    preset = spec.pop("preset", None)
    if preset is not None:
        from ... import sim_configs

        presets_file = Path(sim_configs.__file__).resolve().parent / "samples.yaml"
        presets = yaml.safe_load(presets_file.read_text(encoding="utf-8"))
        if preset not in presets:
            raise ValueError(f"simulation.sample.preset: unknown preset {preset!r}; known: {sorted(presets)}")
        params.update(presets[preset])
    params.update(spec)
    kind = params.pop("kind", "qpc")
    if kind == "qpc":
        from ...analysis.landauer import SaddlePointQPC as cls
    elif kind == "realistic_qpc":
        from ...analysis.realistic_qpc import RealisticQPC as cls
    elif kind == "hall_bar":
        from ...analysis.hall import HallBar as cls
    else:
        raise ValueError(f"simulation.sample.kind: unknown kind {kind!r} (qpc, realistic_qpc or hall_bar)")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"simulation.sample: {exc}") from None


class SimulatedLab:
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
        self.sample = load_sample(sim.get("sample", {}))
        self.sample_kind = "hall_bar" if type(self.sample).__name__ == "HallBar" else "qpc"
        #: the lock-in reads the harmonics of the current over the excitation cycle (a realistic sample's choice)
        self.finite_excitation = isinstance(self.sample, RealisticQPC) and self.sample.finite_excitation
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
        #: trigger lines between instruments (``simulation.wiring``)
        self.trigger_wiring = TriggerWiring(sim.get("wiring"), self.twins_by_name, self.path)
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
            self._listeners: list[Callable[[float], None]] = []
            self._tickers: list[Callable[[float], None]] = []
            self._response_cache: tuple | None = None
            self.input_spike: dict[str, float] = {}
            self.loads_ohm = dict(getattr(self, "_base_loads", self.loads_ohm))
            self.faults = FaultInjector(self, parse_faults(self.simulation.get("faults")))
            self._start_environment()

    def now(self) -> float:
        return self.clock()

    def bus_timing_of(self, resource_name: str) -> BusTiming | None:
        """The bus timing of a resource's interface, None if its exchanges are instantaneous."""
        timing = self.bus_timing[interface_of(resource_name)]
        return None if timing.is_zero else timing

    def spend(self, seconds: float) -> None:
        """Let time pass on the lab clock (bus transfers): a real wait on the real clock, an advance of a manual one.
        Never called with the lab's lock held: other sessions go on meanwhile."""
        spend(self.clock, seconds)

    def subscribe(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(time)`` whenever the sample's response may have changed (lock-in filters)."""
        if callback not in self._listeners:
            self._listeners.append(callback)

    def add_ticker(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(time)`` before every reading: for state that evolves by itself (a magnet ramping,
        the mixing chamber relaxing to its set point). It updates the lab through set_field/set_temperature."""
        if callback not in self._tickers:
            self._tickers.append(callback)

    # ---- continuous dynamics ---------------------------------------------------------------------------------
    #: True while the tickers bring drifting state (field, temperature) up to date: a change published then is
    #: the end of a linear stretch since the previous publication, not a step (lock-in filters integrate it so)
    drifting = False

    def tick(self) -> None:
        """Bring time-dependent state up to now; instruments call it before they read. A ticker publishes its
        state at its own break points (a ramp reaching a segment edge or its target, at the time it happened;
        see :meth:`set_field`) and at the end, so between two publications the state moves linearly."""
        if self._tickers:
            t = self.now()
            self.drifting = True
            try:
                for cb in self._tickers:
                    cb(t)
            finally:
                self.drifting = False

    def drift_point(self, t: float) -> None:
        """A drift starts at time ``t`` from the present state (a magnet ramp begins): listeners anchor the
        linear stretches that follow here."""
        for cb in self._listeners:
            cb(t)

    def _changed(self, t: float | None = None) -> None:
        self._response_cache = None
        t = self.now() if t is None else t
        for cb in self._listeners:
            cb(t)

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
                self._changed(t)  # a trigger-model step at its own time: the lock-in filters switch input then

    def set_field(self, tesla: float, at: float | None = None) -> None:
        """The magnet's field (T); ``at``: the time it was reached, for a break point of a ramp published while
        the lab ticks (listeners hear of it even if the value did not change)."""
        with self.lock:
            if tesla != self.field_T:
                self.field_T = float(tesla)
                self._changed(at)
            elif at is not None:
                self.drift_point(at)

    def set_input_spike(self, lockin: str, volts: float) -> None:
        """Fault injection: add a pickup spike (V rms, in phase) to a lock-in's input (0 = none)."""
        with self.lock:
            if volts == 0.0:
                self.input_spike.pop(lockin, None)
            else:
                self.input_spike[lockin] = volts
            self._changed()

    def set_temperature(self, kelvin: float) -> None:
        with self.lock:
            if kelvin != self.temperature_K:
                self.temperature_K = float(kelvin)
                self._changed()

    # ---- what the instruments read -------------------------------------------------------------------------
    def gate_voltages(self) -> dict[str, float]:
        return {k: v for k, v in self.outputs.items() if k != "bias"}

    def bias_at_sample_V(self) -> float:
        """DC bias after the divider, across R_series + QPC (V)."""
        return self.circuit.sample_bias_V(self.outputs.get("bias", 0.0))

    def qpc_response(self) -> tuple[float, float]:
        """(differential conductance dI/dV in S, DC current in A) of the QPC at the present state.

        The DC bias divides between R_series and the QPC; it is solved self-consistently (Newton on
        V_qpc + R_s I(V_qpc) = V_applied), so the lock-in sees the QPC's dI/dV at its own bias.
        """
        with self.lock:
            if self._response_cache is not None:
                return self._response_cache
            s = self.sample
            gates = self.sample_gates()
            T = self.temperature_K
            B = self.field_T
            v_app = self.bias_at_sample_V()
            rs = self.circuit.series_resistance_ohm
            if v_app == 0.0:
                g = float(s.conductance(gates, T, B))
                result = (g, 0.0)
            else:
                g = float(s.differential_conductance(gates, 0.0, T, B))
                v = v_app / (1.0 + g * rs)
                for _ in range(8):
                    i = float(s.current(gates, v, T, B))
                    g = float(s.differential_conductance(gates, v, T, B))
                    f = v + rs * i - v_app
                    dv = f / (1.0 + rs * g)
                    v -= dv
                    if abs(dv) <= 1e-9 * max(abs(v_app), 1e-12):
                        break
                i = float(s.current(gates, v, T, B))
                g = float(s.differential_conductance(gates, v, T, B))
                result = (g, i)
            self._response_cache = result
            return result

    def lockin_input_V(self, amplitude_V: float, harmonic: int = 1, lockin: str | None = None) -> complex:
        """Voltage at a lock-in's input at its reference harmonic, as the phasor X + iY (V rms; a float when it is in
        phase) for its own sine-output amplitude (V rms).

        QPC sample: the current through the QPC (driven by this sine output through the excitation divider) at
        the current preamp. Hall bar: the lock-in named in ``simulation.lockin_inputs`` reads ``xx`` or ``xy``
        of the current set by its sine output through the Hall current resistor, behind the voltage preamp.
        The sample is resistive at lock-in frequencies, so the signal is in phase with the reference: dI/dV times
        the excitation, nothing at higher harmonics; a sample with ``finite_excitation`` gives the harmonic of the
        current over the excitation cycle instead (:meth:`harmonic_signal_V`).
        """
        if self.finite_excitation:
            signal = self.harmonic_signal_V(amplitude_V, harmonic)
            return signal + self.input_spike.get(lockin, 0.0) if harmonic == 1 and self.input_spike else signal
        if harmonic != 1:
            return 0.0
        if self.sample_kind == "hall_bar":
            which = (self.simulation.get("lockin_inputs") or {}).get(lockin, "xx")
            r_xx, r_xy = self.hall_resistances()
            r = r_xx if which == "xx" else r_xy
            signal = self.circuit.voltage_preamp_gain * self.circuit.hall_current_A(amplitude_V) * r
        else:
            g, _ = self.qpc_response()
            signal = self.circuit.lockin_signal_V(g, amplitude_V)
        if self.input_spike:  # an injected overload: a pickup spike at the reference frequency
            signal += self.input_spike.get(lockin, 0.0)
        return signal

    # ---- the realistic sample's hook: its charge environment and the excitation cycle ----------------------------
    def _start_environment(self) -> None:
        """A fresh charge environment (seeded) for samples that have one, advanced on the lab clock before reads."""
        sample = self.sample
        self.environment = sample.environment(self.seed, self.now()) if isinstance(sample, RealisticQPC) else None
        self._harmonic_memo: tuple | None = None
        if self.environment is not None:
            self.add_ticker(self._advance_environment)

    def _advance_environment(self, t: float) -> None:
        if self.environment.advance(t):
            self._changed()

    def sample_gates(self) -> dict[str, float]:
        """The gate voltages the sample feels (V): the outputs, through the charge environment if it has one."""
        gates = self.gate_voltages()
        return gates if self.environment is None else self.environment.effective_gates(gates)

    def harmonic_signal_V(self, amplitude_V: float, harmonic: int) -> complex:
        """Lock-in input phasor (V rms) at ``harmonic`` for a sine-output amplitude (V rms): the harmonic of the
        current through R_series + QPC over the excitation cycle, at the DC bias, behind the current preamp."""
        with self.lock:
            gates = self.sample_gates()
            T, B = self.temperature_K, self.field_T
            v_dc = self.bias_at_sample_V()
            v_ac = self.circuit.sample_excitation_V(amplitude_V)
            key = (tuple(gates.items()), T, B, v_dc, v_ac, harmonic, self.circuit)
            if self._harmonic_memo is not None and self._harmonic_memo[0] == key:
                return self._harmonic_memo[1]
            s, rs = self.sample, self.circuit.series_resistance_ohm
            scale = max(K_B_EV * T, s.hw_x_eV / (2.0 * math.pi))  # the narrowest structure of I(V), V
            n = cycle_points(v_ac, scale)
            z = harmonic_phasor(lambda v: s.bias_with_series(gates, v, T, B, rs)[1], v_dc, v_ac, harmonic, n)
            out = self.circuit.preamp_gain_V_per_A * z
            self._harmonic_memo = (key, out)
            return out

    def hall_resistances(self) -> tuple[float, float]:
        """(R_xx, R_xy) in ohm of the Hall-bar sample at the present field and temperature."""
        with self.lock:
            if self._response_cache is None:
                r_xx, r_xy = self.sample.resistances(self.field_T, self.temperature_K)
                self._response_cache = (float(r_xx), float(r_xy))
            return self._response_cache

    def noise_psd_V2_per_Hz(self) -> float:
        """Voltage noise PSD (V^2/Hz) at the noise amplifier output: the QPC's shot and thermal noise at its own
        bias (Blanter-Buttiker, energy dependent), Johnson noise of the circuit, amplifier noise, times gain^2."""
        with self.lock:
            g, _ = self.qpc_response()
            v_qpc = self.qpc_bias_V()
            s_i = float(self.sample.noise(self.sample_gates(), v_qpc, self.temperature_K, self.field_T))
            return self.circuit.noise_voltage_psd(s_i, g, self.temperature_K)

    def qpc_bias_V(self) -> float:
        """DC voltage across the QPC itself (V): the applied bias less the drop on R_series."""
        _, i = self.qpc_response()
        return self.bias_at_sample_V() - i * self.circuit.series_resistance_ohm

    def lockin_noise_V_per_rtHz(self) -> float:
        """Voltage noise density at the lock-in input: preamp current noise times gain, plus input noise."""
        c = self.circuit
        return math.hypot(c.preamp_input_noise_A_per_rtHz * c.preamp_gain_V_per_A, c.lockin_input_noise_V_per_rtHz)

    def source_current_A(self, instrument: str, channel: int | None, volts: float) -> float:
        """The current a source measures at its output: its load (gate leakage, bias divider)."""
        load = self.loads_ohm.get(instrument, 1e12)
        return volts / load

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
