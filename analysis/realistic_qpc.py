"""A realistic saddle-point QPC: what real GaAs devices show beyond the ideal saddle, each effect switched on by its
own parameter (every default is off: the model is then exactly :class:`~.landauer.SaddlePointQPC`).

Units: energies in eV (names end in ``_eV``), everything else SI.

Transport (:class:`RealisticQPC`, stateless)
--------------------------------------------
Every channel's transmission stays a Kemble logistic in energy, ``T_ch(E) = 1 / (1 + exp(-(x_ch + E) / theta_ch))``,
with its own edge ``x_ch`` (eV above the channel's threshold at the Fermi level) and its own scale ``theta_ch``; so the
closed forms of :mod:`.landauer` (temperature, bias, shot noise) hold channel by channel. With ``offset`` the clean
barrier offset ``sum_i lever_i (V_i - v_pinch)``, ``dV = offset / sum_i lever_i`` the common gate voltage above
pinch-off and ``p = max(dV, 0)``:

* **Gate-dependent lever arm and subband spacing** (``lever_arm_slope_per_V`` = k_a, ``spacing_slope_per_V`` = k_y):
  the lever arm on the barrier is ``alpha (1 + k_a p)`` and the spacing ``hw_y (1 - k_y p)``, so the mode-0 edge is
  ``x = offset + sum(levers) k_a p^2 / 2`` and mode n's edge ``x - n hw_y (1 - k_y p)``. With k_y > 0 the transverse
  confinement weakens as the constriction opens: plateaus get shorter and closer at higher n, and bias spectroscopy
  finds the spacings falling from one subband to the next. Linear in p: a phenomenological first order.
* **Mode-dependent barrier curvature** (``barrier_height_eV`` = V0): the adiabatic estimate for a smooth saddle whose
  transverse confinement weakens along x as the barrier does,
  ``hw_x,n = hw_x [1 + hw_y (n + 1/2) / (2 V0)]^(1/2)``, V0 the barrier height above the band bottom: step widths
  grow with n (for smooth GaAs saddles full tight-binding calculations follow it within about a percent).
* **0.7 structure** (``spin_gap_ratio`` = gamma, ``spin_gap_decay_eV`` = x_d): the density-dependent spin gap of the
  lowest subband (Reilly et al., PRL 89, 246801 (2002); Reilly, PRB 72, 033309 (2005); a spin-split lowest subband
  as in Bruus, Cheianov & Flensberg, Physica E 10, 97 (2001)). The spin-up edge of mode 0 lies ``Delta`` above the
  spin-down edge, the gap growing linearly with the 1D density, measured by the mode-0 edge ``x`` itself:
  ``Delta = gamma n`` with the thermally smeared density ``n = kT ln(1 + exp(x / kT))`` (a constant density of
  states; ``n = max(x, 0)`` at T = 0). At T = 0 both spin bands open together at pinch-off, the upper one
  ``1 / (1 - gamma)`` times more slowly in gate voltage: a weak shoulder near 0.75-0.8 G0. At finite temperature the
  thermal density opens the gap already at pinch-off (``gamma kT ln 2``): the upper band lags, the shoulder sinks
  towards 0.7 G0 and takes away more conductance as the temperature rises. An in-plane field adds the Zeeman
  splitting to the gap and turns the shoulder into the spin-resolved 0.5 G0 (e^2/h) plateau (Thomas et al., PRL 77,
  135 (1996); Cronenwett et al., PRL 88, 226805 (2002)). Our own addition, so that the 1 G0 plateau is recovered
  before the second subband: the gap closes again at higher density, ``Delta = gamma n exp(-(n / x_d)^4)``
  (0 <= gamma < 1 keeps every edge rising with gate voltage). The gap is set by the density at zero bias.

Gate environment (:class:`GateEnvironment`, stateful, advanced on the lab clock)
--------------------------------------------------------------------------------
Background charges shift the pinch-off: a common gate-voltage offset ``-dV(t)`` on every gate, with

* 1/f charge noise of one-sided density ``S(f) = A^2 / f`` (``charge_noise_V_per_rtHz`` = A, at 1 Hz) between the
  corners ``charge_noise_band_Hz``: a sum of Ornstein-Uhlenbeck (Lorentzian) processes with relaxation rates spaced
  evenly in log (three per decade), each evolved exactly over any time step;
* random telegraph switching (``telegraph``: a list of ``{amplitude_V, dwell_s: [low, high]}``): two-state
  fluctuators with exponentially distributed dwell times, evolved event by event;
* hysteresis between up and down sweeps (``hysteresis_V`` = h): each gate acts through a play (backlash) operator of
  width h, so a riser sits h/2 higher on an up sweep and h/2 lower on a down sweep (the traces shift by h).

Finite excitation and harmonics
-------------------------------
A lock-in referenced to ``sin(n wt)`` reads the n-th Fourier component of the current driven by ``V_dc + sqrt(2)
V_rms sin(wt)``: :func:`harmonic_phasor` (``finite_excitation``). For small excitation the first harmonic is
``dI/dV`` times the excitation and the second ``-(V_rms^2 / (2 sqrt 2)) d^2I/dV^2`` in quadrature (the 2f component
of ``sin^2`` is ``-cos(2 wt) / 2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Mapping, Sequence

import numpy as np

from .landauer import TWO_PI, SaddlePointQPC, saddle_transmission

__all__ = ["RealisticQPC", "GateEnvironment", "OneOverFNoise", "TelegraphSwitch", "PlayHysteresis",
           "harmonic_phasor", "cycle_points"]


@dataclass(frozen=True)
class RealisticQPC(SaddlePointQPC):
    """:class:`~.landauer.SaddlePointQPC` with the effects of real devices (module docstring); all off by default.

    Extra parameters:
        spin_gap_ratio: gamma in ``Delta = gamma n exp(-(n / x_d)^4)`` (0 = no 0.7 structure; below 1).
        spin_gap_decay_eV: x_d, the density (as the mode-0 edge, eV) over which the spin gap closes again.
        barrier_height_eV: V0 of the adiabatic mode-dependent curvature (0 = every mode has hw_x).
        lever_arm_slope_per_V: k_a, relative change of the lever arm per volt above pinch-off.
        spacing_slope_per_V: k_y, relative decrease of hw_y per volt above pinch-off.
        charge_noise_V_per_rtHz: A of the gate-referred 1/f noise ``S(f) = A^2 / f`` (V/sqrt(Hz) at 1 Hz).
        charge_noise_band_Hz: (lowest, highest) frequency of the 1/f noise, Hz.
        telegraph: fluctuators, each ``{"amplitude_V": ..., "dwell_s": [mean dwell low, mean dwell high]}``.
        hysteresis_V: width of the gates' play operator (shift between up and down sweeps), V.
        finite_excitation: the lock-in reads the harmonics of the current over the excitation cycle (True), or
            dI/dV times the excitation (False, the ideal small-signal reading).
    """

    spin_gap_ratio: float = 0.0
    spin_gap_decay_eV: float = 1.0e-3
    barrier_height_eV: float = 0.0
    lever_arm_slope_per_V: float = 0.0
    spacing_slope_per_V: float = 0.0
    charge_noise_V_per_rtHz: float = 0.0
    charge_noise_band_Hz: Sequence[float] = (1.0e-3, 10.0)
    telegraph: Sequence[Mapping[str, object]] = ()
    hysteresis_V: float = 0.0
    finite_excitation: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.spin_gap_ratio < 1.0:
            raise ValueError(f"spin_gap_ratio must be in [0, 1), got {self.spin_gap_ratio!r}")
        if not self.spin_gap_decay_eV > 0:
            raise ValueError(f"spin_gap_decay_eV must be > 0, got {self.spin_gap_decay_eV!r}")
        if not self.barrier_height_eV >= 0:
            raise ValueError(f"barrier_height_eV must be >= 0 (0 = off), got {self.barrier_height_eV!r}")
        if not -1.0 < self.lever_arm_slope_per_V < 10.0:
            raise ValueError(f"lever_arm_slope_per_V must be within (-1, 10) 1/V, got {self.lever_arm_slope_per_V!r}")
        if not 0.0 <= self.spacing_slope_per_V < 1.0:
            raise ValueError(f"spacing_slope_per_V must be within [0, 1) 1/V, got {self.spacing_slope_per_V!r}")
        if not self.charge_noise_V_per_rtHz >= 0:
            raise ValueError(f"charge_noise_V_per_rtHz must be >= 0, got {self.charge_noise_V_per_rtHz!r}")
        lo, hi = (float(f) for f in self.charge_noise_band_Hz)
        if not 0 < lo < hi:
            raise ValueError(f"charge_noise_band_Hz must be (low, high) with 0 < low < high, got "
                             f"{self.charge_noise_band_Hz!r}")
        if not self.hysteresis_V >= 0:
            raise ValueError(f"hysteresis_V must be >= 0, got {self.hysteresis_V!r}")
        for k, spec in enumerate(self.telegraph):
            TelegraphSwitch.from_spec(spec, np.random.default_rng(0), 0.0, where=f"telegraph[{k}]")

    # ---- channel geometry (the hooks of SaddlePointQPC's engine) -------------------------------------------------
    @cached_property
    def _lever_sum(self) -> float:
        return float(sum(float(v) for v in self.lever_arms_eV_per_V.values()))

    @cached_property
    def _gap_channels(self) -> np.ndarray:
        """1.0 on the spin-up (s = +1/2) channels of mode 0, where the spin gap lifts the edge; 0.0 elsewhere."""
        mode, spin, _ = self._channels
        return ((mode == 0) & (spin > 0)).astype(float)

    def _channel_set(self, bfield):
        """Always every spin-resolved channel: the spin gap splits the spins at zero field too."""
        modes, spin, base = self._channels
        return base + bfield[:, None] * spin * self._zeeman_eV_per_T, np.ones(base.size), modes

    def _gate_geometry(self, off):
        """(mode-0 edge x (P,), subband spacing hw_y (P,)) for clean offsets ``off`` (P,), eV."""
        p = np.maximum(off / self._lever_sum, 0.0)
        x = off + self._lever_sum * self.lever_arm_slope_per_V * 0.5 * p * p
        hw_y = self.hw_y_eV * (1.0 - self.spacing_slope_per_V * p)
        return x, hw_y

    def spin_gap_eV(self, x, kt):
        """The 0.7 structure's spin gap (eV) at mode-0 edge ``x`` (eV) and ``k_B T`` (eV), arrays broadcasting:
        ``gamma n exp(-(n / x_d)^4)`` with the thermally smeared 1D density ``n = kT ln(1 + exp(x / kT))`` (in units of
        a constant density of states; ``n = max(x, 0)`` at T = 0)."""
        x = np.asarray(x, dtype=float)
        kt = np.asarray(kt, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.where(kt > 0, np.logaddexp(0.0, x / np.where(kt > 0, kt, 1.0)) * kt, np.maximum(x, 0.0))
        return self.spin_gap_ratio * n * np.exp(-((n / self.spin_gap_decay_eV) ** 4))

    def _channel_edges(self, off, shifts, modes, kt):
        x, hw_y = self._gate_geometry(off)
        # shifts hold n * hw_y (at p = 0), valley and Zeeman shifts: the spacing's gate dependence corrects n hw_y
        edges = x[:, None] - shifts + modes * (self.hw_y_eV - hw_y)[:, None]
        if self.spin_gap_ratio > 0:
            edges = edges - self.spin_gap_eV(x, kt)[:, None] * self._gap_channels
        if self.barrier_height_eV > 0:
            widths = self.hw_x_eV * np.sqrt(1.0 + hw_y[:, None] * (modes + 0.5) / (2.0 * self.barrier_height_eV))
            return edges, widths / TWO_PI
        return edges, self.hw_x_eV / TWO_PI

    # ---- public transport quantities that bypass the engine in the clean model --------------------------------
    def conductance(self, gates, temperature_K, field_T=0.0):
        """Linear-response conductance (S), as :meth:`SaddlePointQPC.conductance`, with this model's channels."""
        return self._evaluate("G", gates, 0.0, temperature_K, field_T, 0.5)

    def transmissions(self, gates, energy_eV=0.0, field_T=0.0):
        """Bare transmission of every channel at energy (eV, from the Fermi level) in field (T), the spin gap at its
        zero-temperature density; channel order as in :class:`SaddlePointQPC` (shape ``broadcast(gates..., energy,
        field) + (n_channels,)``)."""
        offset = np.asarray(self.barrier_offset_eV(gates), dtype=float)
        en = np.asarray(energy_eV, dtype=float)
        b = np.asarray(field_T, dtype=float)
        shape = np.broadcast_shapes(offset.shape, en.shape, b.shape)
        off = np.broadcast_to(offset, shape).reshape(-1)
        shifts, _, modes = self._channel_set(np.broadcast_to(b, shape).reshape(-1))
        edges, theta = self._channel_edges(off, shifts, modes, np.zeros(off.size))
        t = np.asarray(saddle_transmission((edges + np.broadcast_to(en, shape).reshape(-1)[:, None])
                                           / (TWO_PI * theta)))
        if self.disorder > 0:
            t = t * self._disorder_factor(off, modes)
        return t.reshape(shape + (self.n_channels,))

    # ---- what the simulated lab asks of a sample -----------------------------------------------------------------
    def mode_width_eV(self, n: int) -> float:
        """hw_x,n (eV) of mode n with the subband spacing at pinch-off (hw_x when the curvature is mode independent)."""
        if self.barrier_height_eV == 0:
            return float(self.hw_x_eV)
        return float(self.hw_x_eV * math.sqrt(1.0 + self.hw_y_eV * (n + 0.5) / (2.0 * self.barrier_height_eV)))

    def environment(self, seed: int, t0: float) -> "GateEnvironment | None":
        """The sample's charge environment (noise, telegraph switching, hysteresis) from ``seed``, starting at
        time ``t0`` (s); None when all of it is off."""
        if not (self.charge_noise_V_per_rtHz > 0 or self.telegraph or self.hysteresis_V > 0):
            return None
        return GateEnvironment(self, seed, t0)


# ---- the gate environment --------------------------------------------------------------------------------------
class OneOverFNoise:
    """Gate-referred 1/f noise ``S(f) = A^2 / f`` (one-sided, V^2/Hz) between two corner frequencies.

    A sum of independent Ornstein-Uhlenbeck processes with rates ``2 pi f_k``, f_k evenly spaced in log (ratio
    ``r``, three per decade), each of variance ``A^2 ln r``: ``sum_k 4 s_k^2 g_k / (g_k^2 + w^2)`` approximates
    ``(A^2 ln r / ln r) int 4 dg / (g^2 + w^2) = A^2 / f`` inside the band. Started in the stationary state.
    """

    PER_DECADE = 3

    def __init__(self, amplitude_V_per_rtHz: float, band_Hz: Sequence[float], rng: np.random.Generator):
        lo, hi = (float(f) for f in band_Hz)
        n = max(2, int(math.ceil(self.PER_DECADE * math.log10(hi / lo))) + 1)
        freqs = np.geomspace(lo, hi, n)
        self.rates = TWO_PI * freqs
        self.sigma = float(amplitude_V_per_rtHz) * math.sqrt(math.log(freqs[1] / freqs[0]))
        self.rng = rng
        self.x = rng.normal(0.0, self.sigma, n)

    def advance(self, dt: float) -> float:
        """Evolve by ``dt`` seconds (exact for any dt); return the noise voltage (V)."""
        if dt > 0:
            e = np.exp(-self.rates * dt)
            self.x = self.x * e + self.sigma * np.sqrt(1.0 - e * e) * self.rng.standard_normal(self.x.size)
        return float(self.x.sum())


class TelegraphSwitch:
    """One two-state fluctuator: 0 or ``amplitude_V``, dwelling an exponentially distributed time of mean
    ``dwell_s[state]`` in each state; started in the stationary state (high with probability
    ``dwell_high / (dwell_low + dwell_high)``)."""

    def __init__(self, amplitude_V: float, dwell_s: Sequence[float], rng: np.random.Generator, t0: float):
        self.amplitude_V = float(amplitude_V)
        self.dwell_s = (float(dwell_s[0]), float(dwell_s[1]))
        self.rng = rng
        self._restart(t0)

    @classmethod
    def from_spec(cls, spec: Mapping[str, object], rng: np.random.Generator, t0: float, *, where: str = "telegraph"):
        """From a sample file's ``{amplitude_V: ..., dwell_s: [low, high]}``; ValueError for anything else."""
        if not isinstance(spec, Mapping) or set(spec) != {"amplitude_V", "dwell_s"}:
            raise ValueError(f"{where}: expected {{amplitude_V: V, dwell_s: [low s, high s]}}, got {spec!r}")
        dwell = spec["dwell_s"]
        if not isinstance(dwell, Sequence) or len(dwell) != 2 or not all(float(d) > 0 for d in dwell):
            raise ValueError(f"{where}.dwell_s: two positive mean dwell times (s), got {dwell!r}")
        return cls(float(spec["amplitude_V"]), dwell, rng, t0)

    def _restart(self, t: float) -> None:
        lo, hi = self.dwell_s
        self.state = int(self.rng.random() < hi / (lo + hi))
        self.next_switch = t + self.rng.exponential(self.dwell_s[self.state])

    def advance_to(self, t: float) -> float:
        """Switch through every event up to time t (s); return the present value (V)."""
        if t - self.next_switch > 50.0 * sum(self.dwell_s):  # long unobserved: memoryless, draw afresh
            self._restart(t)
        while self.next_switch <= t:
            self.state ^= 1
            self.next_switch += self.rng.exponential(self.dwell_s[self.state])
        return self.amplitude_V * self.state


class PlayHysteresis:
    """A play (backlash) operator of width h per gate: the effective voltage follows the applied one only once it
    is more than h/2 away, so up sweeps see it h/2 low and down sweeps h/2 high. Rate independent."""

    def __init__(self, width_V: float):
        self.half = 0.5 * float(width_V)
        self.state: dict[str, float] = {}

    def move(self, name: str, volts: float) -> None:
        u = self.state.get(name, 0.0)  # outputs start at 0 V
        if volts > u + self.half:
            u = volts - self.half
        elif volts < u - self.half:
            u = volts + self.half
        self.state[name] = u

    def effective(self, name: str, volts: float) -> float:
        return self.state.get(name, volts) if self.half > 0 else volts


class GateEnvironment:
    """The charges around one sample: 1/f noise and telegraph switching (advanced on the lab clock) and hysteresis
    (advanced by the gate moves). Seeded: a reset with the same seed repeats the same history."""

    def __init__(self, sample: RealisticQPC, seed: int, t0: float):
        rng = np.random.default_rng(abs(int(seed)))
        self.t = float(t0)
        self.noise = (OneOverFNoise(sample.charge_noise_V_per_rtHz, sample.charge_noise_band_Hz, rng)
                      if sample.charge_noise_V_per_rtHz > 0 else None)
        self.switches = [TelegraphSwitch.from_spec(s, rng, self.t) for s in sample.telegraph]
        self.play = PlayHysteresis(sample.hysteresis_V)
        self.shift_V = self._value(0.0)

    def _value(self, dt: float) -> float:
        v = self.noise.advance(dt) if self.noise is not None else 0.0
        for s in self.switches:
            v += s.advance_to(self.t)
        return v

    def advance(self, t: float) -> bool:
        """Bring noise and switching up to time t (s); True if the pinch-off shift changed."""
        dt = t - self.t
        if dt <= 0:
            return False
        self.t = t
        old = self.shift_V
        self.shift_V = self._value(dt)
        return self.shift_V != old

    def gate_moved(self, name: str, volts: float) -> None:
        self.play.move(name, volts)

    def effective_gates(self, gates: Mapping[str, float]) -> dict[str, float]:
        """The gate voltages the sample feels: each through its play operator, less the background shift."""
        return {k: self.play.effective(k, v) - self.shift_V for k, v in gates.items()}


# ---- finite excitation -------------------------------------------------------------------------------------------
def cycle_points(v_rms: float, scale_V: float) -> int:
    """Phase points per cycle for :func:`harmonic_phasor`. The trapezoid rule on a periodic analytic integrand
    converges like ``exp(-N d)``, d the half-width of its strip of analyticity in phase. An I(V) with singularities
    ``pi scale`` off the real V axis (logistic steps of scale ``scale_V``) driven by ``a sin(phi)``, ``a = sqrt(2)
    V_rms``, has ``d = asinh(pi scale / a)``: N = 32 / d (at least 16, a multiple of 4) keeps the error near 1e-14."""
    a = math.sqrt(2.0) * abs(v_rms)
    d = math.asinh(math.pi * scale_V / a) if a > 0 else math.inf
    n = max(16, int(math.ceil(32.0 / d)))
    return n + (-n) % 4


def harmonic_phasor(current_A: Callable[[np.ndarray], np.ndarray], v_dc: float, v_rms: float, harmonic: int,
                    n_points: int) -> complex:
    """The n-th harmonic of ``I(V_dc + sqrt(2) V_rms sin phi)`` as a lock-in referenced to ``sin(n phi)`` reads
    it: ``X + iY`` in A rms, ``X = b_n / sqrt 2``, ``Y = a_n / sqrt 2`` with ``I = sum a_n cos n phi + b_n sin n phi``.

    ``current_A`` maps an array of voltages (V) to currents (A); the cycle is sampled at ``n_points`` equally spaced
    phases (trapezoid rule: exact for trigonometric polynomials, spectrally accurate for analytic I(V)).
    """
    phi = TWO_PI * np.arange(n_points) / n_points
    i = np.asarray(current_A(v_dc + math.sqrt(2.0) * v_rms * np.sin(phi)), dtype=float)
    b = 2.0 * float(i @ np.sin(harmonic * phi)) / n_points
    a = 2.0 * float(i @ np.cos(harmonic * phi)) / n_points
    return complex(b, a) / math.sqrt(2.0)
