"""What every simulated lock-in shares: the output filter evolving in real time between changes of the input, and
the samples a data buffer takes on the way.

Subclasses keep their settings in ``self.s`` (``SLVL`` sine amplitude, ``HARM`` harmonic) and define
:meth:`_order` (filter stages) and :meth:`_tau` (time constant, s) from their own tables; they call
:meth:`_start_filter` at reset and change the time constant or slope through :meth:`_change_filter`.

The input between two changes the lab reports is known exactly: a source step holds the old value up to the step
(the lab calls :meth:`_on_change` at the step's time); a quantity that drifts continuously (the magnet's field
during a ramp, the mixing chamber relaxing) moves linearly between the times the lab publishes it, which are the
drift's own break points and every reading (:attr:`SimulatedLab.drifting` tells which kind a change is): exact for
the magnet's piecewise-linear ramps, a chord between readings for the mixing chamber's exponential relaxation
(its 30 s time constant is long beside the filter's memory). The filter is evolved through either exactly
(:func:`~qpclab.instruments.lockin_filter.advance`, :func:`~qpclab.instruments.lockin_filter.advance_ramp`).

The status model is the IEEE 488.2 one of :class:`~qpclab.instruments.sim.twin.ScpiStatusTwin`, with the SRS
lock-ins' own event registers: the LIA status (``LIAS?``, enabled into serial poll bit 3 by ``LIAE``) and the error
status (``ERRS?``, enabled into bit 2 by ``ERRE``); bit 2 is therefore not the SCPI error-queue bit.

A model with a data buffer sets :attr:`_next_sample` (the simulated time of the next sample, ``inf`` for none) and
implements :meth:`_take_sample`; the filter then stops at every sample time on its way, whatever the reads.
"""

from __future__ import annotations

import cmath
import math

from ...lockin_filter import advance, advance_ramp, enbw_Hz
from ..twin import ScpiStatusTwin

__all__ = ["FilteredLockInTwin"]


class FilteredLockInTwin(ScpiStatusTwin):
    """Base of the lock-in twins: X + iY through n identical RC stages (exact evolution, see lockin_filter)."""

    #: serial poll bit 2 is the error status summary (SR830 and SR86x manuals), not an error queue
    error_available_bit = None
    lias = 0  #: LIA status register (``LIAS?``)
    errs = 0  #: error status register (``ERRS?``)
    #: LIA status bit a model sets when the time constant or slope changes (SR830: bit 5; the SR86x has none)
    TIME_CONSTANT_CHANGED = 0
    #: simulated time (s) of the next buffer sample; ``inf`` while nothing records
    _next_sample = math.inf

    def summary_bits(self) -> int:
        """Serial poll bit 2: an enabled bit of the error status is set (ERRS & ERRE); bit 3: of the LIA status
        (LIAS & LIAE)."""
        return (4 if self.errs & int(self.s["ERRE"]) else 0) | (8 if self.lias & int(self.s["LIAE"]) else 0)

    def clear_events(self) -> None:
        self.errs = self.lias = 0

    def _order(self) -> int:
        raise NotImplementedError

    def _tau(self) -> float:
        raise NotImplementedError

    def _take_sample(self, t: float, z: complex) -> None:
        """Record one buffer sample of the filter output ``z`` (X + iY before the phase rotation) at time ``t``
        and set :attr:`_next_sample`. Models with a buffer implement it."""
        raise NotImplementedError

    def _skip_overwritten(self, t: float) -> None:
        """Before sampling up to ``t``: move :attr:`_next_sample` past the samples a wrapping buffer would
        overwrite before ``t`` anyway (a long wait in loop mode costs no more than one buffer's worth)."""

    def _start_filter(self) -> None:
        """Settled on the present input, and following the lab from now on."""
        self._t = self.lab.now()
        self._u = self._input()
        self._stages = [self._u] * self._order()
        self._next_sample = math.inf
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

    def _now(self) -> float:
        """Bring the lab's tickers and the filter (with any buffer samples due) up to now; return now."""
        lab = self.lab
        lab.tick()
        t = lab.now()
        self._advance(t)
        return t

    def _sample_xy(self) -> tuple[float, float]:
        """X, Y now, before the model's own overload handling: the filter evolved to now (the lab's tickers too),
        the reference phase rotation, and one noise draw each."""
        self._now()
        return self._noisy(self._stages[-1])

    def _noisy(self, z: complex) -> tuple[float, float]:
        """X, Y of the filter output ``z``: rotated by the reference phase, one noise draw each."""
        z = z * self._rotation()
        sigma = self._noise_sigma()
        gauss = self.lab.gauss
        return z.real + gauss(sigma), z.imag + gauss(sigma)

    def _input(self) -> complex:
        """The signal at the input (V rms, complex, referred to the reference phase 0)."""
        return complex(self.lab.lockin_input_V(self.s["SLVL"], int(self.s["HARM"]), self.name), 0.0)

    def _advance(self, t: float) -> None:
        """Evolve to ``t`` with the input held at its present value."""
        if t > self._t:
            if t >= self._next_sample:
                self._evolve(t, self._u)
            else:
                self._stages = advance(self._stages, self._u, (t - self._t) / self._tau())
                self._t = t

    def _evolve(self, t: float, end: complex) -> None:
        """Evolve to ``t`` with the input moving linearly from its present value to ``end`` (equal: held),
        stopping at every buffer sample due on the way."""
        t0, u0 = self._t, self._u
        span = t - t0
        if self._next_sample <= t:
            self._skip_overwritten(t)
        while self._next_sample <= t:
            ts = max(self._next_sample, self._t)
            us = u0 if end == u0 else u0 + (end - u0) * ((ts - t0) / span)
            self._step(ts, us)
            self._take_sample(ts, self._stages[-1])
        self._step(t, end)

    def _step(self, t: float, end: complex) -> None:
        x = (t - self._t) / self._tau()
        if x > 0:
            if end == self._u:
                self._stages = advance(self._stages, end, x)
            else:
                self._stages = advance_ramp(self._stages, self._u, end, x)
            self._t = t
        self._u = end

    def _on_change(self, t: float) -> None:
        """The sample or circuit changed at time t: a step (evolve with the old input to t, then switch) or, while
        the lab's state drifts, the end of a linear stretch of the input."""
        new = self._input()
        if t <= self._t:
            self._u = new
        elif self.lab.drifting:
            self._evolve(t, new)
        else:
            self._advance(t)
            self._u = new

    def _change_filter(self, apply) -> None:
        """Time constant or slope change by ``apply()``: evolve with the old filter up to now, then add or drop
        stages."""
        self._advance(self.lab.now())
        apply()
        order = self._order()
        if order > len(self._stages):
            self._stages = self._stages + [self._stages[-1]] * (order - len(self._stages))
        else:
            self._stages = self._stages[:order]
        self.lias |= self.TIME_CONSTANT_CHANGED  # the model's LIA status bit for it, if it has one
