"""Suspenders: a run pauses while the fridge, the magnet or a lock-in cannot be trusted, then re-measures.

Conditions are checked between points by the executor, each at most every ``every_s`` seconds (a check costs
instrument queries; the cost of each is named in :meth:`Suspender.describe` and in the dry run):

==================  ============================================================  =====================================
condition           trips when                                                    clears when
==================  ============================================================  =====================================
mixing chamber      the thermometer reads above ``ceiling_K``                     it reads at or below ``resume_K``
magnet              the supply stops holding, or the field leaves its value at    holding again (if it held), within
                    the run's start by more than ``tolerance_T`` (a quench)       ``tolerance_T`` of that field
lock-in reference   a lock-in reports a reference unlock (LIA status bit 3)       no unlock reported
a reading           any instrument's query is above ``above`` / below ``below``   back within ``resume_above`` /
                                                                                  ``resume_below`` (default: the limit)
overload            an overload that auto-ranging cannot cure (``overload: true``) the lock-in reads without overload
==================  ============================================================  =====================================

When one trips, the run suspends: nothing is written, the outputs hold where they are (or ramp safely to the
``hold`` values, and back before measuring again), and every condition is polled. Once all of them have been
clear for ``settle_s`` the run continues from the first point it re-measures: the last ``remeasure`` points and
every point since the tripped condition was last seen clear. A suspension longer than ``max_s`` ends the run like
an abort. Each pause and each resume is a comment line of the run's file::

    #Suspended: 2026-12-04T21:03:11+0000 mixing chamber 0.31 K: above 0.1 K (resumes at or below 0.05 K);
    measuring again from plan point 41      (one line in the file)
    #Suspension over: 2026-12-04T21:03:40+0000 clear for 2 s (mixing chamber 0.049 K); measuring again from plan point 41

The rows after either line start at the plan point it names (:func:`~qpclab.procedures.writer.row_points`).

Configured in the station file (every key optional)::

    station:
      suspenders:
        mixing_chamber: {ceiling_K: 0.1, resume_K: 0.05, every_s: 1}   # false: off
        magnet: {tolerance_T: 0.001, every_s: 1}
        lockin_reference: {every_s: 1}
        overload: true
        readings:
          still: {instrument: fridge_ls372, query: "RDGK? 5", above: 1.2, resume_above: 1.0, every_s: 10}
        settle_s: 60
        remeasure: 1
        max_s: 14400
        hold: {gate: 0.0}

Without configuration a station with a thermometer has the mixing-chamber ceiling on, at twice the temperature
read at the run's start (at least 10 mK above it), resuming below the middle between the two. A plan that moves
the temperature (or the field) has no mixing-chamber (magnet) suspender: the plan itself changes what it watches.
"""

from __future__ import annotations

import abc
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..instruments.connect import Lab
from ..instruments.roles import InstrumentError
from ..instruments.station import Station, StationError
from .axes import FieldAxis, TemperatureAxis
from .plan import Plan

__all__ = ["Suspender", "SuspenderConfig", "Guard", "SuspensionTimeout", "config_for", "suspenders_for",
           "suspender_lines"]

_KEYS = {"mixing_chamber", "magnet", "lockin_reference", "overload", "readings", "settle_s", "remeasure", "max_s",
         "hold"}


class SuspensionTimeout(Exception):
    """A suspension lasted longer than the configured maximum: the run ends like an abort."""


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Suspender(abc.ABC):
    """One condition: :meth:`arm` once the station is connected, then :meth:`check` between points."""

    name = ""
    #: what one check costs, for the dry run
    cost = ""

    def __init__(self, every_s: float):
        self.every_s = every_s

    def arm(self, lab: Lab) -> None:
        """Read what the condition is relative to (the field held at the start, ...)."""

    @abc.abstractmethod
    def check(self, lab: Lab, tripped: bool) -> tuple[bool, str]:
        """(bad, the reading as text); ``tripped``: judge by the resume threshold (hysteresis)."""

    @abc.abstractmethod
    def limit(self) -> str:
        """The condition in words: "above 0.1 K (resumes at or below 0.05 K)"."""

    def describe(self) -> str:
        return f"{self.name}: {self.limit()}, checked every {self.every_s:g} s ({self.cost})"


class MixingChamberCeiling(Suspender):
    name = "mixing chamber"
    cost = "one temperature query"

    def __init__(self, ceiling_K: float | None, resume_K: float | None, every_s: float):
        super().__init__(every_s)
        self.ceiling_K, self.resume_K = ceiling_K, resume_K

    def arm(self, lab: Lab) -> None:
        if self.ceiling_K is None:
            start = lab.thermometer.read_temperature()
            self.ceiling_K = max(2.0 * start, start + 0.010)
            self.resume_K = 0.5 * (start + self.ceiling_K) if self.resume_K is None else self.resume_K
        if self.resume_K is None:
            self.resume_K = self.ceiling_K

    def check(self, lab: Lab, tripped: bool) -> tuple[bool, str]:
        kelvin = lab.thermometer.read_temperature()
        return kelvin > (self.resume_K if tripped else self.ceiling_K), f"{kelvin:.4g} K"

    def limit(self) -> str:
        if self.ceiling_K is None:
            return "above twice the start temperature (at least +10 mK)"
        return f"above {self.ceiling_K:g} K (resumes at or below {self.resume_K:g} K)"


class MagnetHolding(Suspender):
    name = "magnet"
    cost = "two queries: holding state and field"

    def __init__(self, tolerance_T: float, every_s: float):
        super().__init__(every_s)
        self.tolerance_T = tolerance_T
        self.field_T, self.holding = 0.0, False

    def arm(self, lab: Lab) -> None:
        self.holding = lab.magnet.is_holding()
        self.field_T = lab.magnet.read_field()

    def check(self, lab: Lab, tripped: bool) -> tuple[bool, str]:
        holding = lab.magnet.is_holding()
        field_T = lab.magnet.read_field()
        bad = abs(field_T - self.field_T) > self.tolerance_T or (self.holding and not holding)
        return bad, f"{field_T:.6g} T, {'holding' if holding else 'not holding'}"

    def limit(self) -> str:
        return f"not holding, or more than {self.tolerance_T:g} T from the field at the start"


class LockInReference(Suspender):
    name = "lock-in reference"
    cost = "one status query per lock-in"

    def check(self, lab: Lab, tripped: bool) -> tuple[bool, str]:
        unlocked = [label for label, li in lab.lockins.items() if li.reference_unlocked()]
        return bool(unlocked), (f"unlocked: {', '.join(unlocked)}" if unlocked else "locked")

    def limit(self) -> str:
        return "a lock-in reports a reference unlock"


class Overload(Suspender):
    """Tripped by the readout (an overload that auto-ranging cannot cure), not by a periodic check."""

    name = "overload"
    cost = "one query per lock-in, while suspended only"

    def __init__(self):
        super().__init__(math.inf)

    def check(self, lab: Lab, tripped: bool) -> tuple[bool, str]:
        if not tripped:
            return False, ""
        over = [label for label, li in lab.lockins.items() if li.overloaded()]
        return bool(over), (f"overloaded: {', '.join(over)}" if over else "cleared")

    def limit(self) -> str:
        return "beyond the largest full scale (the lock-in stays at the full scale it reached)"


class Reading(Suspender):
    cost = "one query"

    def __init__(self, name: str, instrument: str, query: str, above: float | None, below: float | None,
                 resume_above: float | None, resume_below: float | None, every_s: float):
        super().__init__(every_s)
        self.name, self.instrument, self.query = name, instrument, query
        self.above, self.below = above, below
        self.resume_above = above if resume_above is None else resume_above
        self.resume_below = below if resume_below is None else resume_below

    def check(self, lab: Lab, tripped: bool) -> tuple[bool, str]:
        reply = str(lab.instruments[self.instrument].driver.ask(self.query)).strip()
        try:
            value = float(reply.split(",")[0])
        except ValueError:
            raise InstrumentError(f"suspender {self.name}: {self.instrument} answered {self.query!r} with "
                                  f"{reply!r}, not a number") from None
        high = self.resume_above if tripped else self.above
        low = self.resume_below if tripped else self.below
        bad = not math.isfinite(value) or (high is not None and value > high) or (low is not None and value < low)
        return bad, f"{value:g}"

    def limit(self) -> str:
        parts = []
        if self.above is not None:
            parts.append(f"above {self.above:g} (resumes at or below {self.resume_above:g})")
        if self.below is not None:
            parts.append(f"below {self.below:g} (resumes at or above {self.resume_below:g})")
        return f"{self.instrument} {self.query!r} " + " or ".join(parts)


# ---- configuration ----------------------------------------------------------------------------------------------


@dataclass
class SuspenderConfig:
    """The station's ``suspenders`` section, checked (see the module docstring)."""

    mixing_chamber: dict[str, float | None] | None = None  #: None: off
    magnet: dict[str, float] | None = None
    lockin_reference: dict[str, float] | None = None
    overload: bool = False
    readings: dict[str, dict[str, Any]] = field(default_factory=dict)
    settle_s: float = 60.0
    remeasure: int = 1
    max_s: float = 4 * 3600.0
    hold: dict[str, float] = field(default_factory=dict)


def _number(station: Station, key: str, raw: Any, *, positive: bool = False, default: float | None = None) -> Any:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise StationError(station.path, key, f"{raw!r} is not a number")
    if raw < 0 or (positive and raw == 0):
        raise StationError(station.path, key, f"{raw!r} must be {'> 0' if positive else '>= 0'}")
    return float(raw)


def _section(station: Station, key: str, raw: Any, known: set[str]) -> dict | None:
    """A condition's mapping: ``false`` is off, ``true`` or ``{}`` on with defaults."""
    if raw is False:
        return None
    if raw is True or raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise StationError(station.path, key, f"expected a mapping, true or false, got {raw!r}")
    unknown = set(raw) - known
    if unknown:
        raise StationError(station.path, key, f"unknown key(s) {sorted(unknown)}; known keys are {sorted(known)}")
    return dict(raw)


def config_for(station: Station) -> SuspenderConfig:
    """The station's suspender configuration; StationError (naming the key) for anything it cannot use."""
    raw = station.suspenders
    where = "station.suspenders"
    unknown = set(raw) - _KEYS
    if unknown:
        raise StationError(station.path, where, f"unknown key(s) {sorted(unknown)}; known keys are {sorted(_KEYS)}")
    cfg = SuspenderConfig()
    if station.thermometer is not None or "mixing_chamber" in raw:
        d = _section(station, f"{where}.mixing_chamber", raw.get("mixing_chamber"),
                     {"ceiling_K", "resume_K", "every_s"})
        if d is not None:
            if station.thermometer is None:
                raise StationError(station.path, f"{where}.mixing_chamber", "the station has no thermometer")
            ceiling = _number(station, f"{where}.mixing_chamber.ceiling_K", d.get("ceiling_K"), positive=True)
            resume = _number(station, f"{where}.mixing_chamber.resume_K", d.get("resume_K"), positive=True)
            if ceiling is not None and resume is not None and resume > ceiling:
                raise StationError(station.path, f"{where}.mixing_chamber.resume_K",
                                   f"{resume:g} K is above the ceiling {ceiling:g} K")
            cfg.mixing_chamber = {"ceiling_K": ceiling, "resume_K": resume,
                                  "every_s": _number(station, f"{where}.mixing_chamber.every_s", d.get("every_s"),
                                                     default=1.0)}
    for name, needs, known in (("magnet", station.magnet, {"tolerance_T", "every_s"}),
                               ("lockin_reference", station.lockins, {"every_s"})):
        if name in raw:
            d = _section(station, f"{where}.{name}", raw[name], known)
            if d is not None:
                if not needs:
                    raise StationError(station.path, f"{where}.{name}", f"the station has no {name.split('_')[0]}")
                d = {k: _number(station, f"{where}.{name}.{k}", v, positive=(k == "tolerance_T")) for k, v in d.items()}
                d.setdefault("every_s", 1.0)
                if name == "magnet":
                    d.setdefault("tolerance_T", 1e-3)
                setattr(cfg, name, d)
    overload = raw.get("overload", False)
    if not isinstance(overload, bool):
        raise StationError(station.path, f"{where}.overload", f"{overload!r} is not true or false")
    cfg.overload = overload
    readings = raw.get("readings") or {}
    if not isinstance(readings, Mapping):
        raise StationError(station.path, f"{where}.readings", "expected a mapping of name -> {instrument, query, ...}")
    for name, item in readings.items():
        key = f"{where}.readings.{name}"
        d = _section(station, key, item, {"instrument", "query", "above", "below", "resume_above", "resume_below",
                                          "every_s"}) or {}
        if d.get("instrument") not in station.instruments:
            raise StationError(station.path, f"{key}.instrument",
                               f"{d.get('instrument')!r} is not one of the station's instruments "
                               f"{sorted(station.instruments)}")
        if not isinstance(d.get("query"), str) or not d["query"].strip():
            raise StationError(station.path, f"{key}.query", "missing: the instrument's query, e.g. \"RDGK? 5\"")
        if d.get("above") is None and d.get("below") is None:
            raise StationError(station.path, key, "give a limit: above, below or both")
        limits = {k: (None if d.get(k) is None else _signed(station, f"{key}.{k}", d[k]))
                  for k in ("above", "below", "resume_above", "resume_below")}
        cfg.readings[str(name)] = {"instrument": d["instrument"], "query": d["query"].strip(), **limits,
                                   "every_s": _number(station, f"{key}.every_s", d.get("every_s"), default=1.0)}
    cfg.settle_s = _number(station, f"{where}.settle_s", raw.get("settle_s"), default=cfg.settle_s)
    cfg.max_s = _number(station, f"{where}.max_s", raw.get("max_s"), positive=True, default=cfg.max_s)
    remeasure = raw.get("remeasure", cfg.remeasure)
    if isinstance(remeasure, bool) or not isinstance(remeasure, int) or remeasure < 0:
        raise StationError(station.path, f"{where}.remeasure", f"{remeasure!r} is not a number of points (0, 1, ...)")
    cfg.remeasure = remeasure
    hold = raw.get("hold") or {}
    if not isinstance(hold, Mapping):
        raise StationError(station.path, f"{where}.hold", "expected a mapping of output -> value (V)")
    outputs = station.outputs()
    for name, value in hold.items():
        if name not in outputs:
            raise StationError(station.path, f"{where}.hold.{name}", f"{name!r} is not one of the station's outputs "
                               f"{sorted(outputs)}")
        volts = _signed(station, f"{where}.hold.{name}", value)
        try:
            outputs[name].check(volts)
        except ValueError as exc:
            raise StationError(station.path, f"{where}.hold.{name}", str(exc)) from None
        cfg.hold[str(name)] = volts
    return cfg


def _signed(station: Station, key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise StationError(station.path, key, f"{raw!r} is not a number")
    return float(raw)


def _plan_moves(plan: Plan, kind: type) -> bool:
    return isinstance(plan.fast, kind) or any(isinstance(m.axis, kind) for m in plan.line(0).moves)


def suspenders_for(plan: Plan, station: Station, cfg: SuspenderConfig) -> tuple[list[Suspender], list[str]]:
    """(the active suspenders for ``plan``, notes on the ones the plan switches off)."""
    active: list[Suspender] = []
    notes: list[str] = []
    if cfg.mixing_chamber is not None:
        if _plan_moves(plan, TemperatureAxis):
            notes.append("mixing chamber: off (the plan moves the temperature)")
        else:
            active.append(MixingChamberCeiling(**cfg.mixing_chamber))
    if cfg.magnet is not None:
        if _plan_moves(plan, FieldAxis):
            notes.append("magnet: off (the plan moves the field)")
        else:
            active.append(MagnetHolding(**cfg.magnet))
    if cfg.lockin_reference is not None:
        active.append(LockInReference(**cfg.lockin_reference))
    for name, d in cfg.readings.items():
        active.append(Reading(name, **d))
    if cfg.overload:
        active.append(Overload())
    return active, notes


def suspender_lines(plan: Plan, station: Station) -> list[str]:
    """The dry run's lines: one per active suspender, one per switched-off one, then what a suspension does."""
    cfg = config_for(station)
    active, notes = suspenders_for(plan, station, cfg)
    lines = [s.describe() for s in active] + notes
    if active:
        hold = ", ".join(f"{k} to {v:g} V" for k, v in cfg.hold.items()) or "outputs hold where they are"
        lines.append(f"on a trip: {hold}; resume after {cfg.settle_s:g} s clear, measuring the last "
                     f"{cfg.remeasure} point(s) again; end the run after {cfg.max_s:g} s suspended")
    return lines


# ---- the guard: checks between points, the suspension ----------------------------------------------------------


@dataclass
class Trip:
    suspender: Suspender
    reading: str


class Guard:
    """The executor's side of the suspenders: :meth:`check` between points (cheap when nothing is due),
    :meth:`suspend` when one tripped (hold, wait until clear for the settling time, report, restore)."""

    def __init__(self, cfg: SuspenderConfig, suspenders: list[Suspender], lab: Lab, start_point: int):
        self.cfg, self.suspenders, self.lab = cfg, suspenders, lab
        self.periodic = [s for s in suspenders if math.isfinite(s.every_s)]
        now = time.monotonic()
        self._due = {s: now + s.every_s for s in self.periodic}
        self._clear_at = {s: start_point for s in suspenders}  #: plan point count when last seen clear
        self.next_at = min(self._due.values(), default=math.inf)  #: the executor calls check() from then on
        self.overload = next((s for s in suspenders if isinstance(s, Overload)), None)
        for s in suspenders:
            s.arm(lab)

    def check(self, point: int) -> Trip | None:
        """Run the checks that are due after ``point`` points; the first that trips, or None."""
        now = time.monotonic()
        for s in self.periodic:
            if now >= self._due[s]:
                bad, reading = s.check(self.lab, False)
                self._due[s] = time.monotonic() + s.every_s
                if bad:
                    self.next_at = min(self._due.values())
                    return Trip(s, reading)
                self._clear_at[s] = point
        self.next_at = min(self._due.values(), default=math.inf)
        return None

    def redo_from(self, trip: Trip, point: int) -> int:
        """The first plan point to measure again: the last ``remeasure`` and all since the condition was clear."""
        clear = self._clear_at[trip.suspender] if trip.suspender in self._due else point  # overload: this point
        return max(0, min(point - self.cfg.remeasure, clear))

    def suspend(self, trip: Trip, point: int, control, note: Callable[[str, str], None], floor: int = 0) -> int:
        """Hold until every condition has been clear for ``settle_s`` (or the user resumes); returns the plan
        point to continue from (not before ``floor``: an adaptive line measures only its own points again).
        Raises Aborted (stop), SuspensionTimeout (longer than ``max_s``)."""
        redo = max(floor, self.redo_from(trip, point))
        what = f"{trip.suspender.name} {trip.reading}: {trip.suspender.limit()}"
        line = f"{_stamp()} {what}; measuring again from plan point {redo}"
        note("Suspended", line)
        control.event(f"Suspended: {line}")
        control.suspend(f"suspended: {trip.suspender.name} {trip.reading}")
        started = time.monotonic()
        order = list(self.suspenders)
        tripped = {trip.suspender}
        held = self._hold(control)
        poll = min(0.5, max(0.02, self.cfg.settle_s / 10))
        clear_since: float | None = None
        readings: dict[Suspender, str] = {trip.suspender: trip.reading}
        bad: list[Suspender] = [trip.suspender]
        try:
            while True:
                now = time.monotonic()
                if control.resume_requested():
                    why = "resumed by the user"
                    if bad:  # the user trusts the station: what is still tripped stays off for this run
                        why += "; off for the rest of the run: " + ", ".join(s.name for s in bad)
                        self._switch_off(bad)
                    break
                if now - started > self.cfg.max_s:
                    raise SuspensionTimeout(f"suspended longer than {self.cfg.max_s:g} s: {what}")
                bad = []
                for s in self.suspenders:
                    if s is self.overload and s not in tripped:
                        continue
                    is_bad, readings[s] = s.check(self.lab, s in tripped)
                    if is_bad:
                        bad.append(s)
                tripped.update(bad)
                if bad:
                    clear_since = None
                    control.suspend("suspended: " + "; ".join(f"{s.name} {readings[s]}" for s in bad))
                elif clear_since is None:
                    clear_since = now
                    control.suspend(f"suspended: clear, settling {self.cfg.settle_s:g} s")
                if clear_since is not None and now - clear_since >= self.cfg.settle_s:
                    why = f"clear for {self.cfg.settle_s:g} s"
                    break
                end = time.monotonic() + poll
                while time.monotonic() < end and not control.resume_requested():
                    control.wait(min(0.05, max(0.0, end - time.monotonic())))
            self._restore(held, control)
        finally:
            control.suspend("")
        shown = "; ".join(f"{s.name} {readings[s]}" for s in sorted(tripped, key=order.index))
        line = (f"{_stamp()} {why} ({shown}) after {time.monotonic() - started:.1f} s; "
                f"measuring again from plan point {redo}")
        note("Suspension over", line)
        control.event(f"Suspension over: {line}")
        now = time.monotonic()
        self._due = {s: now for s in self.periodic}  # check all at the first point after the resume
        self._clear_at.update({s: redo for s in self.suspenders})
        self.next_at = now if self.periodic else math.inf
        return redo

    def _switch_off(self, suspenders: list[Suspender]) -> None:
        self.suspenders = [s for s in self.suspenders if s not in suspenders]
        self.periodic = [s for s in self.periodic if s not in suspenders]
        for s in suspenders:
            self._due.pop(s, None)
        if self.overload in suspenders:
            self.overload = None

    def _outputs(self):
        return {name: (self.lab.bias if name == "bias" else self.lab.gates[name]) for name in self.cfg.hold}

    def _hold(self, control) -> dict[str, float]:
        """Ramp the ``hold`` outputs to their hold values (safely); returns where they were."""
        was = {}
        for name, gate in self._outputs().items():
            was[name] = gate.read()
            gate.ramp_to(self.cfg.hold[name], should_stop=control.should_stop)
        return was

    def _restore(self, held: Mapping[str, float], control) -> None:
        outputs = self._outputs()
        for name, volts in held.items():
            outputs[name].ramp_to(volts, should_stop=control.should_stop)
