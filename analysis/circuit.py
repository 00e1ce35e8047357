"""The measurement circuit: the one description of how the sample is wired to the instruments.

The simulator uses it forwards (sample conductance -> lock-in volts), the procedures and the analysis use it
backwards (lock-in volts -> sample conductance). Both directions live here, next to each other, so they cannot
disagree.

Wiring (two-terminal, lock-in measures the AC current through a current preamplifier)::

    lock-in SINE OUT (V_osc, rms) --[ divider a_ac ]--+                       +-- preamp (gain A, V/A) --> lock-in A
    bias source (V_dc)            --[ divider a_dc ]--+-- R_series -- QPC -- -+

The sample sees the excitation ``a_ac * V_osc`` and the DC bias ``a_dc * V_dc`` in series with ``R_series``
(leads, contacts, line filters). The preamp converts the current to ``A * I`` at the lock-in input.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from .constants import G0, K_B

__all__ = ["MeasurementCircuit"]


@dataclass(frozen=True)
class MeasurementCircuit:
    """Parameters of the measurement circuit (SI units).

    Attributes:
        excitation_divider: V at the sample per V at the lock-in sine output (e.g. 1e-4: 0.1 V -> 10 uV).
        bias_divider: V at the sample per V at the DC bias source (e.g. 1e-3).
        series_resistance_ohm: resistance in series with the QPC (leads, ohmic contacts, filters), ohm.
        preamp_gain_V_per_A: current-preamplifier transimpedance, V/A (e.g. 1e8 for 1e-8 A/V sensitivity).
        preamp_input_noise_A_per_rtHz: the preamp's input current noise, A/sqrt(Hz).
        lockin_input_noise_V_per_rtHz: voltage noise at the lock-in input, V/sqrt(Hz).
        noise_amplifier_gain: voltage gain of the noise-measurement amplifier chain (V/V).
        noise_amplifier_input_noise_V_per_rtHz: the noise amplifier's input voltage noise, V/sqrt(Hz).
        noise_load_resistance_ohm: the cold load the noise amplifier measures across (in parallel with the
            series QPC + R_series branch), ohm.
        hall_current_resistor_ohm: Hall-bar measurements: the resistor that turns the lock-in sine output into
            an AC current I = V_osc / R, ohm.
        voltage_preamp_gain: Hall-bar measurements: gain of the voltage preamplifiers before the lock-ins (V/V).
    """

    excitation_divider: float = 1.0e-4
    bias_divider: float = 1.0e-3
    series_resistance_ohm: float = 1500.0
    preamp_gain_V_per_A: float = 1.0e8
    preamp_input_noise_A_per_rtHz: float = 5.0e-15
    lockin_input_noise_V_per_rtHz: float = 6.0e-9
    noise_amplifier_gain: float = 1000.0
    noise_amplifier_input_noise_V_per_rtHz: float = 1.0e-9
    noise_load_resistance_ohm: float = 5000.0
    hall_current_resistor_ohm: float = 10.0e6
    voltage_preamp_gain: float = 100.0

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, where: str = "circuit") -> "MeasurementCircuit":
        """Build from a station-file mapping; unknown keys, non-numbers, NaN and non-positive values are refused."""
        data = dict(data or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(names)}")
        values = {}
        for key, raw in data.items():
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{where}.{key}: {raw!r} is not a number (SI units, e.g. 1e-4)") from None
            if not math.isfinite(value):
                raise ValueError(f"{where}.{key}: {raw!r} is not finite")
            if value < 0 or (value == 0 and key not in ("series_resistance_ohm",) and "noise" not in key):
                raise ValueError(f"{where}.{key}: {raw!r} must be positive")
            values[key] = value
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    # ---- forwards: what the instruments see -------------------------------------------------------------
    def sample_excitation_V(self, lockin_amplitude_V: float) -> float:
        """AC excitation at the sample (V rms) for a lock-in sine-output amplitude (V rms)."""
        return self.excitation_divider * lockin_amplitude_V

    def sample_bias_V(self, source_V):
        """DC bias applied across R_series + QPC (V) for a bias-source output (V)."""
        return self.bias_divider * source_V

    def ac_current_A(self, conductance_S, lockin_amplitude_V: float):
        """AC current (A rms) through R_series in series with a QPC of differential conductance G (S)."""
        v = self.sample_excitation_V(lockin_amplitude_V)
        if isinstance(conductance_S, float):  # the simulator's hot path: plain floats
            return v * conductance_S / (1.0 + conductance_S * self.series_resistance_ohm)
        g = np.asarray(conductance_S, dtype=float)
        with np.errstate(divide="ignore"):
            i = v * g / (1.0 + g * self.series_resistance_ohm)
        return float(i) if i.ndim == 0 else i

    def lockin_signal_V(self, conductance_S, lockin_amplitude_V: float):
        """In-phase lock-in input voltage (V rms) for a QPC of differential conductance G (S)."""
        return self.preamp_gain_V_per_A * self.ac_current_A(conductance_S, lockin_amplitude_V)

    # ---- backwards: what the analysis computes -----------------------------------------------------------
    def conductance_S(self, lockin_x_V, lockin_amplitude_V: float):
        """QPC conductance (S) from the in-phase lock-in reading (V rms), R_series subtracted.

        G = X / (V_exc A - X R_series), the inverse of :meth:`lockin_signal_V`. It passes smoothly through zero
        (noise around a pinched-off QPC gives small negative values, not NaN); a reading at or beyond the
        series-resistance limit X >= V_exc A / R_series has no finite conductance and gives NaN.
        """
        full = self.sample_excitation_V(lockin_amplitude_V) * self.preamp_gain_V_per_A
        if isinstance(lockin_x_V, float):  # one reading per point at the fridge: plain floats are 10x faster
            denom = full - lockin_x_V * self.series_resistance_ohm
            return lockin_x_V / denom if denom > 0 else math.nan
        x = np.asarray(lockin_x_V, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = full - x * self.series_resistance_ohm
            g = np.where(denom > 0, x / denom, np.nan)
        return float(g) if g.ndim == 0 else g

    def conductance_G0(self, lockin_x_V, lockin_amplitude_V: float):
        """QPC conductance in units of G0 = 2e^2/h from the in-phase lock-in reading (V rms)."""
        return self.conductance_S(lockin_x_V, lockin_amplitude_V) / G0

    def qpc_bias_V(self, source_V, conductance_S):
        """DC voltage across the QPC itself (V): the bias after the divider, less the drop on R_series.

        Uses the linear-response conductance; good where the drop on R_series is small or G varies slowly.
        """
        g = np.asarray(conductance_S, dtype=float)
        v = self.bias_divider * np.asarray(source_V, dtype=float)
        out = v / (1.0 + g * self.series_resistance_ohm)
        return float(out) if out.ndim == 0 else out

    # ---- noise ----------------------------------------------------------------------------------------------
    def noise_voltage_psd(self, qpc_current_noise_A2_per_Hz, conductance_S, temperature_K: float):
        """Voltage noise PSD (V^2/Hz) at the noise amplifier's *output*.

        The QPC (differential resistance R_q = 1/G, current noise S_I) in series with R_series, both across the
        load R_L that the amplifier measures; Johnson noise of R_series and R_L at ``temperature_K``; the
        amplifier's input voltage noise e_n; everything times the amplifier gain squared::

            S_in = (S_I R_q^2 + 4kT R_s) (R_L/R_tot)^2 + (4kT/R_L) (R_L (R_q + R_s)/R_tot)^2 + e_n^2

        with R_tot = R_q + R_s + R_L. A pinched-off QPC (G -> 0) leaves 4kT R_L + e_n^2: the reference that
        calibrates gain and background.
        """
        s_i = np.asarray(qpc_current_noise_A2_per_Hz, dtype=float)
        g = np.asarray(conductance_S, dtype=float)
        rs, rl = self.series_resistance_ohm, self.noise_load_resistance_ohm
        kt4 = 4.0 * K_B * temperature_K
        with np.errstate(divide="ignore", invalid="ignore"):
            # written in G to stay finite at G = 0: R_q/R_tot = 1/(1 + G (R_s + R_L))
            denom = 1.0 + g * (rs + rl)
            qpc = s_i * (rl / denom) ** 2
            series = kt4 * rs * (g * rl / denom) ** 2
            load = (kt4 / rl) * (rl * (1.0 + g * rs) / denom) ** 2
        s_in = qpc + series + load + self.noise_amplifier_input_noise_V_per_rtHz ** 2
        out = self.noise_amplifier_gain ** 2 * s_in
        return float(out) if np.ndim(out) == 0 else out

    # ---- Hall bar (four-terminal, current-biased) -------------------------------------------------------------
    def hall_current_A(self, lockin_amplitude_V: float) -> float:
        """AC current (A rms) through a Hall bar driven from the sine output through the current resistor."""
        return lockin_amplitude_V / self.hall_current_resistor_ohm

    def hall_resistance_ohm(self, lockin_x_V, lockin_amplitude_V: float):
        """R_xx or R_xy (ohm) from a lock-in reading (V rms) behind the voltage preamp."""
        return np.asarray(lockin_x_V, dtype=float) / (self.voltage_preamp_gain * self.hall_current_A(lockin_amplitude_V))
