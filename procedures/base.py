"""What every qpclab measurement shares: the station, the connected instruments, safe gates on every exit.

A procedure here is a pymeasure ``Procedure``: it runs unchanged in pymeasure's windows and in qpclab's headless
runner. Subclasses implement :meth:`QPCProcedure.measure`; :meth:`startup` connects the station and records it,
:meth:`shutdown` (which pymeasure always calls: normal end, abort, error) brings every gate to its end value after
a normal end and to its safe value otherwise.
"""

from __future__ import annotations

import json
import logging
import math
import time

from pymeasure.experiment import Metadata, Parameter, Procedure

from ..instruments.connect import Lab, connect
from ..instruments.gates import RampInterrupted, safe_state
from ..instruments.station import Station, load_station

log = logging.getLogger(__name__)

__all__ = ["QPCProcedure", "Aborted"]


class Aborted(Exception):
    """The user stopped the run (window abort, Ctrl-C): not an error."""


class QPCProcedure(Procedure):
    """Base of the qpclab procedures. ``station_file`` empty means the packaged simulated station."""

    station_file = Parameter("Station file", default="")

    station_record = Metadata("Station", default="")
    snapshot_record = Metadata("Instrument snapshot", default="")
    started_at = Metadata("Started", default="")

    #: instruments this procedure needs (names of station roles); None = all
    needed_outputs: tuple[str, ...] = ()

    lab: Lab | None = None
    station: Station | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def load_station(self) -> Station:
        return load_station(self.station_file or None)

    def check(self, station: Station) -> None:
        """Validate parameters against the station before anything is opened (override and call super)."""

    def startup(self):
        self._normal_end = False
        self.station = self.load_station()
        self.check(self.station)
        self.lab = connect(self.station)
        self.station_record = json.dumps({"path": str(self.station.path), "station": self.station.as_dict()},
                                         default=str)
        self.snapshot_record = json.dumps(self.lab.snapshot(), default=str)
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    def execute(self):
        try:
            self.measure()
        except (RampInterrupted, Aborted):
            log.info("%s stopped by the user", type(self).__name__)
            return
        self._normal_end = not self.should_stop()

    def shutdown(self):
        if self.lab is None:
            return
        failures = safe_state(self.lab.outputs(), end=getattr(self, "_normal_end", False))
        if failures:
            log.error("gates not brought to their safe values: %s", failures)
        self.lab.close()

    # ---- helpers for subclasses ------------------------------------------------------------------------
    def measure(self) -> None:
        raise NotImplementedError

    def stop_requested(self) -> bool:
        return self.should_stop()

    def wait(self, seconds: float) -> None:
        """Sleep, waking early (and raising Aborted) if the user stops the run."""
        end = time.monotonic() + seconds
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            if self.should_stop():
                raise Aborted()
            time.sleep(min(remaining, 0.05))

    def read_lockin(self, settle: bool = True) -> tuple[float, float]:
        """Wait for the lock-in to settle (from its time constant and slope), read X and Y; on overload raise the
        sensitivity and read again."""
        li = self.lab.lockin
        if settle:
            self.wait(self._settle_s)
        x, y = li.read_xy()
        tries = 0
        while li.overloaded() and tries < 6 and hasattr(li, "sensitivity_up"):
            li.sensitivity_up()
            self.wait(self._settle_s)
            x, y = li.read_xy()
            tries += 1
        return x, y


def linspace_points(start: float, stop: float, step: float) -> list[float]:
    """Points from start to stop (inclusive) at ``step`` spacing (the last step may be shorter)."""
    if step <= 0 or not math.isfinite(step):
        raise ValueError(f"step {step!r} V must be a positive number")
    n = max(1, int(round(abs(stop - start) / step)))
    return [start + (stop - start) * k / n for k in range(n + 1)]
