"""Gate safety: the one place where qpclab moves a gate (or the bias line).

Rules, each enforced here and nowhere else:

1. Every move is checked against the gate's limits *before the first write* (a target outside is refused).
2. Every move starts from the value read back from the instrument, never from a cache.
3. A move is made in steps no larger than the gate's ``step``, at no more than its ``rate`` (the time between
   two writes is at least |change| / rate, counted from the end of the previous write, also when that write
   ended in an exception such as Ctrl-C: the instrument may have taken the value).
4. A ramp can be interrupted between steps (``should_stop``); the gate stays at the last step it reached.
5. Every write is watched for compliance (the source's current limit holding the output: a leaking gate): the
   write that finds it raises :class:`~qpclab.instruments.roles.ComplianceError` and nothing more is written by
   that move. Inside a sweep the level and the compliance flag travel in one exchange
   (:meth:`~qpclab.instruments.roles.VoltageSource.write_voltage_watched`: one reply more per point); outside,
   after the checked write, one query. Only the way to the safe value goes on in compliance (it lowers the
   current), reporting it. Cost, measured on the simulated lab (bench station, 1000-point sweep, no settling):
   71 us per point unwatched, 98 us with the watched write, 97 us with ``sweeping(checked_per_point=True)`` plus
   :meth:`~qpclab.instruments.connect.Lab.check_compliance` for gate and bias (one tripped-flag query each). A
   serial poll of the measurement-event summary would save the message parsing at the fridge, but the status
   byte of the simulated Keithley 2400 does not report compliance, so the query is what the tests can witness.
6. :func:`safe_state` brings every gate to its safe (or end) value at safe rates, whatever happened before.

Every write goes through ``SafeGate._write_step``, which checks the limits and the step once more right before
writing; :class:`~qpclab.instruments.virtual_gates.VirtualGate` writes its physical gates through it too.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from .roles import ComplianceError, InstrumentError, VoltageSource
from .station import OutputSpec

log = logging.getLogger(__name__)

__all__ = ["SafeGate", "RampInterrupted", "GateLimitError", "ramp_plan", "ramp_plan_multi", "safe_state", "STEP_TOLERANCE",
           "restore_safe_state"]


#: relative floating-point slack on a gate's step: binary rounding of decimal values (1e-9 of a 2 mV step is
#: 2 fV, far below any source's resolution)
STEP_TOLERANCE = 1e-9


class GateLimitError(ValueError):
    """A requested gate value, or the gate's present value, is outside the gate's limits."""


class RampInterrupted(RuntimeError):
    """A ramp was stopped between steps; ``value`` is where the gate is now (V)."""

    def __init__(self, gate: str, value: float):
        super().__init__(f"ramp of {gate} interrupted at {value:g} V")
        self.gate = gate
        self.value = value


def ramp_plan(start: float, target: float, step: float, quantize: Callable[[float], float] | None = None,
              resolution: Callable[[float], float] | None = None) -> list[float]:
    """The values a ramp writes from ``start`` to ``target`` (excluding start): equal steps no larger than ``step``.

    The plan is checked as floating-point numbers: no difference between consecutive values (start included)
    exceeds ``step`` by more than floating-point rounding (:data:`STEP_TOLERANCE`, relative): 0.01 V in steps
    of 0.002 V is 5 steps, even though -0.49 - (-0.5) is 0.010000000000000009 in binary.

    ``quantize`` maps a value to what the instrument will really hold (its command format or DAC resolution,
    e.g. pymeasure's Keithley 2400 writes 6 significant digits: 10 uV steps above 1 V); the plan is made of
    such values and checked after quantisation, so rounding can never make a step larger than ``step``.
    ``resolution`` gives the instrument's smallest change near a value (V): a step finer than twice it is
    refused (rounding moves each value by up to half a resolution, so a step can grow by one resolution).
    """
    if not (math.isfinite(start) and math.isfinite(target)):
        raise ValueError(f"ramp from {start!r} to {target!r}: not finite")
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"ramp step {step!r} V must be a positive number")
    if quantize is not None:
        target = quantize(target)
    if start == target:
        return []
    if abs(target - start) <= step:  # the common case inside a sweep: one step
        return [target]
    return ramp_plan_multi({"": start}, {"": target}, {"": step},
                           None if quantize is None else {"": quantize},
                           None if resolution is None else {"": resolution})[""]


def ramp_plan_multi(start: dict[str, float], target: dict[str, float], step: dict[str, float],
                    quantize: dict[str, Callable[[float], float]] | None = None,
                    resolution: dict[str, Callable[[float], float]] | None = None) -> dict[str, list[float]]:
    """Plans for several outputs moving together in ``n`` common steps (one virtual-gate step each), keeping
    every output's steps within its own ``step`` after ``quantize`` (see :func:`ramp_plan`).

    Linear in the number of steps: ``n`` is the smallest number of exact steps within every ``step``; if the
    quantised plan then has a step too large (rounding), ``n`` is computed once more with every step shrunk by
    the output's resolution over the move (``resolution``, the largest at either end: it grows with the level),
    which the rounding cannot undo. Refuses (ValueError) a step finer than twice the resolution."""
    distances = {k: target[k] - start[k] for k in start}
    moving = {k: d for k, d in distances.items() if d != 0}
    if not moving:
        return {k: [] for k in start}
    q = quantize or {}
    res = {k: max(fn(start[k]), fn(target[k])) for k, fn in (resolution or {}).items() if k in moving}
    for k, r in res.items():
        if step[k] < 2 * r:
            raise ValueError(f"{k + ': ' if k else ''}step {step[k]:g} V is finer than twice the instrument's "
                             f"resolution {r:g} V: rounding could make a step larger than it")

    def plan(n: int) -> dict[str, list[float]]:
        plans = {k: [start[k] + d * i / n for i in range(1, n)] + [target[k]] for k, d in distances.items()}
        for k, fn in q.items():
            if k in plans:
                plans[k] = [fn(v) for v in plans[k]]
        return plans

    def within(plans: dict[str, list[float]]) -> bool:
        return all(abs(b - a) <= step[k] * (1 + STEP_TOLERANCE)
                   for k, p in plans.items() for a, b in zip([start[k]] + p, p))

    n = max(max(1, math.ceil(abs(d) / step[k] * (1 - STEP_TOLERANCE))) for k, d in moving.items())
    plans = plan(n)
    if within(plans):
        return plans
    # rounding enlarged a step: each value moves by up to half a resolution, so steps of (step - resolution)
    # stay within step after rounding
    n = max(max(1, math.ceil(abs(d) / (step[k] - res.get(k, 0.0)))) for k, d in moving.items())
    plans = plan(n)
    if not within(plans):
        raise ValueError(f"cannot plan steps within {step} V: the instrument rounds more than its declared "
                         f"resolution {res} V")
    return plans


class SafeGate:
    """A gate (or the bias line) with its safety envelope, driving one :class:`VoltageSource`.

    ``clock`` and ``sleep`` are injectable for tests; ``should_stop`` is polled between steps.
    """

    def __init__(self, spec: OutputSpec, source: VoltageSource, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, read_only: bool = False):
        self.spec = spec
        #: a read-only client's gate (:func:`~qpclab.instruments.connect.connect`): reads, never writes
        self.read_only = read_only
        self.source = source
        self.clock = clock
        self.sleep = sleep
        # conservative: the first step waits a full step time too, whatever wrote the gate before us
        self._last_write: float | None = clock()
        self._tracked: float | None = None  # inside sweeping(): the value this gate wrote last
        self._verified_at = 0.0
        self._checked_per_point = False  # inside sweeping(checked_per_point=True)
        #: a ComplianceError was raised: only the way to the safe value may write now
        self.tripped = False

    #: inside :meth:`sweeping`, the value is read back again at least this often (s) and must match
    VERIFY_INTERVAL_S = 1.0

    @contextmanager
    def sweeping(self, checked_per_point: bool = False) -> Iterator["SafeGate"]:
        """A sweep as one move: the value is read back (and checked) once at the start; each point then starts
        from the value this gate wrote last, and a read-back at least every ``VERIFY_INTERVAL_S`` must agree
        with it (anything else moving the gate stops the sweep); the instrument's error queue is read then too,
        and once more at the end. Saves two queries per point at the fridge.

        ``checked_per_point``: the caller runs :meth:`~qpclab.instruments.connect.Lab.check_compliance` after
        every point's reading, before the next move, so a one-step move (a sweep point) writes the level alone
        (a trip is then found before that point is recorded and before any further write); moves of several
        steps stay watched at every step."""
        self._tracked = self.read_checked()
        self._verified_at = self.clock()
        self._checked_per_point = checked_per_point
        try:
            yield self
        except BaseException:  # the error in flight is the one to report: no error-queue read on top of it
            self._tracked = None
            raise
        finally:
            tracked, self._tracked = self._tracked, None
            self._checked_per_point = False
        if tracked is not None:
            self.source.check_errors()

    @property
    def name(self) -> str:
        return self.spec.name

    def check(self, value: float) -> None:
        """Refuse a value outside the limits (or not finite) with :class:`GateLimitError`.

        The per-point paths below first test ``type(value) is float and lo <= value <= hi`` in line (a float
        between the finite limits passes this check) and call it only when that fails."""
        try:
            self.spec.check(value)
        except ValueError as exc:
            raise GateLimitError(str(exc)) from None

    #: the value last read back or written (V), for the repr: None before the first
    last_value: float | None = None

    def read(self) -> float:
        """The gate's present value, read back from the instrument (V)."""
        self.last_value = value = self.source.read_voltage()
        return value

    def __repr__(self) -> str:
        """The gate's state without asking the instrument (a repr must not talk on the bus): its last known value,
        limits, step and rate, and whether its source is in compliance."""
        spec = self.spec
        now = "not read yet" if self.last_value is None else f"{self.last_value:g} V (last read or written)"
        lo, hi = spec.limits
        state = "; IN COMPLIANCE" if self.tripped else ""
        return (f"<SafeGate {self.name} on {spec.instrument}: {now}; limits [{lo:g}, {hi:g}] V, step {spec.step:g} V, "
                f"rate {spec.rate:g} V/s, safe {spec.safe:g} V{state}>")

    def ramp_to(self, target: float, should_stop: Callable[[], bool] | None = None) -> float:
        """Ramp to ``target`` (V) within the limits, step and rate; return the value reached.

        Raises :class:`GateLimitError` before anything moves if the target (or the present value) is outside
        the limits, :class:`RampInterrupted` if ``should_stop()`` became true between two steps,
        :class:`~qpclab.instruments.roles.ComplianceError` from the write that finds the source in compliance.
        """
        lo, hi = self.spec.limits
        if not (type(target) is float and lo <= target <= hi):
            self.check(target)
        start = self._start_value()
        value = start
        step, source = self.spec.step, self.source
        goal = self.quantized(target)
        # one step (the common case inside a sweep) is ramp_plan's plan without planning; anything else is planned
        plan = (goal,) if start != goal and abs(goal - start) <= step else \
            ramp_plan(start, goal, step, self.quantized, source.resolution)
        watched = not (self._checked_per_point and len(plan) == 1)
        try:
            for nxt in plan:
                if should_stop is not None and should_stop():
                    raise RampInterrupted(self.name, value)
                self._write_step(value, nxt, watched=watched)
                value = nxt
        except BaseException:
            if self._tracked is not None:
                self._tracked = None  # the state is uncertain: read back before the next move
            raise
        if self._tracked is not None:
            self._tracked = value
        return value

    def quantized(self, volts: float) -> float:
        """The value the instrument will hold for ``volts``, never beyond the limits: a value at a limit that
        rounds outside it is taken one resolution inwards (toward the other limit)."""
        q = self.source.quantize(volts)
        lo, hi = self.spec.limits
        if q > hi or q < lo:
            inward = -1.0 if q > hi else 1.0
            r = self.source.resolution(volts)
            q = self.source.quantize(volts + inward * r) if r > 0 else min(max(q, lo), hi)
            if not lo <= q <= hi:
                raise GateLimitError(f"{self.name}: {volts:g} V cannot be written within its limits "
                                     f"[{lo:g}, {hi:g}] V at the instrument's resolution")
        return q

    def _start_value(self) -> float:
        """Where a move starts: read back from the instrument, or inside a sweep the value written last (verified
        by a read-back at least every VERIFY_INTERVAL_S)."""
        if self._tracked is None:
            return self.read_checked()
        now = self.clock()
        if now - self._verified_at >= self.VERIFY_INTERVAL_S:  # else: the value written last (the common case)
            self.source.check_errors()  # anything the instrument refused since the last check
            actual = self.read_checked()
            self._verified_at = now
            # the instrument holds what it could represent of what was written (formatting, DAC resolution):
            # anything within half a step is that; more means something else moved the gate
            if abs(actual - self._tracked) > 0.5 * self.spec.step:
                raise GateLimitError(f"{self.name}: reads back {actual:g} V but qpclab left it at "
                                     f"{self._tracked:g} V: something else moved it; stopping")
            self._tracked = actual
        return self._tracked

    def read_checked(self) -> float:
        """Read back the present value and refuse to go on if it is not finite or outside the limits."""
        start = self.read()
        if not isinstance(start, (int, float)) or not math.isfinite(start):
            raise GateLimitError(f"{self.name}: instrument reads back {start!r} V; refusing to move")
        lo, hi = self.spec.limits
        if not lo <= start <= hi:
            raise GateLimitError(f"{self.name}: present value {start:g} V is outside its limits [{lo:g}, {hi:g}] V; "
                                 "refusing to move it (bring it back by hand)")
        return start

    def _write_step(self, value: float, nxt: float, toward_safe: bool = False, watched: bool = True) -> None:
        """One step from ``value`` to ``nxt`` (V): refuses a step beyond the limits or larger than ``step``, waits
        until the rate allows it, writes, and raises :class:`ComplianceError` if the source is in compliance after
        the write (``toward_safe``: the way to the safe value, which goes on and only logs it; ``watched`` False:
        a sweep point whose caller checks compliance per point). The one place that writes to the source."""
        spec = self.spec
        if self.read_only:
            raise InstrumentError(f"{self.name}: connected read-only; it never writes")
        if self.tripped and not toward_safe:
            raise ComplianceError(self.name, value, self.source.compliance_limit_A(), self.spec.instrument)
        lo, hi = spec.limits
        if not (type(nxt) is float and lo <= nxt <= hi):
            self.check(nxt)
        delta = abs(nxt - value)
        if delta > spec.step * (1 + STEP_TOLERANCE):
            raise GateLimitError(f"{self.name}: step {value:g} -> {nxt:g} V is larger than its step {spec.step:g} V")
        last = self._last_write
        if last is not None and last + delta / spec.rate > self.clock():  # too soon for the rate: wait
            self._wait_for_rate(delta)
        source = self.source
        try:
            if self._tracked is not None or toward_safe:
                # inside a verified sweep errors are checked periodically; on the way to safe, an error queue
                # that does not empty must not stop the gate
                if watched:
                    tripped = source.write_voltage_watched(nxt)
                else:
                    source.write_voltage_fast(nxt)
                    tripped = False
            else:
                source.write_voltage(nxt)
                tripped = source.in_compliance()
        finally:  # an exception (Ctrl-C, I/O error) may come after the instrument took the value: count it as written
            self._last_write = self.clock()
            self.last_value = nxt
        if tripped:
            if toward_safe:
                log.warning("%s: in compliance at %g V on the way to its safe value", self.name, nxt)
                return
            self.tripped = True
            raise ComplianceError(self.name, nxt, source.compliance_limit_A(), spec.instrument)

    def written_by_list(self) -> None:
        """The source has just stepped this gate by itself (a hardware-timed list,
        :mod:`qpclab.instruments.source_lists`, ended or aborted): its last step came before now, so the rate counts
        from now, and the next move starts from the value read back."""
        self._last_write = self.clock()
        self._tracked = None

    def _wait_for_rate(self, delta: float) -> None:
        if self._last_write is None:
            return
        due = self._last_write + delta / self.spec.rate
        while True:
            remaining = due - self.clock()
            if remaining <= 0:
                return
            self.sleep(remaining)

    def ramp_duration(self, start: float, target: float) -> float:
        """Seconds a ramp from start to target takes at this gate's rate (for dry runs and time estimates)."""
        return abs(target - start) / self.spec.rate

    def go_safe(self, end: bool = False) -> float:
        """Ramp to the safe value (or the configured end value), ignoring stop requests. After a compliance trip
        the gate goes to its safe value whatever ``end`` says, and compliance on the way does not stop it (moving
        toward the safe value lowers the current); the trip is then cleared."""
        self._tracked = None  # whatever happened before: start from the value read back
        if end and not self.tripped and self.spec.end != self.spec.safe:
            try:
                return self._move(self.spec.end, toward_safe=False)
            except ComplianceError as exc:
                log.error("%s; bringing it to its safe value instead", exc)
        value = self._move(self.spec.safe, toward_safe=True)
        self.tripped = False
        return value

    def _move(self, target: float, toward_safe: bool) -> float:
        value = self.read_checked()
        goal = self.quantized(target)
        for nxt in ramp_plan(value, goal, self.spec.step, self.quantized, self.source.resolution):
            self._write_step(value, nxt, toward_safe=toward_safe)
            value = nxt
        return value


def safe_state(gates: Iterable[SafeGate], end: bool = False) -> list[tuple[str, Exception]]:
    """Bring every gate to its safe (or end) value; go on past failures and return them (gate name, error)."""
    failures = []
    for gate in gates:
        try:
            gate.go_safe(end=end)
        except Exception as exc:  # noqa: BLE001 - every gate gets its chance, failures are reported
            log.error("could not bring %s to its %s value: %s", gate.name, "end" if end else "safe", exc)
            failures.append((gate.name, exc))
    return failures


@contextmanager
def restore_safe_state(gates: Iterable[SafeGate]) -> Iterator[None]:
    """``with restore_safe_state(gates): ...``: on normal exit gates go to their end values, on any exception
    (abort, Ctrl-C, instrument error) to their safe values; then the exception goes on."""
    gates = list(gates)
    try:
        yield
    except BaseException:
        safe_state(gates, end=False)
        raise
    else:
        safe_state(gates, end=True)
