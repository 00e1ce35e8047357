"""What the simulated instruments read: the sample's response through the station's measurement circuit.

:class:`SampleResponse` is the part of :class:`~qpclab.instruments.sim.lab.SimulatedLab` that computes readings from
the lab's state (gate and bias outputs, field, temperature): the QPC's differential conductance and current at its
own bias (:mod:`qpclab.analysis.landauer`), the lock-in's input signal, the Hall bar's resistances, the noise
analysers' spectral density and the sources' load currents, all through the one
:class:`~qpclab.analysis.circuit.MeasurementCircuit`; a realistic sample's charge environment and its first
harmonics over the excitation cycle too. :func:`load_sample` builds the sample from a lab file.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any, Callable

import yaml

from ...analysis.circuit import MeasurementCircuit
from ...analysis.constants import K_B_EV
from ...analysis.realistic_qpc import RealisticQPC, cycle_points, harmonic_phasor

__all__ = ["SampleResponse", "load_sample"]


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


class SampleResponse:
    """Readings computed from the lab's state (a part of :class:`~qpclab.instruments.sim.lab.SimulatedLab`).

    The lab provides the state below and :meth:`changed`; the response is cached until the state changes
    (:meth:`forget_response`)."""

    lock: threading.RLock
    sample: Any
    sample_kind: str
    finite_excitation: bool
    circuit: MeasurementCircuit
    simulation: dict[str, Any]
    seed: int
    outputs: dict[str, float]
    field_T: float
    temperature_K: float
    loads_ohm: dict[str, float]
    input_spike: dict[str, float]
    now: Callable[[], float]
    add_ticker: Callable[[Callable[[float], None]], None]

    def changed(self, t: float | None = None) -> None:
        """The state changed (the lab tells its listeners)."""
        raise NotImplementedError

    def forget_response(self) -> None:
        """The state changed: the cached response no longer holds."""
        self._response_cache = None

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
    def start_environment(self) -> None:
        """A fresh charge environment (seeded) for samples that have one, advanced on the lab clock before reads."""
        sample = self.sample
        self.environment = sample.environment(self.seed, self.now()) if isinstance(sample, RealisticQPC) else None
        self._harmonic_memo: tuple | None = None
        if self.environment is not None:
            self.add_ticker(self._advance_environment)

    def _advance_environment(self, t: float) -> None:
        if self.environment.advance(t):
            self.changed()

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
