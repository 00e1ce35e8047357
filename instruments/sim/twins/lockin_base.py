"""What every simulated lock-in shares: the output filter evolving in real time between changes of the input.

Subclasses keep their settings in ``self.s`` (``SLVL`` sine amplitude, ``HARM`` harmonic) and define
:meth:`_order` (filter stages) and :meth:`_tau` (time constant, s) from their own tables; they call
:meth:`_start_filter` at reset and :meth:`_filter_changed` when the time constant or slope changes.
"""

from __future__ import annotations

import cmath
import math

from ...lockin_filter import advance, enbw_Hz
from ..twin import InstrumentTwin

__all__ = ["FilteredLockInTwin"]


class FilteredLockInTwin(InstrumentTwin):
    """Base of the lock-in twins: X + iY through n identical RC stages (exact evolution, see lockin_filter)."""

    lias = 0
    #: LIA status bit a model sets when the time constant or slope changes (SR830: bit 5; the SR86x has none)
    TIME_CONSTANT_CHANGED = 0

    def _order(self) -> int:
        raise NotImplementedError

    def _tau(self) -> float:
        raise NotImplementedError

    def _start_filter(self) -> None:
        """Settled on the present input, and following the lab from now on."""
        self._t = self.lab.now()
        self._u = self._input()
        self._stages = [self._u] * self._order()
        self.lab.subscribe(self._on_change)

    # ---- cached per-reading factors: recomputed only when what they depend on changes ----------------------
    _rot_phase = None
    _rot = 1.0 + 0.0j
    _sigma_key = (None, None, None)
    _sigma = 0.0

    def _rotation(self) -> complex:
        """exp(-i PHAS): the reference phase rotation of X + iY (PHAS in degrees, ``self.s["PHAS"]``)."""
        p = self.s["PHAS"]
        if p is not self._rot_phase:
            self._rot = cmath.exp(-1j * math.radians(p))
            self._rot_phase = p
        return self._rot

    def _noise_sigma(self) -> float:
        """Noise (V rms) of one reading of X or Y: input noise density times sqrt(ENBW of the output filter).

        Depends on the time constant and slope settings (``OFLT``, ``OFSL``) and the lab's circuit only."""
        s = self.s
        k1, k2, k3 = self._sigma_key
        circuit = self.lab.circuit
        if s["OFLT"] is not k1 or s["OFSL"] is not k2 or circuit is not k3:
            self._sigma = self.lab.lockin_noise_V_per_rtHz() * math.sqrt(enbw_Hz(self._tau(), self._order()))
            self._sigma_key = (s["OFLT"], s["OFSL"], circuit)
        return self._sigma

    def _sample_xy(self) -> tuple[float, float]:
        """X, Y now, before the model's own overload handling: the filter evolved to now (the lab's tickers too),
        the reference phase rotation, and one noise draw each."""
        lab = self.lab
        lab.tick()
        self._advance(lab.now())
        z = self._stages[-1] * self._rotation()
        sigma = self._noise_sigma()
        return z.real + lab.gauss(sigma), z.imag + lab.gauss(sigma)

    def _input(self) -> complex:
        """The signal at the input (V rms, complex, referred to the reference phase 0)."""
        return complex(self.lab.lockin_input_V(self.s["SLVL"], int(self.s["HARM"]), self.name), 0.0)

    def _advance(self, t: float) -> None:
        dt = t - self._t
        if dt > 0:
            self._stages = advance(self._stages, self._u, dt / self._tau())
            self._t = t

    def _on_change(self, t: float) -> None:
        """The sample or circuit changed at time t: evolve the filter to t, then switch to the new input."""
        self._advance(t)
        self._u = self._input()

    def _filter_changed(self, old_tau: float, old_order: int | None = None) -> None:
        """Time constant or slope changed: evolve with the old filter up to now, then add or drop stages."""
        t = self.lab.now()
        dt = t - self._t
        if dt > 0:
            self._stages = advance(self._stages, self._u, dt / old_tau)
            self._t = t
        order = self._order()
        if order > len(self._stages):
            self._stages = self._stages + [self._stages[-1]] * (order - len(self._stages))
        else:
            self._stages = self._stages[:order]
        self.lias |= self.TIME_CONSTANT_CHANGED  # the model's LIA status bit for it, if it has one
