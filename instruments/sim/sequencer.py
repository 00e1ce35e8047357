"""A simulated instrument's trigger model run in lab time.

A trigger model (Keithley 2400 arm/trigger layers, a QDAC-II list) is written as a generator that yields what it
waits for next: a float is a lab time (s) to wait until, a string the name of an event (``"tlink_in_2"``, ``"bus"``,
``"int3"``) to wait for. It is sent back the lab time at which the wait ended and carries on from there, so each
step happens at its own simulated time whatever the moment the simulator gets round to it:

- :meth:`Sequencer.advance` runs the timed steps due up to a lab time (the twin calls it with ``lab.now()`` at
  every command and lab tick, or with ``math.inf`` where the instrument holds its reply until the model is done,
  as a Keithley does on ``:READ?``);
- :meth:`Sequencer.signal` delivers an event (a trigger arriving on a cable, ``*TRG``) at its time.
"""

from __future__ import annotations

import math
from collections.abc import Generator

__all__ = ["Sequencer", "Steps"]

#: a trigger model: yields a lab time (float) or an event name (str), is sent the lab time the wait ended
Steps = Generator[float | str, float, None]


class Sequencer:
    def __init__(self) -> None:
        self._steps: Steps | None = None
        self._wait: float | str | None = None
        self._busy = False  # inside a step: a trigger the step itself fires does not re-enter the model

    @property
    def running(self) -> bool:
        return self._steps is not None

    def start(self, steps: Steps, until: float) -> None:
        """Run a new model (the previous one is abandoned) and advance it to ``until``."""
        self._steps = steps
        self._resume(None)
        self.advance(until)

    def abort(self) -> None:
        if self._steps is not None:
            self._steps.close()
        self._steps = self._wait = None

    def advance(self, until: float) -> None:
        """Carry out every step due at or before lab time ``until``."""
        while not self._busy and self._steps is not None and isinstance(self._wait, float) and self._wait <= until:
            self._resume(self._wait)

    def signal(self, event: str, t: float) -> bool:
        """Event ``event`` at lab time ``t``: the model takes it if it waits for it then (True), else it is lost,
        as an edge the instrument is not listening for."""
        self.advance(t)
        if self._busy or self._steps is None or self._wait != event:
            return False
        self._resume(t)
        self.advance(t)
        return True

    def finish(self) -> bool:
        """Run every remaining timed step; True if the model is done (False: it waits for an event)."""
        self.advance(math.inf)
        return self._steps is None

    def _resume(self, t: float | None) -> None:
        self._busy = True
        try:
            wait = self._steps.send(t) if t is not None else next(self._steps)
        except StopIteration:
            self._steps = self._wait = None
            return
        finally:
            self._busy = False
        self._wait = float(wait) if isinstance(wait, (int, float)) else wait
