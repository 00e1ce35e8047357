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
from collections.abc import Sequence

from pymeasure.experiment import FloatParameter, IntegerParameter, Metadata, Parameter, Procedure

from ..analysis.constants import G0
from ..instruments.connect import Lab, connect
from ..instruments.gates import RampInterrupted, safe_state
from ..instruments.station import Station, load_station

log = logging.getLogger(__name__)

__all__ = ["QPCProcedure", "LockInProcedure", "Aborted", "linspace_points"]


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
    #: points already on disk from an interrupted run of the same plan (set by the runner on resume)
    resume_from: int = 0
    _point_index: int = 0
    _combined_read = False  #: the station's lock-in reads X, Y and its overload status in one message (startup)

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def load_station(self) -> Station:
        return load_station(self.station_file or None)

    def check(self, station: Station) -> None:
        """Validate parameters against the station before anything is opened (override and call super)."""

    def startup(self):
        self._normal_end = False
        self._point_index = 0
        self.station = self.load_station()
        self.check(self.station)
        self.check_planned(self.station)
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

    def skip_point(self) -> bool:
        """Call once per planned point, in plan order: True for points already on disk (resumed run)."""
        i = self._point_index
        self._point_index += 1
        return i < self.resume_from

    def wait(self, seconds: float) -> None:
        """Wait ``seconds`` (the lock-in settling), waking early and raising Aborted if the user stops the run.

        Sleeps in slices of at most 50 ms and spins for the last 2 ms: time.sleep overshoots short waits by a
        large fraction of a millisecond, which at short time constants would cost more than the settling.
        """
        end = time.perf_counter() + seconds
        while True:
            remaining = end - time.perf_counter()
            if remaining > 0.002:
                if self.should_stop():
                    raise Aborted()
                time.sleep(min(remaining - 0.0015, 0.05))
            elif remaining > 0:
                pass  # spin through the last 2 ms
            else:
                return

    def planned_moves(self) -> list[tuple[str, list[float]]]:
        """(gate name, values in order) of every gate move the run will make: for the dry run."""
        return []

    def check_planned(self, station: Station):
        """Check every planned value (gates, bias, virtual gates) against the station's limits before anything
        moves; returns the dry-run report (what would happen), raises listing every value that would break a
        limit."""
        from ..instruments.dryrun import dry_run

        return dry_run(station, self.planned_moves())

    def read_lockin(self, settle: bool = True) -> tuple[float, float]:
        """Wait for the lock-in to settle (from its time constant and slope), read X and Y together, then its
        overload status (every point: an overload that does not reach full scale, e.g. at the input, corrupts the
        reading too). On overload the sensitivity goes one step coarser, the filter settles again (to 1e-6: it
        remembers an unknown, large signal) and the point is read again (up to 6 times); an overload that
        auto-ranging cannot cure stops the run.
        """
        if settle:
            self.wait(self._settle_s)
        li = self.lab.lockin
        if self._combined_read:  # X, Y and the overload status in one program message (the per-point path)
            x, y, overloaded = li.read_xy_checked()
            return self._cure_overload(li, x, y) if overloaded else (x, y)
        return self.read_lockin_checked(li)

    def read_lockin_checked(self, li) -> tuple[float, float]:
        """Read X and Y of the lock-in ``li`` (already settled) with the overload check, auto-range and re-read
        that :meth:`read_lockin` describes; for procedures with several lock-ins (the Hall sweep)."""
        if hasattr(li, "read_xy_checked"):
            x, y, overloaded = li.read_xy_checked()
        else:
            x, y = li.read_xy()
            overloaded = li.overloaded()
        return self._cure_overload(li, x, y) if overloaded else (x, y)

    def _cure_overload(self, li, x: float, y: float) -> tuple[float, float]:
        """``li`` overloaded reading (x, y): auto-range, settle again, read again until it holds (see read_lockin)."""
        combined = hasattr(li, "read_xy_checked")
        overloaded, tries = True, 0
        while overloaded:
            if tries >= 6 or not hasattr(li, "sensitivity_up") or not li.sensitivity_up():
                from ..instruments.roles import InstrumentError

                raise InstrumentError(f"{getattr(li, 'name', 'lock-in')}: overload that auto-ranging cannot cure "
                                      f"(X = {x:g} V, Y = {y:g} V)")
            log.warning("%s overloaded: sensitivity now %g V; reading again", getattr(li, "name", "lock-in"),
                        li.sensitivity)
            # the filter remembers an unknown, large signal: wait until it has forgotten it to 1e-6
            self.wait(li.settle_time(1e-6))
            if combined:
                x, y, overloaded = li.read_xy_checked()
            else:
                x, y = li.read_xy()
                overloaded = li.overloaded()
            tries += 1
        return x, y


class LinearSweep(Sequence):
    """``n + 1`` equally spaced values from ``start`` to ``stop`` (inclusive), computed on demand: a 1e6-point plan
    costs no memory. Reversing (``sweep[::-1]``) gives the same values in the other order."""

    __slots__ = ("start", "stop", "n")

    def __init__(self, start: float, stop: float, n: int):
        self.start, self.stop, self.n = float(start), float(stop), int(n)

    def __len__(self) -> int:
        return self.n + 1

    def __getitem__(self, k):
        if isinstance(k, slice):
            if k == slice(None, None, -1):
                return ReversedSweep(self)
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if not 0 <= k <= self.n:
            raise IndexError(k)
        if k == self.n:
            return self.stop  # the end point exactly, whatever the rounding of the steps
        return self.start + (self.stop - self.start) * k / self.n

    def __iter__(self):
        a, d, n = self.start, self.stop - self.start, self.n
        for k in range(n):
            yield a + d * k / n
        yield self.stop

    def __repr__(self) -> str:
        return f"LinearSweep({self.start!r}, {self.stop!r}, {self.n + 1} points)"


class ReversedSweep(Sequence):
    """A sweep's values in reverse order (exactly the same floats)."""

    __slots__ = ("sweep",)

    def __init__(self, sweep: Sequence):
        self.sweep = sweep

    def __len__(self) -> int:
        return len(self.sweep)

    def __getitem__(self, k):
        if isinstance(k, slice):
            if k == slice(None, None, -1):
                return self.sweep
            return [self[i] for i in range(*k.indices(len(self)))]
        n = len(self.sweep)
        if k < 0:
            k += n
        return self.sweep[n - 1 - k]

    def __iter__(self):
        return reversed(self.sweep)


def linspace_points(start: float, stop: float, step: float) -> LinearSweep:
    """Points from start to stop (inclusive) at about ``step`` spacing (equal steps, never larger than ``step``
    by more than rounding); a lazy sequence."""
    if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
        raise ValueError(f"step {step!r} V must be a positive number")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ValueError(f"start {start!r} and stop {stop!r} must be finite numbers")
    n = max(1, int(round(abs(stop - start) / step)))
    return LinearSweep(start, stop, n)


class LockInProcedure(QPCProcedure):
    """A procedure that reads the conductance with the station's lock-in (and sets it up first)."""

    #: how the runner writes these columns (all others exactly as pymeasure does: the shortest repr of the float).
    #: The conductances are computed from X, which carries 7 significant digits: 12 keep all of them, and take
    #: half the time of a 17-digit repr at every point
    COLUMN_FORMATS = {"G (S)": "%.12g", "G/G0": "%.12g"}

    time_constant = FloatParameter("Lock-in time constant", units="s", default=0.001, minimum=1e-5, maximum=3e4)
    filter_slope = IntegerParameter("Lock-in filter slope", units="dB/oct", default=24, minimum=6, maximum=24)
    excitation = FloatParameter("Lock-in sine output", units="V", default=0.1, minimum=0.004, maximum=5.0)
    sensitivity = FloatParameter("Lock-in sensitivity", units="V", default=0.5, minimum=2e-9, maximum=1.0)
    settle_tolerance = FloatParameter("Settle to within", default=1e-3, minimum=1e-9, maximum=0.5)

    def check(self, station: Station) -> None:
        super().check(station)
        if self.filter_slope not in (6, 12, 18, 24):
            raise ValueError(f"filter slope {self.filter_slope} dB/oct is not one of 6, 12, 18, 24")
        if station.lockin is None:
            raise ValueError("the station has no lock-in (station.lockin)")

    def startup(self):
        super().startup()
        li = self.lab.lockin
        li.time_constant = self.time_constant
        li.filter_slope = self.filter_slope
        li.excitation_V = self.excitation
        li.sensitivity = self.sensitivity
        self._settle_s = li.settle_time(self.settle_tolerance)
        self._combined_read = hasattr(li, "read_xy_checked")
        self._amplitude = li.excitation_V  # read back: what the instrument really applies

    def conductance_point(self, row: dict | None = None) -> dict:
        """Settle, read X and Y, convert with the station's circuit: the columns every conductance row has, added
        to ``row`` (returned) or to a new dict."""
        x, y = self.read_lockin()
        g = self.station.circuit.conductance_S(x, self._amplitude)
        if row is None:
            return {"X (V)": x, "Y (V)": y, "G (S)": g, "G/G0": g / G0}
        row["X (V)"], row["Y (V)"], row["G (S)"], row["G/G0"] = x, y, g, g / G0
        return row

    def settle_seconds(self) -> float:
        from ..instruments.lockin_filter import order_for_slope, settle_time

        return settle_time(self.time_constant, order_for_slope(self.filter_slope), self.settle_tolerance)
