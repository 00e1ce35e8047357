"""Hardware-timed sweeps: a gate source stepping a list of levels by its own clock, the lock-in sampling on its
trigger pulses.

Two contracts, each implemented per instrument model from its manual's command set:

- :class:`ListSource`: upload a list of levels with a dwell per level, start it, abort it (the output holds the
  level it reached), and go back to a fixed level where the list ended (never a jump). At the end of every
  level's dwell the source pulses a trigger output, so a sample taken on the pulse has had the whole dwell to
  settle.
- :class:`LockInBuffer`: a lock-in's data buffer taking one sample (X and Y) per pulse on its trigger input, read
  in one piece per line.

Which instruments can do it, and over which cable, comes from the station alone (:func:`buffered_route`): the fast
gate's source model, the lock-in model and the station's ``triggers`` (which output is wired to which input), so
that ``--mode auto`` decides, and says why not, before anything opens. The safety of a list is checked by
:func:`check_list` with the same rules as a ramp (:mod:`qpclab.instruments.gates`).

Models:

- QDevil QDAC-II (:class:`QDac2List`): the channel's DC list (``sour#:list:volt``, ``list:dwel``, ``list:tmod
  auto``), started by internal trigger :attr:`QDac2List.START_TRIGGER` (``tint``); its step-end marker
  (``dc:mark:send``) fires internal trigger :attr:`QDac2List.STEP_END_TRIGGER`, routed to the cabled rear trigger
  output (``outp:trig#:sour``). The list ends holding its last level; back to FIXed mode at that level.
- Stanford Research SR830 (:class:`SR830Buffer`): sample rate "trigger" (``SRAT 14``: one point of each channel
  display per TRIG IN edge, at most 512 per second), displays X and Y (``DDEF``), one shot (``SEND 0``); read with
  ``TRCB?`` (IEEE 754 single floats, little endian) and the latched overloads with ``LIAS?``.
- Stanford Research SR860 / SR865 (:class:`SR86xCapture`): the data capture of X and Y, one sample per TRIG IN
  edge (``CAPTURESTART ONE, SAMPpertrig``), read with ``CAPTUREGET?``.

Not offered, with the reason :func:`buffered_route` gives: the Keithley 2400 returns to its bias level after a
source list or sweep (2400 manual, "Sweep operation"), a jump of the whole line; the Keithley 2450 and the
Yokogawa GS200 have no contract here yet.
"""

from __future__ import annotations

import abc
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .gates import STEP_TOLERANCE, GateLimitError
from .lockins import SR830LockIn, SR86xLockIn
from .roles import InstrumentError
from .sources import QDac2ChannelSource
from .station import OutputSpec, Station
from .visa import direct_line

__all__ = ["ListSource", "LockInBuffer", "QDac2List", "SR830Buffer", "SR86xCapture", "BufferedRoute", "NotBuffered", "ListRefused",
           "buffered_route", "check_list", "list_dwell_s"]


class NotBuffered(ValueError):
    """The station cannot run a sweep hardware-timed: the message is the one-line reason."""


class ListRefused(GateLimitError):
    """A list that breaks a gate-safety rule: refused before anything is uploaded (one line)."""


# ---- the contracts ------------------------------------------------------------------------------------------------


class ListSource(abc.ABC):
    """A gate source that steps a list by its own clock, pulsing its trigger output at the end of each dwell."""

    name: str = ""
    #: the longest list the instrument holds
    MAX_POINTS: int = 0
    #: its rear trigger outputs are numbered 1 ... TRIGGER_OUTPUTS (``trig_out_<n>`` in station.triggers)
    TRIGGER_OUTPUTS: int = 0
    #: the shortest dwell it accepts (s)
    MIN_DWELL_S: float = 0.0

    @abc.abstractmethod
    def prepare(self) -> None:
        """Once per run: the trigger routing and the list's fixed settings."""

    @abc.abstractmethod
    def upload(self, values: Sequence[float], dwell_s: float) -> None:
        """Load ``values`` (V, checked by :func:`check_list`) with ``dwell_s`` per level, armed, not started."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start the uploaded list now."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Stop the list at once; the output holds the level it reached."""

    @abc.abstractmethod
    def finish(self) -> None:
        """Back to a fixed level, at the level the output holds now (after the list's end or an abort)."""


class LockInBuffer(abc.ABC):
    """A lock-in's data buffer taking one (X, Y) sample per trigger-input edge."""

    name: str = ""
    MAX_POINTS: int = 0
    #: edges closer than this are ignored by the instrument (s)
    MIN_TRIGGER_INTERVAL_S: float = 0.0

    @abc.abstractmethod
    def prepare(self) -> None:
        """Once per run: sample on the trigger input, X and Y stored."""

    @abc.abstractmethod
    def arm(self, n: int) -> None:
        """Empty the buffer (room for ``n`` samples), clear the latched overloads and wait for the line's trigger
        edges."""

    @abc.abstractmethod
    def count(self) -> int:
        """Samples stored so far."""

    @abc.abstractmethod
    def read(self, n: int) -> tuple[list[float], list[float], bool]:
        """The first ``n`` samples: X (V rms), Y (V rms), and whether the lock-in overloaded since :meth:`arm`."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop storing (the buffer keeps what it holds)."""


# ---- QDevil QDAC-II -----------------------------------------------------------------------------------------------


class QDac2List(ListSource):
    """One QDAC-II channel's DC list, pulsing rear trigger output ``output`` at the end of every level's dwell."""

    MAX_POINTS = 65536  # QDAC-II command reference: a DC list holds up to 65536 levels
    TRIGGER_OUTPUTS = 5  # rear panel Trigger Out 1 ... 5
    MIN_DWELL_S = 2e-6
    #: internal trigger that starts the list (``tint``)
    START_TRIGGER = 14
    #: internal trigger the channel's step-end marker fires, routed to the trigger output
    STEP_END_TRIGGER = 13

    def __init__(self, channel: QDac2ChannelSource, output: int):
        self.channel, self.output = channel, output
        self.driver, self.ch = channel.driver, channel.channel_driver
        self.name = channel.name

    def prepare(self) -> None:
        ch = self.ch
        self.driver.route_trigger_output(self.output, f"int{self.STEP_END_TRIGGER}")
        ch.list_trigger_mode = "auto"
        ch.list_count = 1
        ch.dc_continuous = False
        ch.dc_trigger_source = f"int{self.START_TRIGGER}"
        ch.marker_step_end = self.STEP_END_TRIGGER
        self._errors("setting up its DC list")
        self._dwell = None

    def upload(self, values: Sequence[float], dwell_s: float) -> None:
        ch = self.ch
        ch.list_voltages = list(values)
        if dwell_s != self._dwell:
            ch.list_dwell = dwell_s
            self._dwell = dwell_s
        ch.dc_mode = "list"
        ch.initiate()
        self._errors("uploading a list")

    def start(self) -> None:
        self.driver.fire_internal(self.START_TRIGGER)

    def abort(self) -> None:
        self.ch.abort()

    def finish(self) -> None:
        """FIXed mode at the momentary output: a level written outside FIXed mode is held until the mode returns,
        so the channel never goes back to a level from before the list."""
        ch = self.ch
        ch.voltage = float(ch.voltage_last)
        ch.dc_mode = "fixed"
        self._errors("ending a list")

    def _errors(self, what: str) -> None:
        errors = self.driver.check_errors()
        if errors:
            text = "; ".join(f"{code}, {message}" for code, message in errors)
            raise InstrumentError(f"{self.name}: refused {what}: {text}")


# ---- Stanford Research SR830 --------------------------------------------------------------------------------------


class SR830Buffer(LockInBuffer):
    """The SR830's data buffer at sample rate "trigger" (SR830 manual, Data Storage commands)."""

    MAX_POINTS = 16383
    MIN_TRIGGER_INTERVAL_S = 1.0 / 512  # the manual: at most 512 triggered points per second
    #: SRAT index of "trigger", and the display choices X (CH1) and Y (CH2) with ratio none
    TRIGGERED_RATE = 14

    def __init__(self, lockin: SR830LockIn):
        self.lockin = lockin
        self.name = lockin.name
        self._line = direct_line(lockin.driver)

    def prepare(self) -> None:
        d = self.lockin.driver
        d.write("PAUS;REST")
        d.write(f"DDEF 1,0,0;DDEF 2,0,0;SRAT {self.TRIGGERED_RATE};SEND 0;TSTR 0")
        self.lockin.check_errors("setting up the data buffer")

    def arm(self, n: int) -> None:
        line = self._line
        line.write("REST;LIAS?;STRT")  # LIAS? reads (and clears) the overloads latched before the line: not kept
        line.read()

    def count(self) -> int:
        return int(self.lockin.driver.ask("SPTS?"))

    def read(self, n: int) -> tuple[list[float], list[float], bool]:
        """The overloads are the latched LIAS bits and any sample at or beyond full scale (an overloaded display
        stores its saturated value)."""
        x, y = self._trace(1, n), self._trace(2, n)
        overloaded = bool(int(float(self.lockin.driver.ask("LIAS?"))) & self.lockin.OVERLOAD_BITS)
        full_scale = self.lockin.sensitivity
        return x, y, overloaded or any(math.hypot(a, b) >= full_scale for a, b in zip(x, y))

    def _trace(self, display: int, n: int) -> list[float]:
        """``TRCB? i,0,n``: n IEEE 754 single floats, little endian, no terminator."""
        line = self._line
        line.write(f"TRCB? {display},0,{n}")
        data = line.read_bytes(4 * n)
        return list(struct.unpack(f"<{n}f", data))

    def stop(self) -> None:
        self.lockin.driver.write("PAUS")


# ---- Stanford Research SR860 / SR865 ------------------------------------------------------------------------------


class SR86xCapture(LockInBuffer):
    """The SR86x's data capture, one sample of X and Y per TRIG IN edge (SR86x manual, Data Capture:
    ``CAPTURECFG XY``, ``CAPTURESTART ONE, SAMPpertrig``), read with ``CAPTUREGET?`` (a ``#n`` block of little
    endian IEEE 754 single floats) once stopped."""

    #: the largest capture (CAPTURELEN 4096 kB) of X, Y pairs (8 bytes)
    MAX_POINTS = 4096 * 1024 // 8
    #: CAPTUREGET? returns at most 64 kB at a time
    GET_MAX_KB = 64
    MIN_TRIGGER_INTERVAL_S = 0.0

    def __init__(self, lockin: SR86xLockIn):
        self.lockin = lockin
        self.name = lockin.name
        self._line = direct_line(lockin.driver)
        self._length_kb = 0

    def prepare(self) -> None:
        self.lockin.driver.write("CAPTURESTOP;CAPTURECFG XY")
        self.lockin.check_errors("setting up the data capture")

    def arm(self, n: int) -> None:
        d = self.lockin.driver
        length = max(1, math.ceil(8 * n / 1024))
        if length != self._length_kb:
            d.write(f"CAPTURESTOP;CAPTURELEN {length}")
            self._length_kb = length
        d.write("LIAS?;CAPTURESTART ONE, SAMPpertrig")  # LIAS? clears the overloads latched before the line
        self._line.read()

    def count(self) -> int:
        return int(self.lockin.driver.ask("CAPTUREBYTES?")) // 8

    def read(self, n: int) -> tuple[list[float], list[float], bool]:
        """The overloads are the latched LIAS bits and any sample at or beyond full scale."""
        self.lockin.driver.write("CAPTURESTOP")
        values: list[float] = []
        for offset in range(0, math.ceil(8 * n / 1024), self.GET_MAX_KB):
            size = min(self.GET_MAX_KB, self._length_kb - offset)
            values += self._line.query_binary_values(f"CAPTUREGET? {offset}, {size}", datatype="f",
                                                     is_big_endian=False)
        x, y = values[0:2 * n:2], values[1:2 * n:2]
        overloaded = bool(int(float(self.lockin.driver.ask("LIAS?"))) & self.lockin.OVERLOAD_BITS)
        full_scale = self.lockin.sensitivity
        return x, y, overloaded or any(math.hypot(a, b) >= full_scale for a, b in zip(x, y))

    def stop(self) -> None:
        self.lockin.driver.write("CAPTURESTOP")


# ---- what the station allows -------------------------------------------------------------------------------------

#: source drivers with a list contract, and the trigger outputs they pulse (the station's ``triggers`` names)
LIST_SOURCES = {"qdac2": QDac2List}
#: lock-in drivers with a triggered buffer, and their trigger input
LOCKIN_BUFFERS = {"sr830": SR830Buffer, "sr860": SR86xCapture, "sr865": SR86xCapture}
TRIGGER_INPUT = "trig_in"
#: why a source model is not offered
NOT_OFFERED = {
    "keithley2400": "the Keithley 2400 returns to its bias level after a source list (a jump of the whole line)",
}


@dataclass(frozen=True)
class BufferedRoute:
    """How a gate's sweep runs hardware-timed: the gate's source and the trigger output cabled to the lock-in."""

    gate: str
    source: str     #: instrument name
    output: int     #: the source's trigger output number (``trig_out_<n>``)
    lockin: str     #: instrument name
    source_contract: type[ListSource]  #: from LIST_SOURCES by the source's driver
    buffer_contract: type[LockInBuffer]  #: from LOCKIN_BUFFERS by the lock-in's driver

    def list_source(self, lab) -> ListSource:
        """The gate's list contract on a connected lab (:class:`~qpclab.instruments.connect.Lab`: its adapters are
        made from the same driver names)."""
        return self.source_contract(lab.gates[self.gate].source, self.output)

    def lockin_buffer(self, lab) -> LockInBuffer:
        return self.buffer_contract(lab.instruments[self.lockin])


def buffered_route(station: Station, gate: str, points: int) -> BufferedRoute:
    """The route of a hardware-timed sweep of ``gate`` in lines of ``points`` levels on ``station``, or
    :class:`NotBuffered` with the reason."""
    spec = station.gates.get(gate)
    if spec is None:
        kind = "a virtual gate" if gate in station.virtual_gates else "the bias" if gate == "bias" else "not a gate"
        raise NotBuffered(f"{gate!r} is {kind}: buffered sweeps step one physical gate's source list")
    driver = station.instruments[spec.instrument].driver
    if driver not in LIST_SOURCES:
        reason = NOT_OFFERED.get(driver, f"qpclab has no source-list contract for a {driver}")
        raise NotBuffered(f"{gate} is on {spec.instrument}: {reason}")
    if station.lockin is None:
        raise NotBuffered("the station has no lock-in")
    li_driver = station.instruments[station.lockin].driver
    if li_driver not in LOCKIN_BUFFERS:
        raise NotBuffered(f"the lock-in {station.lockin} ({li_driver}) has no triggered buffer in qpclab")
    capacity = min(LIST_SOURCES[driver].MAX_POINTS, LOCKIN_BUFFERS[li_driver].MAX_POINTS)
    if points > capacity:
        raise NotBuffered(f"a line of {points} points is longer than {spec.instrument}'s list and "
                          f"{station.lockin}'s buffer hold ({capacity})")
    contract = LIST_SOURCES[driver]
    for cable in station.cables_from(spec.instrument):
        if cable.target == station.lockin and cable.input == TRIGGER_INPUT and cable.output.startswith("trig_out_"):
            number = cable.output.removeprefix("trig_out_")
            if not (number.isdigit() and 1 <= int(number) <= contract.TRIGGER_OUTPUTS):
                raise NotBuffered(f"{spec.instrument} has no trigger output {cable.output!r} (trig_out_1 ... "
                                  f"trig_out_{contract.TRIGGER_OUTPUTS}): check station.triggers")
            return BufferedRoute(gate, spec.instrument, int(number), station.lockin, contract, LOCKIN_BUFFERS[li_driver])
    raise NotBuffered(f"no trigger cable from {spec.instrument} to {station.lockin}.{TRIGGER_INPUT} in the station "
                      f"file (station.triggers: - {{from: {spec.instrument}.trig_out_1, "
                      f"to: {station.lockin}.{TRIGGER_INPUT}}})")


def list_dwell_s(spec: OutputSpec, values: Sequence[float], settle_s: float, source: type[ListSource],
                 buffer: type[LockInBuffer]) -> float:
    """The dwell per level: the lock-in's settling, at least the time the gate's rate needs for the largest step
    of the list, and what the instruments can do (their shortest dwell, the buffer's trigger spacing)."""
    largest = max((abs(b - a) for a, b in zip(values, values[1:])), default=0.0)
    return max(settle_s, largest / spec.rate, source.MIN_DWELL_S, buffer.MIN_TRIGGER_INTERVAL_S)


def check_list(spec: OutputSpec, start: float, values: Sequence[float], dwell_s: float, max_points: int) -> None:
    """Refuse (:class:`ListRefused`, one line) a list that breaks a gate-safety rule: a level outside the limits or
    not finite, a step (from ``start``, the read-back value, on) larger than the gate's step, a dwell too short
    for the gate's rate at the largest step, more levels than the instrument holds."""
    name, (lo, hi) = spec.name, spec.limits
    if not 1 <= len(values) <= max_points:
        raise ListRefused(f"{name}: a list of {len(values)} levels; the instrument holds 1 ... {max_points}")
    if not (math.isfinite(dwell_s) and dwell_s > 0):
        raise ListRefused(f"{name}: dwell {dwell_s!r} s is not a positive time")
    previous, largest = start, 0.0
    for i, v in enumerate(values):
        if not (isinstance(v, float) and math.isfinite(v) and lo <= v <= hi):
            raise ListRefused(f"{name}: list level {i} ({v!r} V) is outside its limits [{lo:g}, {hi:g}] V")
        step = abs(v - previous)
        if step > spec.step * (1 + STEP_TOLERANCE):
            where = "from its present value" if i == 0 else f"at level {i}"
            raise ListRefused(f"{name}: list step {previous:g} -> {v:g} V {where} is larger than its step "
                              f"{spec.step:g} V")
        largest = max(largest, step)
        previous = v
    if largest / dwell_s > spec.rate * (1 + STEP_TOLERANCE):
        raise ListRefused(f"{name}: dwell {dwell_s:g} s is too short for its rate {spec.rate:g} V/s at a step of "
                          f"{largest:g} V (needs {largest / spec.rate:g} s)")
