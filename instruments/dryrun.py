"""Dry run: check a whole procedure's planned moves against the station's limits before anything moves.

    report = dry_run(station, [("gate", [-1.4, -1.398, ...]), ("split", [...]), ("magnet", [0.0, 1.0])])
    print("\\n".join(report))

``moves`` lists, in the order the procedure makes them, each output's name and the values it will be set to:
a physical gate or ``"bias"`` (V), a virtual gate (V, see :mod:`qpclab.instruments.virtual_gates`), ``"magnet"``
(T) or ``"thermometer"`` (set points, K). Nothing is opened: outputs start from the values in ``start`` (e.g. read
back by the caller) or, if unknown, from their safe values (the magnet from 0 T). Every value is checked; if any
would break a limit, :class:`DryRunError` lists all of them at once. Otherwise the report gives, per output, its
start, the range it covers, the number of steps its ramps take (within its ``step``) and the ramp time at its
``rate`` (settling and measuring time are the procedure's to add), and the return to the end values after a
normal end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .gates import ramp_plan, ramp_plan_multi
from .station import OutputSpec, Station

__all__ = ["dry_run", "DryRunError", "DryRunReport", "OutputPlan"]


class DryRunError(ValueError):
    """Planned moves that would break the station's limits; ``problems`` lists every one."""

    def __init__(self, station: Station, problems: list[str]):
        self.problems = problems
        where = str(station.path) if station.path else station.name
        super().__init__(f"dry run against {where}: {len(problems)} planned value(s) would break a limit; "
                         "nothing was moved:\n  " + "\n  ".join(problems))


@dataclass
class OutputPlan:
    """What one output would do: start, covered range, steps and ramp time."""

    name: str
    unit: str
    start: float
    start_known: bool
    low: float = math.inf
    high: float = -math.inf
    steps: int = 0
    ramp_s: float = 0.0
    end: float | None = None  #: where it goes after a normal end (gates and bias)
    end_steps: int = 0
    end_s: float = 0.0

    def visit(self, value: float) -> None:
        self.low, self.high = min(self.low, value), max(self.high, value)

    def line(self) -> str:
        origin = "read back" if self.start_known else ("its safe value; not read" if self.unit == "V"
                                                         else "assumed; not read")
        text = (f"{self.name}: start {self.start:g} {self.unit} ({origin}), range [{self.low:g}, {self.high:g}] "
                f"{self.unit}, {self.steps} steps, ramps about {_duration(self.ramp_s)}")
        if self.end is not None:
            text += f"; then to its end value {self.end:g} {self.unit} ({self.end_steps} steps, {_duration(self.end_s)})"
        return text


class DryRunReport(list):
    """The report's human-readable lines (a list of str), with ``outputs`` (name -> :class:`OutputPlan`) and
    ``ramp_s`` (total ramp time, s, outputs moving one after the other)."""

    def __init__(self, lines: Iterable[str], outputs: dict[str, OutputPlan], ramp_s: float):
        super().__init__(lines)
        self.outputs = outputs
        self.ramp_s = ramp_s

    def __str__(self) -> str:
        return "\n".join(self)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def dry_run(station: Station, moves: Sequence[tuple[str, Iterable[float]]],
            start: Mapping[str, float] | None = None) -> DryRunReport:
    """Check ``moves`` (output name, values in order) against every limit; return the report or raise
    :class:`DryRunError` listing every value that would break a limit. Opens nothing, moves nothing."""
    start = dict(start or {})
    physical: dict[str, OutputSpec] = station.outputs()
    now: dict[str, float] = {}
    plans: dict[str, OutputPlan] = {}
    problems: list[str] = []

    def plan_for(name: str, unit: str, default: float) -> OutputPlan:
        if name not in plans:
            known = name in start
            value = float(start[name]) if known else default
            plans[name] = OutputPlan(name, unit, value, known)
            now[name] = value
        return plans[name]

    for name in start:
        if name not in physical and name not in station.virtual_gates and name not in ("magnet", "thermometer"):
            problems.append(f"start: {name!r} is not an output of the station")
    for g in physical:  # a virtual gate's projection needs every physical start value
        plan_for(g, "V", physical[g].safe)
        if g in start:
            try:
                physical[g].check(float(start[g]))
            except ValueError as exc:
                problems.append(f"start: {exc} (bring it back by hand first)")
    touched: list[str] = []

    def touch(name: str) -> None:
        if name not in touched:
            touched.append(name)

    count = 0
    total = 0.0
    for m, move in enumerate(moves):
        try:
            name, values = move
        except (TypeError, ValueError):
            problems.append(f"move {m}: {move!r} is not a pair (output name, values)")
            continue
        values = values if isinstance(values, Sequence) else list(values)  # lazy sweeps stay lazy
        count += len(values)
        if name in physical:
            spec = physical[name]
            plan = plan_for(name, "V", spec.safe)
            touch(name)
            for i, v in enumerate(values):
                try:
                    spec.check(v)
                except ValueError as exc:
                    problems.append(f"move {m} ({name}) point {i}: {exc}")
                    continue
                plan.steps += len(ramp_plan(now[name], v, spec.step))
                plan.ramp_s += abs(v - now[name]) / spec.rate
                total += abs(v - now[name]) / spec.rate
                now[name] = v
                plan.visit(v)
        elif name in station.virtual_gates:
            vspec = station.virtual_gates[name]
            if name not in plans:
                plans[name] = OutputPlan(name, "V", vspec.value_of(now),
                                         all(g in start for g in vspec.coefficients))
            vplan = plans[name]
            touch(name)
            for i, v in enumerate(values):
                if not isinstance(v, (int, float)) or not math.isfinite(v):
                    problems.append(f"move {m} ({name}) point {i}: {v!r} V is not a finite number")
                    continue
                targets = vspec.physical_targets(v, now)
                bad = []
                for g, t in targets.items():
                    try:
                        physical[g].check(t)
                    except ValueError as exc:
                        bad.append(str(exc))
                if bad:
                    lo, hi = vspec.limits_at(now, physical)
                    problems.append(f"move {m} ({name}) point {i}: {name} = {v:g} V would take " + "; ".join(bad)
                                    + f" (from there {name} can go from {lo:g} to {hi:g} V)")
                    continue
                steps = ramp_plan_multi({g: now[g] for g in targets}, targets,
                                        {g: physical[g].step for g in targets})
                n = max((len(p) for p in steps.values()), default=0)
                seconds = max(abs(t - now[g]) / physical[g].rate for g, t in targets.items())
                vplan.steps += n
                vplan.ramp_s += seconds
                total += seconds
                for g, t in targets.items():
                    plans[g].steps += n
                    plans[g].ramp_s += abs(t - now[g]) / physical[g].rate
                    now[g] = t
                    plans[g].visit(t)
                    touch(g)
                vplan.visit(v)
        elif name == "magnet" and station.magnet is not None:
            mag = station.magnet
            plan = plan_for("magnet", "T", 0.0)
            touch(name)
            for i, b in enumerate(values):
                try:
                    mag.check(b)
                except ValueError as exc:
                    problems.append(f"move {m} (magnet) point {i}: {exc}")
                    continue
                plan.steps += 1 if b != now["magnet"] else 0
                plan.ramp_s += abs(b - now["magnet"]) / mag.rate_T_per_s
                total += abs(b - now["magnet"]) / mag.rate_T_per_s
                now["magnet"] = b
                plan.visit(b)
        elif name in ("thermometer", "temperature") and station.thermometer is not None:
            th = station.thermometer
            plan = plan_for("thermometer", "K", th.limits_K[0])
            touch("thermometer")
            for i, k in enumerate(values):
                try:
                    th.check(k)
                except ValueError as exc:
                    problems.append(f"move {m} (thermometer) point {i}: {exc}")
                    continue
                plan.steps += 1 if k != now["thermometer"] else 0
                now["thermometer"] = k
                plan.visit(k)
        else:
            known = sorted(physical) + sorted(station.virtual_gates) + [
                n for n, have in (("magnet", station.magnet), ("thermometer", station.thermometer)) if have]
            problems.append(f"move {m}: {name!r} is not an output of the station; it has {known}")
    if problems:
        raise DryRunError(station, problems)

    lines = [f"dry run against {station.path or station.name}: {count} planned values, all within the limits"]
    for name in touched:
        plan = plans[name]
        if name in physical:
            spec = physical[name]
            plan.end = spec.end
            plan.end_steps = len(ramp_plan(now[name], spec.end, spec.step))
            plan.end_s = abs(spec.end - now[name]) / spec.rate
            total += plan.end_s
        lines.append(plan.line())
    lines.append(f"total ramp time about {_duration(total)} (gates one after another; settling and measuring not "
                 "included)")
    return DryRunReport(lines, {n: plans[n] for n in touched}, total)
