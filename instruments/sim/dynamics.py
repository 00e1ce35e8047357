"""The simulated lab's time: its clock, the listeners told of every change and the tickers that advance drifting
state before each reading.

:class:`LabDynamics` is the part of :class:`~qpclab.instruments.sim.lab.SimulatedLab` that keeps time. Lock-in
filters subscribe (:meth:`LabDynamics.subscribe`) and hear of every change at the time it happened; a magnet ramp or
the mixing chamber relaxing registers a ticker (:meth:`LabDynamics.add_ticker`) that brings it up to now at every
read (:meth:`LabDynamics.tick`), publishing the drift's break points so that the state moves linearly between
them.
"""

from __future__ import annotations

from typing import Callable

from .bus_timing import spend

__all__ = ["LabDynamics"]


class LabDynamics:
    """Clock, listeners and tickers (a part of :class:`~qpclab.instruments.sim.lab.SimulatedLab`)."""

    #: seconds, ``time.monotonic`` by default; tests may put a manual clock
    clock: Callable[[], float]

    def reset_dynamics(self) -> None:
        """No listener and no ticker (a fresh state: the twins subscribe again as they reset)."""
        self._listeners: list[Callable[[float], None]] = []
        self._tickers: list[Callable[[float], None]] = []

    def now(self) -> float:
        return self.clock()

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
        self.notify(t)

    def notify(self, t: float) -> None:
        """Tell every listener that the state changed (or a drift turned) at time ``t``."""
        for cb in self._listeners:
            cb(t)
