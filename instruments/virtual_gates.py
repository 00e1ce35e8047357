"""Virtual gates: a linear combination of physical gates, swept like one gate, within every physical gate's envelope.

A :class:`VirtualGate` has :class:`~qpclab.instruments.gates.SafeGate`'s interface (``name``, ``read``, ``check``,
``ramp_to``, ``ramp_duration``), so a procedure sweeps ``split`` (both halves of a split gate together) or
``asym`` (their difference) as it sweeps a single gate. The definition (station file ``virtual_gates:``) and the
arithmetic are in :class:`~qpclab.instruments.station.VirtualGateSpec`:

- its value is ``sum(c_i p_i) / sum(c_i^2)`` of the physical values ``p_i`` read back from the instruments;
- moving it by ``dv`` moves every physical gate ``i`` by ``c_i dv``;
- every physical target is checked against that gate's limits before the first write;
- every physical value is what that gate's instrument will hold (its quantisation, as a physical ramp plans),
  and a target within one resolution of a limit (the rounding of the values read back, or of the arithmetic) is
  the limit itself;
- all physical gates move together in ``n`` common steps, with ``n`` large enough that every physical step is
  within its gate's ``step`` after quantisation; every write waits until its own gate's rate allows it (each physical gate keeps its
  own timing, so no rate is exceeded even when the writes of one step are not simultaneous);
- ``should_stop`` is polled between common steps, so an interrupted ramp leaves every physical gate at the same
  step of the common plan.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from .gates import GateLimitError, RampInterrupted, SafeGate, ramp_plan_multi
from .station import VirtualGateSpec

__all__ = ["VirtualGate"]


class VirtualGate:
    """A virtual gate over the :class:`SafeGate` objects of its physical gates (by name)."""

    def __init__(self, spec: VirtualGateSpec, gates: Mapping[str, SafeGate]):
        missing = sorted(set(spec.coefficients) - set(gates))
        if missing:
            raise ValueError(f"virtual gate {spec.name}: physical gate(s) {missing} are not connected")
        self.spec = spec
        self.physical: dict[str, SafeGate] = {g: gates[g] for g in spec.coefficients}

    @property
    def name(self) -> str:
        return self.spec.name

    def read_physical(self) -> dict[str, float]:
        """Every physical gate's value, read back from its instrument and checked against its limits (V)."""
        return {g: gate.read_checked() for g, gate in self.physical.items()}

    def read(self) -> float:
        """The virtual value (V), from the physical values read back from the instruments."""
        return self.spec.value_of({g: gate.read() for g, gate in self.physical.items()})

    def targets(self, value: float, physical: Mapping[str, float] | None = None) -> dict[str, float]:
        """Where every physical gate would go (V) for the virtual value ``value``, refused with
        :class:`GateLimitError` (naming every offending gate) if any leaves its limits."""
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise GateLimitError(f"{self.name}: {value!r} V is not a finite number")
        physical = self.read_physical() if physical is None else dict(physical)
        targets = self.spec.physical_targets(value, physical)
        # within the instrument's resolution (or floating-point noise, 0.30000000000000004 for 0.3) of a limit is
        # the limit: the values read back carry the instruments' rounding, so a virtual value that put a gate at
        # its limit from the dry run's start can land a rounding beyond it from the values reached later
        for g, v in targets.items():
            gate = self.physical[g]
            lo, hi = gate.spec.limits
            for edge in (lo, hi):
                slack = max(8 * math.ulp(max(abs(v), abs(edge), 1.0)), gate.source.resolution(edge))
                if v != edge and abs(v - edge) <= slack:
                    targets[g] = edge
        problems = []
        for g, v in targets.items():
            try:
                self.physical[g].check(v)
            except GateLimitError as exc:
                problems.append(str(exc))
        if problems:
            lo, hi = self.spec.limits_at(physical, {g: gate.spec for g, gate in self.physical.items()})
            raise GateLimitError(f"{self.name} = {value:g} V would take " + "; ".join(problems)
                                 + f" (from here {self.name} can go from {lo:g} to {hi:g} V)")
        return targets

    def check(self, value: float) -> None:
        """Refuse a virtual value that would take any physical gate (from where it is now) outside its limits."""
        self.targets(value)

    def ramp_to(self, target: float, should_stop: Callable[[], bool] | None = None) -> float:
        """Ramp to the virtual value ``target`` (V); return the value reached.

        Raises :class:`GateLimitError` before anything moves if any physical gate would leave its limits (or is
        outside them now), :class:`RampInterrupted` (with the virtual value reached) if ``should_stop()`` became
        true between two steps.
        """
        start = self.read_physical()
        targets = self.targets(target, start)
        targets = {g: self.physical[g].quantized(v) for g, v in targets.items()}
        plans = ramp_plan_multi(start, targets, {g: gate.spec.step for g, gate in self.physical.items()},
                                {g: gate.quantized for g, gate in self.physical.items()},
                                {g: gate.source.resolution for g, gate in self.physical.items()})
        n = max((len(p) for p in plans.values()), default=0)
        now = dict(start)
        for k in range(n):
            if should_stop is not None and should_stop():
                raise RampInterrupted(self.name, self.spec.value_of(now))
            for g, gate in self.physical.items():
                plan = plans[g]
                if not plan:
                    continue
                gate._write_step(now[g], plan[k])
                now[g] = plan[k]
        return self.spec.value_of(now)

    def ramp_duration(self, start: float, target: float) -> float:
        """Seconds a virtual ramp from ``start`` to ``target`` takes at the physical gates' rates."""
        return abs(target - start) / self.spec.rate

    def __repr__(self) -> str:
        terms = " + ".join(f"{c:g}*{g}" for g, c in self.spec.coefficients.items())
        return f"VirtualGate({self.name}: moves {terms})"
