"""What every simulated lock-in shares: the output filter evolving in real time between changes of the input.

Subclasses keep their settings in ``self.s`` (``SLVL`` sine amplitude, ``HARM`` harmonic) and define
:meth:`_order` (filter stages) and :meth:`_tau` (time constant, s) from their own tables; they call
:meth:`_start_filter` at reset and :meth:`_filter_changed` when the time constant or slope changes.
"""

from __future__ import annotations

from ...lockin_filter import advance
from ..twin import InstrumentTwin

__all__ = ["FilteredLockInTwin"]


class FilteredLockInTwin(InstrumentTwin):
    """Base of the lock-in twins: X + iY through n identical RC stages (exact evolution, see lockin_filter)."""

    lias = 0

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
        self.lias |= 1 << 5  # time-constant change bit of the LIA status
