"""Simulated runs for tests and notebooks: DataFrames (and run files) in the procedures' formats.

Readings come from the physics core (:mod:`.landauer`), through the measurement circuit (:mod:`.circuit`,
forwards), with realistic instrument noise: lock-in X/Y noise from the preamp and lock-in input noise over the
lock-in's equivalent noise bandwidth, and noise-PSD averaging scatter ``PSD / sqrt(bandwidth * time)``.
Parameters can be drawn at random in the realistic ranges of ``shared/docs/physics.md`` from a seed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .circuit import MeasurementCircuit
from .constants import G0, K_B_EV
from .landauer import SaddlePointQPC

__all__ = ["QPCParameters", "random_qpc", "lockin_x_noise_V", "simulate_staircase", "simulate_bias_map",
           "simulate_field_map", "simulate_temperature_map", "simulate_shot_noise", "simulate_hall",
           "write_run", "DEFAULT_CIRCUIT"]

DEFAULT_CIRCUIT = MeasurementCircuit(noise_load_resistance_ohm=5000.0)


@dataclass(frozen=True)
class QPCParameters:
    """The true parameters of a simulated QPC (energies in eV, lever arm in eV/V, temperature in K)."""

    hw_x_eV: float
    hw_y_eV: float
    lever_eV_per_V: float
    v_pinch: float
    temperature_K: float
    g_factor: float = -0.44
    n_modes: int = 8

    def model(self, **changes) -> SaddlePointQPC:
        kw = dict(hw_x_eV=self.hw_x_eV, hw_y_eV=self.hw_y_eV, lever_arms_eV_per_V={"gate": self.lever_eV_per_V},
                  v_pinch=self.v_pinch, n_modes=self.n_modes, g_factor=self.g_factor)
        kw.update(changes)
        return SaddlePointQPC(**kw)

    def step_center_V(self, n: int) -> float:
        """Gate voltage (V) of the n-th riser (n = 0: lowest) at zero bias and field."""
        return self.v_pinch + n * self.hw_y_eV / self.lever_eV_per_V


def random_qpc(seed, *, temperature_K: tuple[float, float] = (0.03, 0.1), hw_x_eV=(0.3e-3, 1.0e-3),
               ratio=(3.0, 5.0), lever=(0.010, 0.050), g_abs=(0.4, 1.2)) -> QPCParameters:
    """Realistic GaAs QPC parameters drawn from a seed (physics.md table): hw_x 0.3-1 meV, omega_y/omega_x 3-5
    (hw_y capped to 1-5 meV), lever arm 10-50 meV/V, pinch-off -1.5 to -0.5 V, |g| 0.4-1.2 (enhanced),
    temperature log-uniform in the given range."""
    rng = np.random.default_rng(seed)
    hx = rng.uniform(*hw_x_eV)
    hy = float(np.clip(hx * rng.uniform(*ratio), 1.0e-3, 5.0e-3))
    lev = rng.uniform(*lever)
    vp = rng.uniform(-1.5, -0.5)
    t = float(np.exp(rng.uniform(np.log(temperature_K[0]), np.log(temperature_K[1]))))
    g = -rng.uniform(*g_abs)
    return QPCParameters(hw_x_eV=hx, hw_y_eV=hy, lever_eV_per_V=lev, v_pinch=vp, temperature_K=t, g_factor=g)


def lockin_x_noise_V(circuit: MeasurementCircuit, time_constant_s: float = 0.1, slope_dB: int = 24) -> float:
    """rms noise (V) of a lock-in X reading: input noise density (preamp current noise times gain, lock-in input
    noise) times the square root of the filter's equivalent noise bandwidth (SR830 manual: 5/(64 tau) at 24 dB)."""
    enbw = {6: 1 / 4, 12: 1 / 8, 18: 3 / 32, 24: 5 / 64}[slope_dB] / time_constant_s
    density = math.hypot(circuit.preamp_input_noise_A_per_rtHz * circuit.preamp_gain_V_per_A,
                         circuit.lockin_input_noise_V_per_rtHz)
    return density * math.sqrt(enbw)


def _gate_range(p: QPCParameters, n_steps: int) -> tuple[float, float]:
    w = max(p.hw_x_eV, 2 * math.pi * K_B_EV * p.temperature_K) / p.lever_eV_per_V
    return p.v_pinch - 0.5 * p.hw_y_eV / p.lever_eV_per_V - 2 * w, p.step_center_V(n_steps - 1) + 0.5 * p.hw_y_eV / p.lever_eV_per_V


def _self_consistent(model: SaddlePointQPC, gates, v_app, temperature_K, field_T=0.0, rs=0.0, asym=0.5):
    """(dI/dV (S), I (A), V_qpc (V)) with the applied bias divided between R_series and the QPC."""
    return model.bias_with_series(gates, v_app, temperature_K, field_T, rs, asym)


def _lockin_columns(g_S, circuit, excitation_V, x_noise_V, rng) -> dict[str, np.ndarray]:
    x = circuit.lockin_signal_V(g_S, excitation_V) + rng.normal(0.0, x_noise_V, np.shape(g_S))
    y = rng.normal(0.0, x_noise_V, np.shape(g_S))
    g = circuit.conductance_S(x, excitation_V)
    return {"X (V)": x, "Y (V)": y, "G (S)": g, "G/G0": g / G0}


def simulate_staircase(p: QPCParameters, *, circuit: MeasurementCircuit = DEFAULT_CIRCUIT,
                       excitation_V: float = 0.1, n_points: int = 400, n_steps: int = 5, gate_range=None,
                       x_noise_V: float | None = None, field_T: float = 0.0, seed=0) -> pd.DataFrame:
    """A staircase run (columns of procedures.staircase) of the QPC ``p`` at its temperature."""
    rng = np.random.default_rng(seed)
    lo, hi = gate_range or _gate_range(p, n_steps)
    vg = np.linspace(lo, hi, n_points)
    model = p.model()
    # the AC excitation is small (10 uV at 0.1 V): linear response, series resistance handled by the circuit
    g = np.asarray(model.conductance({"gate": vg}, p.temperature_K, field_T), dtype=float)
    noise = lockin_x_noise_V(circuit) if x_noise_V is None else x_noise_V
    cols = {"Gate (V)": vg, **_lockin_columns(g, circuit, excitation_V, noise, rng),
            "Sweep": np.zeros(n_points, dtype=int), "Time (s)": 0.3 * np.arange(n_points)}
    return pd.DataFrame(cols)


def simulate_bias_map(p: QPCParameters, *, circuit: MeasurementCircuit = DEFAULT_CIRCUIT,
                      excitation_V: float = 0.1, n_gate: int = 120, n_bias: int = 31, n_steps: int = 4,
                      max_bias_eV: float | None = None, x_noise_V: float | None = None, asymmetry: float = 0.5,
                      seed=0) -> pd.DataFrame:
    """Gate x bias map of dI/dV (``asymmetry``: fraction of the bias on the source side). ``Bias (V)`` is at the source (the sample sees ``bias_divider`` times it, less
    the drop on the series resistance, solved self-consistently). Default bias range: +-1.3 hw_y at the QPC."""
    rng = np.random.default_rng(seed)
    lo, hi = _gate_range(p, n_steps)
    vg = np.linspace(lo, hi, n_gate)
    vmax = (1.3 * p.hw_y_eV if max_bias_eV is None else max_bias_eV)
    # source values: the series resistance eats a fraction of the applied bias; overshoot a little
    vs = np.linspace(-1.0, 1.0, n_bias) * vmax * 1.2 / circuit.bias_divider
    G, VS = np.meshgrid(vg, vs)
    g, _, _ = _self_consistent(p.model(n_modes=n_steps + 2), {"gate": G.ravel()}, circuit.sample_bias_V(VS.ravel()),
                               p.temperature_K, 0.0, circuit.series_resistance_ohm, asymmetry)
    noise = lockin_x_noise_V(circuit) if x_noise_V is None else x_noise_V
    cols = {"Gate (V)": G.ravel(), "Bias (V)": VS.ravel(), **_lockin_columns(g, circuit, excitation_V, noise, rng)}
    return pd.DataFrame(cols)


def simulate_field_map(p: QPCParameters, *, circuit: MeasurementCircuit = DEFAULT_CIRCUIT,
                       excitation_V: float = 0.1, n_gate: int = 200, n_field: int = 21, n_steps: int = 3,
                       max_field_T: float | None = None, x_noise_V: float | None = None, seed=0) -> pd.DataFrame:
    """Gate x in-plane field map of G. Default field range 0 to the field where the Zeeman splitting is
    6 hw_x/(2 pi) (resolved), at most 12 T."""
    from .constants import MU_B_EV

    rng = np.random.default_rng(seed)
    lo, hi = _gate_range(p, n_steps)
    if max_field_T is None:
        max_field_T = min(12.0, 6 * (p.hw_x_eV / (2 * math.pi)) / (abs(p.g_factor) * MU_B_EV))
    vg = np.linspace(lo - 0.1 * (hi - lo), hi, n_gate)
    b = np.linspace(0.0, max_field_T, n_field)
    G, B = np.meshgrid(vg, b)
    g = np.asarray(p.model().conductance({"gate": G.ravel()}, p.temperature_K, B.ravel()), dtype=float)
    noise = lockin_x_noise_V(circuit) if x_noise_V is None else x_noise_V
    cols = {"Gate (V)": G.ravel(), "Field (T)": B.ravel(), **_lockin_columns(g, circuit, excitation_V, noise, rng)}
    return pd.DataFrame(cols)


def simulate_temperature_map(p: QPCParameters, temperatures_K, *, circuit: MeasurementCircuit = DEFAULT_CIRCUIT,
                             excitation_V: float = 0.1, n_gate: int = 200, n_steps: int = 2,
                             saturation_K: float = 0.0, x_noise_V: float | None = None, seed=0) -> pd.DataFrame:
    """Gate x mixing-chamber temperature map. The electrons sit at sqrt(T_mc^2 + T_sat^2) (saturation)."""
    rng = np.random.default_rng(seed)
    tmax = float(np.max(temperatures_K))
    lo, hi = _gate_range(replace(p, temperature_K=tmax), n_steps)
    vg = np.linspace(lo, hi, n_gate)
    G, TT = np.meshgrid(vg, np.asarray(temperatures_K, dtype=float))
    te = np.hypot(TT.ravel(), saturation_K)
    g = np.asarray(p.model().conductance({"gate": G.ravel()}, te), dtype=float)
    noise = lockin_x_noise_V(circuit) if x_noise_V is None else x_noise_V
    cols = {"Gate (V)": G.ravel(), "Temperature (K)": TT.ravel(), **_lockin_columns(g, circuit, excitation_V, noise, rng)}
    return pd.DataFrame(cols)


def simulate_shot_noise(p: QPCParameters, gate_V: float, *, circuit: MeasurementCircuit = DEFAULT_CIRCUIT,
                        excitation_V: float = 0.1, n_bias: int = 41, max_bias_V: float | None = None,
                        psd_relative_noise: float = 1e-4, x_noise_V: float | None = None,
                        seed=0) -> pd.DataFrame:
    """Shot noise against bias at a fixed gate point, plus the reference sweep (QPC pinched off, same biases).

    ``max_bias_V`` (at the QPC, default 12 k_B T / e) sets the source range. PSD scatter: ``psd_relative_noise``
    times the PSD (averaging: 1/sqrt(bandwidth * time); 1e-4 is 1 MHz for 100 s).
    """
    rng = np.random.default_rng(seed)
    vmax = 12 * K_B_EV * p.temperature_K if max_bias_V is None else max_bias_V
    vs = np.linspace(-1.0, 1.0, n_bias) * vmax / circuit.bias_divider
    v_app = circuit.sample_bias_V(vs)
    noise = lockin_x_noise_V(circuit) if x_noise_V is None else x_noise_V
    frames = []
    for ref, gate in ((0, gate_V), (1, p.v_pinch - 20 * max(p.hw_x_eV, p.hw_y_eV) / p.lever_eV_per_V)):
        model = p.model()
        gates = {"gate": np.full(n_bias, gate)}
        g, i, v = _self_consistent(model, gates, v_app, p.temperature_K, 0.0, circuit.series_resistance_ohm)
        s_i = np.asarray(model.noise(gates, v, p.temperature_K), dtype=float)
        psd = circuit.noise_voltage_psd(s_i, g, p.temperature_K)
        psd = psd * (1.0 + psd_relative_noise * rng.standard_normal(n_bias))
        frames.append(pd.DataFrame({"Bias (V)": vs, "PSD (V^2/Hz)": psd,
                                    **_lockin_columns(g, circuit, excitation_V, noise, rng),
                                    "Reference": np.full(n_bias, ref)}))
    return pd.concat(frames, ignore_index=True)


def simulate_hall(sample=None, *, temperature_K: float = 0.05, max_field_T: float = 8.0, n_field: int = 801,
                  circuit: MeasurementCircuit = DEFAULT_CIRCUIT, excitation_V: float = 1.0,
                  noise_ohm: float = 0.05, seed=0) -> pd.DataFrame:
    """Hall-bar sweep: columns ``Field (T)``, ``X xx (V)``, ``X xy (V)``, ``R_xx (ohm)``, ``R_xy (ohm)``.

    ``noise_ohm``: rms noise of each resistance reading (voltage-preamp noise over the lock-in bandwidth divided
    by the current: ~10 nV / 100 nA). ``sample``: anything with ``resistances(B, T) -> (R_xx, R_xy)``; default the physics core's HallBar."""
    rng = np.random.default_rng(seed)
    if sample is None:
        from .hall import HallBar

        sample = HallBar()
    b = np.linspace(0.0, max_field_T, n_field)
    r_xx, r_xy = sample.resistances(b, temperature_K)
    r_xx = np.asarray(r_xx, dtype=float)
    r_xy = np.asarray(r_xy, dtype=float)
    i = circuit.hall_current_A(excitation_V)
    scale = circuit.voltage_preamp_gain * i
    floor = noise_ohm * scale
    x_xx = scale * r_xx + rng.normal(0.0, floor, n_field)
    x_xy = scale * r_xy + rng.normal(0.0, floor, n_field)
    return pd.DataFrame({"Field (T)": b, "X xx (V)": x_xx, "X xy (V)": x_xy,
                         "R_xx (ohm)": circuit.hall_resistance_ohm(x_xx, excitation_V),
                         "R_xy (ohm)": circuit.hall_resistance_ohm(x_xy, excitation_V)})


def write_run(path: str | Path, df: pd.DataFrame, *, procedure: str = "staircase",
              parameters: dict[str, Any] | None = None, circuit: MeasurementCircuit | None = DEFAULT_CIRCUIT,
              excitation_V: float = 0.1) -> Path:
    """Write ``df`` as a run file in the runner's format (pymeasure header, the procedure's registered name in the
    ``#Plan:`` line, Station metadata with the circuit). ``procedure``: a name of ``qpclab procedures``."""
    from ..procedures import entry

    path = Path(path)
    params = {"Lock-in sine output": f"{excitation_V:g} V"}
    params.update({k: str(v) for k, v in (parameters or {}).items()})
    plan = {"format": 1, "procedure": procedure, "parameters": {}, "points": len(df), "lines": 1}
    lines = [f"#Procedure: <{entry(procedure).class_path}>", "#Plan: " + json.dumps(plan), "#Parameters:"]
    lines += [f"#\t{k}: {str(v).encode('unicode_escape').decode('utf-8')}" for k, v in params.items()]
    lines.append("#Metadata:")
    if circuit is not None:
        station = {"path": "synthetic", "station": {"name": "synthetic", "circuit": circuit.as_dict()}}
        lines.append("#\tStation: " + json.dumps(station).encode("unicode_escape").decode("utf-8"))
    lines.append("#Data:")
    path.write_text("\n".join(lines) + "\n" + df.to_csv(index=False), encoding="utf-8")
    return path
