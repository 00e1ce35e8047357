"""Bus timing of the simulated lab: what each VISA write and read costs on the interface its resource names.

A lab file sets it under ``simulation.bus_timing``; without it every exchange is instantaneous (the fast test
labs)::

    simulation:
      bus_timing: typical                          # the typical figures below for every interface
      bus_timing:                                  # or per interface (GPIB, TCPIP, USB, ASRL), the others 0
        GPIB: typical
        TCPIP: {per_operation_s: 3.0e-4, per_byte_s: 8.0e-8}

Each VISA operation (a whole program message written, or one reply read) costs ``per_operation_s`` plus
``per_byte_s`` per byte transferred (terminations included). The simulated lab spends the time on its clock: a
real sleep on the real clock, an ``advance`` of a manual clock (tests).

Typical figures (order of magnitude: measure your own set-up and put its figures in the lab file):

* GPIB: 1 ms per operation, 0.67 us per byte. A query through a USB-GPIB controller takes 1-3 ms: 2.6 ms mean per
  reading for a DMM queried through an Agilent 82357B (github.com/EleDes/Fastread-DMM-Py); the issue's "order of a
  millisecond per transaction". Transfers run at up to 1.5 MB/s (ADLINK USB-3488A datasheet; NI GPIB-USB-HS
  similar), the IEEE 488.1 three-wire handshake per byte.
* TCPIP (VXI-11 over a local network): 0.3 ms per operation, 80 ns per byte (100 Mb/s). Every VXI-11 write and read
  is a blocking RPC round trip (Rohde & Schwarz remote-control guide: "each operation is blocked until a VXI-11
  instrument handshake returns"); a switched LAN round trip is 0.1-0.5 ms. Raw sockets and HiSLIP are faster.
* USB (USBTMC): 1 ms per operation, 1 us per byte: a full-speed USB frame is 1 ms (USB 2.0 specification; high-speed
  microframes are 125 us), and user-space USB round trips measure about 1.6 ms (Portland State Aerospace Society,
  "USB latency testing", 2012).
* ASRL (RS-232 at 9600 baud, 8N1): 10 bits per character, 1.04 ms per byte (960 characters/s, e.g. the Hioki
  RM3542 and 3332 manuals), plus 2 ms turnaround per operation (two character times, as serial instrument
  manuals allow for the response delay).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, runtime_checkable

__all__ = ["BusTiming", "TYPICAL", "INTERFACES", "parse_bus_timing", "interface_of", "SteppedClock", "RealTimeSpender",
           "spend"]


@dataclass(frozen=True)
class BusTiming:
    """Cost of one VISA operation on an interface: ``per_operation_s + per_byte_s * bytes`` (s)."""

    per_operation_s: float = 0.0
    per_byte_s: float = 0.0

    def cost_s(self, n_bytes: int) -> float:
        """Seconds one operation transferring ``n_bytes`` takes."""
        return self.per_operation_s + self.per_byte_s * n_bytes

    @property
    def is_zero(self) -> bool:
        return self.per_operation_s == 0.0 and self.per_byte_s == 0.0


#: the VISA interface types a lab file may time (as in resource names: GPIB0::8::INSTR, TCPIP0::..., ASRL1::INSTR)
INTERFACES = ("GPIB", "TCPIP", "USB", "ASRL")

#: typical figures per interface, with their sources in the module docstring
TYPICAL: dict[str, BusTiming] = {
    "GPIB": BusTiming(per_operation_s=1.0e-3, per_byte_s=1.0 / 1.5e6),
    "TCPIP": BusTiming(per_operation_s=0.3e-3, per_byte_s=8.0e-8),
    "USB": BusTiming(per_operation_s=1.0e-3, per_byte_s=1.0e-6),
    "ASRL": BusTiming(per_operation_s=2.0e-3, per_byte_s=10.0 / 9600.0),
}


def interface_of(resource_name: str) -> str:
    """The interface type of a VISA resource name: ``"GPIB0::8::INSTR"`` -> ``"GPIB"``."""
    head = resource_name.split("::", 1)[0].upper()
    for name in INTERFACES:
        if head.startswith(name) and (head[len(name):].isdigit() or head == name):
            return name
    raise ValueError(f"resource {resource_name!r}: interface not one of {', '.join(INTERFACES)}")


def _one(spec: Any, where: str) -> BusTiming:
    if not isinstance(spec, Mapping) or not set(spec) <= {"per_operation_s", "per_byte_s"} or not spec:
        raise ValueError(f"{where}: expected 'typical' or {{per_operation_s: s, per_byte_s: s}}, got {spec!r}")
    values = {}
    for key, raw in spec.items():
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{key}: {raw!r} is not a number of seconds") from None
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{where}.{key}: {raw!r} must be a finite number of seconds >= 0")
        values[key] = value
    return BusTiming(**values)


def parse_bus_timing(spec: Any, where: str = "simulation.bus_timing") -> dict[str, BusTiming]:
    """Timing per interface from a lab file's ``simulation.bus_timing`` (None: all zero). Unknown interfaces,
    keys and non-numbers raise ValueError naming the key."""
    if spec is None:
        return {name: BusTiming() for name in INTERFACES}
    if spec == "typical":
        return dict(TYPICAL)
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: expected 'typical' or a mapping of {', '.join(INTERFACES)}, got {spec!r}")
    unknown = sorted(set(spec) - set(INTERFACES))
    if unknown:
        raise ValueError(f"{where}: unknown interface(s) {unknown}; known: {', '.join(INTERFACES)}")
    out = {name: BusTiming() for name in INTERFACES}
    for name, one in spec.items():
        out[name] = TYPICAL[name] if one == "typical" else _one(one, f"{where}.{name}")
    return out


@runtime_checkable
class SteppedClock(Protocol):
    """A clock that moves only when told (tests' manual clocks): time passes by ``advance``."""

    def __call__(self) -> float: ...

    def advance(self, dt: float) -> None: ...


class RealTimeSpender:
    """Waits on the real clock whose total over many waits is right, though a single one can be late: a sleep
    overshoots short waits by up to a millisecond on a loaded machine, so what one wait overshoots is taken off the
    next (sleep, then spin through the last 0.5 ms)."""

    def __init__(self):
        self.ahead_s = 0.0  #: real time already spent beyond what was asked

    def __call__(self, seconds: float) -> None:
        target = seconds - self.ahead_s
        if target <= 0:
            self.ahead_s = -target
            return
        start = time.perf_counter()
        end = start + target
        while True:
            now = time.perf_counter()
            remaining = end - now
            if remaining <= 0:
                self.ahead_s = min(now - end, 0.01)  # a long stall (debugger, suspend) is not made up for
                return
            if remaining > 6e-4:
                time.sleep(remaining - 5e-4)


_last_clock: tuple = (None, False)  # (clock, is it a SteppedClock): the isinstance check costs ~10 us
_real_time = RealTimeSpender()


def spend(clock, seconds: float) -> None:
    """Let ``seconds`` pass on ``clock``: advance a :class:`SteppedClock`, otherwise wait in real time
    (:class:`RealTimeSpender`: right on average)."""
    global _last_clock
    if seconds <= 0:
        return
    known, stepped = _last_clock
    if clock is not known:
        stepped = isinstance(clock, SteppedClock)
        _last_clock = (clock, stepped)
    if stepped:
        clock.advance(seconds)
    else:
        _real_time(seconds)
