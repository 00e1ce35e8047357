"""The dry run: walk a plan without instruments, check every value against the limits, estimate the run time.

It walks the very :class:`~qpclab.procedures.plan.Plan` the executor runs, and answers at once for any plan (a
trillion-point request is refused by the plan itself; an allowed plan of 1e8 points is checked in well under a
second with constant memory):

- **Limits.** Every line's values are a linear sweep and the slow values are monotonic, so every value a plan visits
  lies between the values of its first two and last two lines: those lines' moves and the ends of their sweeps go
  through the instrument-level check (:func:`qpclab.instruments.dryrun.dry_run`), which follows virtual gates
  through their physical gates, from the outputs' safe values (``start`` unknown) or read-back values (the
  executor checks again after connecting, before anything moves).
- **Time.** Per point the settling (from the lock-in's time constant and slope), the reading (noise averages) and
  a small software overhead, or the fast axis's step time at its rate if that is longer (a buffered plan: the
  list's dwell, and :data:`BUFFERED_LINE_S` per line); per line the slow moves at
  their rates (magnet: ramp until holding; mixing chamber: the station's thermal time constant until within the
  tolerance); at the ends the ramps from and to the safe values. Lines beyond the first :data:`WALK_LINES` are
  estimated from the average of the walked ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..instruments.dryrun import DryRunReport, dry_run
from ..instruments.station import Station
from .plan import Plan
from .suspenders import suspender_lines

__all__ = ["check_limits", "plan_report", "PlanReport", "WALK_LINES", "POINT_OVERHEAD_S", "STARTUP_S",
           "BUFFERED_LINE_S"]

#: lines whose time is computed one by one; the rest are estimated from their average
WALK_LINES = 2000
#: software and bus time per point beyond the settling (the simulated lab: ~0.2 ms; GPIB adds its latency)
POINT_OVERHEAD_S = 3e-4
#: connecting and setting up the instruments
STARTUP_S = 0.3
#: a buffered line's exchanges beyond its list (arm, upload, start, buffer read; GPIB)
BUFFERED_LINE_S = 0.02


def _limit_lines(plan: Plan) -> list[int]:
    n = plan.n_lines
    return sorted({0, 1, n - 2, n - 1} & set(range(n)))


def check_limits(plan: Plan, station: Station, start: Mapping[str, float] | None = None) -> DryRunReport:
    """Check every value ``plan`` visits against the station's limits (see the module docstring); returns the
    instrument-level report or raises :class:`~qpclab.instruments.dryrun.DryRunError` listing every problem."""
    moves: list[tuple[str, list[float]]] = []
    fast = plan.fast.output
    for k in _limit_lines(plan):
        line = plan.line(k)
        values = line.values
        if plan.fast_first:
            moves.append((fast, [values[0]]))
        moves += [(m.axis.output, [m.value]) for m in line.moves]
        moves.append((fast, [values[0], values[-1]] if len(values) > 1 else [values[0]]))
    return dry_run(station, moves, start)


@dataclass
class PlanReport:
    """The dry run's answer: the limit report's lines, the points, the estimated run time (s) and its parts."""

    limits: DryRunReport
    points: int
    lines: int
    settle_s: float
    estimate_s: float
    parts: dict[str, float]
    suspenders: list[str] = field(default_factory=list)  #: a line per active suspender (and switched-off ones)

    def text(self) -> str:
        out = [f"{len(self.limits.outputs)} output(s), every planned value within the limits:"]
        for o in self.limits.outputs.values():
            origin = "read back" if o.start_known else "assumed: its safe value" if o.unit == "V" else "assumed"
            out.append(f"  {o.name}: from {o.start:g} {o.unit} ({origin}) over [{o.low:g}, {o.high:g}] {o.unit}")
        out.append(f"  {self.points} points in {self.lines} line(s); settling {self.settle_s * 1e3:.3g} ms per point")
        parts = ", ".join(f"{name} {_duration(s)}" for name, s in self.parts.items() if s > 0)
        out.append(f"  estimated run time: {_duration(self.estimate_s)} ({parts})")
        out += [f"  suspender {line}" for line in self.suspenders]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} days"


def _initial_state(station: Station, start: Mapping[str, float] | None) -> dict[str, float]:
    state = {name: spec.safe for name, spec in station.outputs().items()}
    state["magnet"] = 0.0
    if station.thermometer is not None:
        state["thermometer"] = station.thermometer.limits_K[0]
    state.update(start or {})
    return state


def _value(state: dict[str, float], station: Station, output: str) -> float:
    """An output's present value in the walk; a virtual gate's from its physical gates."""
    if output in state:
        return state[output]
    return station.virtual_gates[output].value_of(state)


def _set(state: dict[str, float], station: Station, output: str, value: float) -> None:
    if output in station.virtual_gates:
        state.update(station.virtual_gates[output].physical_targets(value, state))
    else:
        state[output] = value


def plan_report(plan: Plan, station: Station, start: Mapping[str, float] | None = None) -> PlanReport:
    """Check ``plan`` against the limits and estimate its run time (see the module docstring)."""
    limits = check_limits(plan, station, start)
    readout = plan.readout
    settle = readout.planned_settle_s()
    per_point = settle + readout.planned_read_s() + POINT_OVERHEAD_S
    per_line = 0.0
    if plan.buffered is not None:  # hardware-timed: the list's dwell per point, a few exchanges per line
        per_point, per_line = settle, BUFFERED_LINE_S
    state = _initial_state(station, start)
    fast, out = plan.fast, plan.fast.output
    parts = {"start-up": STARTUP_S, "moves between lines": 0.0, "points": 0.0, "return to end values": 0.0}
    walked = min(plan.n_lines, WALK_LINES)
    walked_s = 0.0
    for k in range(walked):
        line = plan.line(k)
        values = line.values
        t = 0.0
        if plan.fast_first:
            t += fast.estimate_s(_value(state, station, out), values[0])
            _set(state, station, out, values[0])
        for m in line.moves:
            t += m.axis.estimate_s(_value(state, station, m.axis.output), m.value)
            _set(state, station, m.axis.output, m.value)
        parts["moves between lines"] += t
        # the first point ramps from wherever the axis is; the others step at the axis's rate
        points = fast.estimate_s(_value(state, station, out), values[0]) + per_point
        if len(values) > 1:
            step = fast.estimate_s(values[0], values[1])
            points += (len(values) - 1) * max(per_point, step)
        _set(state, station, out, values[-1])
        points += per_line
        parts["points"] += points
        walked_s += t + points
    if plan.n_lines > walked:
        scale = (plan.n_lines - walked) / walked
        parts["moves between lines"] *= 1 + scale
        parts["points"] *= 1 + scale
    for name, spec in station.outputs().items():
        if name in state:
            parts["return to end values"] += abs(state[name] - spec.end) / spec.rate
    return PlanReport(limits, plan.n_points, plan.n_lines, settle, sum(parts.values()), parts,
                      suspender_lines(plan, station))

