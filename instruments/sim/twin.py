"""Base class of the simulated instruments ("twins").

A twin answers one real instrument's command set. It is given the whole program message (what the driver wrote,
termination removed) and returns the reply messages. Unknown headers are logged with the lab (tests fail on
them) and put in the instrument's error queue as the real instrument does; an unanswered query then costs the
client a VISA timeout, exactly as at the fridge.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from .scpi import Command, CommandTable, scpi_pattern, split_args, split_scpi_message, split_sr_message, sr_pattern

if TYPE_CHECKING:  # pragma: no cover
    from .lab import SimulatedLab

log = logging.getLogger(__name__)

__all__ = ["InstrumentTwin", "ScpiStatusTwin", "CommandError", "parse_bool", "parse_float", "parse_choice", "fmt_sci"]


class CommandError(Exception):
    """A command the instrument refuses: ``code`` and ``message`` go into its error queue."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code},{message}")
        self.code = code
        self.message = message


class InstrumentTwin:
    """One simulated instrument.

    Subclasses define ``grammar`` ("scpi" or "sr"), ``idn`` and :meth:`commands` and keep their settings in
    plain attributes; :meth:`reset` restores the power-on state.
    """

    grammar = "scpi"
    idn = "qpclab,twin,0,0"
    #: reply separator for several queries in one program message (SCPI: ';' in one response message)
    join_replies = True

    def __init__(self, lab: "SimulatedLab", name: str, config: dict[str, Any] | None = None):
        self.lab = lab
        self.name = name
        self.config = dict(config or {})
        self.errors: deque[tuple[int, str]] = deque(maxlen=30)
        self.history: list[tuple[float, str]] = []  # (time, message) of every program message received
        self.record_history = bool(self.config.get("record_messages", False))
        compile_pattern = scpi_pattern if self.grammar == "scpi" else sr_pattern
        self._table = CommandTable(self.commands(), compile_pattern)
        self._split = split_scpi_message if self.grammar == "scpi" else split_sr_message
        self._prefix = ":" if self.grammar == "scpi" else ""
        self.reset()

    # ---- to be provided by subclasses -------------------------------------------------------------------
    def greeting(self) -> list[str]:
        """Lines the instrument sends unasked on every new connection (most send none)."""
        return []

    def commands(self) -> list:
        raise NotImplementedError

    def reset(self) -> None:
        """Power-on / *RST state."""
        self.errors.clear()

    # ---- message handling -------------------------------------------------------------------------------
    #: how many distinct program messages the parse cache keeps (it is emptied when full)
    parse_cache_size = 512

    def parse_message(self, message: str) -> tuple[tuple[str, list[str], tuple | None], ...]:
        """The program message split by the twin's grammar: (header, args, table hit or None) per unit.

        Drivers send the same few messages thousands of times (``SNAP?1,2``, ``:READ?``), so the result is
        cached by the message text; a cached parse is exactly what a fresh one gives (the grammar and the
        command table do not change). Nothing is executed here: :meth:`handle` runs the units.
        """
        split = self._split
        if split is self._parsed_by:
            plan = self._parsed.get(message)
            if plan is not None:
                return plan
        else:  # first message, or a subclass installed another grammar: start afresh
            self._parsed = {}
            self._heads = {}
            self._parsed_by = split
        if split is split_scpi_message and ";" not in message:
            plan = self._parse_scpi_unit(message)
        else:
            lookup = self._table.lookup
            prefix = self._prefix
            plan = tuple((header, args, lookup(prefix + header)) for header, args in split(message))
        if len(self._parsed) >= self.parse_cache_size:
            self._parsed.clear()
        self._parsed[message] = plan
        return plan

    _parsed_by = None

    def _parse_scpi_unit(self, message: str) -> tuple:
        """:meth:`parse_message` of a SCPI message of one unit (no ``;``), as :func:`split_scpi_message` parses it,
        with the header's resolution cached: a source stepping through values sends a new message every time,
        but always the same header."""
        unit = message.strip()
        if not unit:
            return ()
        head, _, argtext = unit.partition(" ")
        resolved = self._heads.get(head)
        if resolved is None:
            h = head.upper()
            # one unit: the path starts at the root, so the absolute header is the head without a leading ':'
            header = h[1:] if h.startswith(":") else h
            resolved = (header, self._table.lookup(self._prefix + header))
            if len(self._heads) >= self.parse_cache_size:
                self._heads.clear()
            self._heads[head] = resolved
        return ((resolved[0], split_args(argtext), resolved[1]),)

    def handle(self, message: str) -> list[str]:
        """Execute one program message; return the reply messages (possibly none)."""
        if self.record_history:
            self.history.append((self.lab.now(), message))
        replies: list[str] = []
        for header, args, hit in self.parse_message(message):
            if hit is None:
                self.unknown(header, list(args))
                continue
            command, suffixes, is_query = hit
            try:
                if is_query:
                    if command.query is None:
                        raise CommandError(-113, "Undefined header")
                    reply = command.query(list(args), *suffixes)
                    if reply is not None:  # None: the instrument holds its reply (a trigger model still waiting)
                        replies.append(reply)
                else:
                    if command.write is None:
                        raise CommandError(-113, "Undefined header")
                    command.write(list(args), *suffixes)
            except CommandError as exc:
                self.push_error(exc.code, exc.message)
                self.lab.log_refused(self.name, message, exc)
            except (ValueError, IndexError) as exc:
                self.push_error(-224, "Illegal parameter value")
                self.lab.log_refused(self.name, message, exc)
        if self.join_replies and len(replies) > 1:
            return [";".join(replies)]
        return replies

    def unknown(self, header: str, args: list[str]) -> None:
        self.push_error(-113, "Undefined header")
        self.lab.log_unknown(self.name, header, args)

    def push_error(self, code: int, message: str) -> None:
        self.errors.append((code, message))

    def pop_error(self) -> str:
        if self.errors:
            code, msg = self.errors.popleft()
            return f'{code},"{msg}"'
        return '0,"No error"'

    def clear(self) -> None:
        """Device clear (IEEE 488.2 DCL/SDC): abandon pending input and output."""

    # ---- small helpers for subclasses -------------------------------------------------------------------
    @staticmethod
    def need(args: list[str], n: int = 1) -> list[str]:
        if len(args) < n:
            raise CommandError(-109, "Missing parameter")
        return args


# ---- argument parsing shared by the twins ----------------------------------------------------------------------
_BOOL = {"ON": True, "OFF": False, "1": True, "0": False}


def parse_bool(text: str) -> bool:
    """SCPI boolean: ON, OFF, 1, 0 (any case)."""
    try:
        return _BOOL[text.strip().upper()]
    except KeyError:
        raise CommandError(-224, "Illegal parameter value") from None


def parse_float(text: str, low: float | None = None, high: float | None = None) -> float:
    """A number within [low, high]; SCPI's -222 'Data out of range' otherwise (MIN/MAX/DEF not accepted here)."""
    try:
        value = float(text)
    except ValueError:
        raise CommandError(-104, "Data type error") from None
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        raise CommandError(-222, "Data out of range")
    return value


def parse_choice(text: str, choices: dict[str, str]) -> str:
    """One of the manual's enumerated values given in short or long form; ``choices`` maps LONGform -> value."""
    t = text.strip().strip("'\"").upper()
    for spelling, value in choices.items():
        short = "".join(ch for ch in spelling if ch.isupper() or ch.isdigit())
        if t == short or t == spelling.upper():
            return value
    raise CommandError(-224, "Illegal parameter value")


def fmt_sci(value: float) -> str:
    """Keithley-style number: +1.234560E-03."""
    return f"{value:+.6E}"


class ScpiStatusTwin(InstrumentTwin):
    """A twin with the IEEE 488.2 common commands and status model, described once for every instrument.

    - Standard event status register (``*ESR?`` reads and clears it) with its enable (``*ESE``): bit 0 operation
      complete (``*OPC``), bit 2 query error (-4xx), bit 3 device-dependent error (-3xx and the instrument's own
      positive codes), bit 4 execution error (-2xx), bit 5 command error (-1xx); :meth:`event_bit` maps a code.
    - Status byte (``*STB?``, serial poll) with its enable (``*SRE``): bit 2 error queue not empty, bit 5 event
      summary (ESR & ESE), bit 6 master summary (STB & SRE, bit 6 itself excluded), plus the instrument's own
      summary bits from :meth:`summary_bits` (a Keithley's measurement summary in bit 0, for instance).
    - ``*CLS`` empties the error queue and the event registers (:meth:`clear_events` for the instrument's own);
      ``*RST`` restores the instrument settings (:meth:`reset_settings`) but keeps the status registers, enables
      and error queue (IEEE 488.2 10.32); ``*OPC``/``*OPC?``/``*WAI`` wait for pending operations
      (:meth:`complete`); ``*TRG`` is the bus trigger (:meth:`bus_trigger`); ``*TST?`` passes (0); ``*OPT?``
      answers :attr:`options`.

    Every bit argument is accepted as the SR8xx grammar has it: ``*ESE? i``/``*SRE? i``/``*ESR? i``/``*STB? i``
    read bit i (``*ESR? i`` clears only it), ``*ESE i,x``/``*SRE i,x`` set or clear bit i (SR830 manual, "Status
    Reporting Commands"). A twin puts :meth:`common_commands` into its command table and overrides the hooks it
    needs; it keeps its own power-on state in ``reset``.
    """

    #: the ``*OPT?`` reply (installed options, as the instrument reports them)
    options = "0"
    #: status-byte bit set while the error queue is not empty (SCPI's EAV, bit 2); None for instruments whose
    #: bit 2 means something else (the SR830's error status summary, given by :meth:`summary_bits`)
    error_available_bit: int | None = 2
    #: the ``*ESR`` bit ``*OPC`` sets (IEEE 488.2: bit 0); None where bit 0 means something else (SRS
    #: instruments: input queue overflow), ``*OPC`` then only waits
    operation_complete_bit: int | None = 0
    #: ``*RST`` keeps the status registers, enables and error queue (IEEE 488.2); False for instruments whose
    #: ``*RST`` is a power cycle that clears them too (the AMI 430)
    reset_keeps_status = True
    esr = 0
    ese = 0
    sre = 0

    def reset(self) -> None:
        """Power-on state: error queue, event registers and enables cleared."""
        super().reset()
        self.esr = self.ese = self.sre = 0

    def common_commands(self) -> list[Command]:
        C = Command
        return [
            C("*IDN", query=lambda a: self.idn),
            C("*RST", write=lambda a: self._rst()),
            C("*CLS", write=lambda a: self.clear_status()),
            C("*ESE", query=lambda a: self.bits_query(self.ese, a),
              write=lambda a: setattr(self, "ese", self.bits_written(self.ese, a))),
            C("*ESR", query=lambda a: self._esr(a)),
            C("*SRE", query=lambda a: self.bits_query(self.sre, a),
              write=lambda a: setattr(self, "sre", self.bits_written(self.sre, a))),
            C("*STB", query=lambda a: self.bits_query(self.status_byte(), a)),
            C("*OPC", query=lambda a: self.operation_complete_query(), write=lambda a: self.operation_complete()),
            C("*WAI", write=lambda a: self.complete()),
            C("*TRG", write=lambda a: self.bus_trigger()),
            C("*TST", query=lambda a: "0"),
            C("*OPT", query=lambda a: self.options),
        ]

    # ---- hooks ------------------------------------------------------------------------------------------
    def complete(self) -> None:
        """Finish every pending operation (``*OPC``, ``*OPC?``, ``*WAI``); nothing pends by default."""

    def operation_complete(self) -> None:
        """``*OPC``: set the operation-complete bit once the pending operations are done (here: at once)."""
        self.complete()
        if self.operation_complete_bit is not None:
            self.esr |= 1 << self.operation_complete_bit

    def operation_complete_query(self) -> str | None:
        """``*OPC?``: "1" once the pending operations are done (None: the reply is held, see :meth:`handle`)."""
        self.complete()
        return "1"

    def bus_trigger(self) -> None:
        """``*TRG``: the bus trigger; instruments without a trigger model ignore it."""

    def summary_bits(self) -> int:
        """The instrument's own bits of the status byte (besides 2, 5 and 6)."""
        return 0

    def clear_events(self) -> None:
        """``*CLS``: clear the instrument's own event registers too."""

    def update_status(self) -> None:
        """Bring the status registers up to now before they are read (an operation that ended since)."""

    def reset_settings(self) -> None:
        """``*RST``: the instrument settings back to their defaults (the status model keeps its registers)."""
        self.reset()

    def event_bit(self, code: int) -> int:
        """The ``*ESR`` bit (as a mask) an error of this code sets: the SCPI error classes."""
        if -199 <= code <= -100:
            return 32
        if -299 <= code <= -200:
            return 16
        if -499 <= code <= -400:
            return 4
        return 8

    # ---- the model --------------------------------------------------------------------------------------
    def push_error(self, code: int, message: str) -> None:
        super().push_error(code, message)
        self.esr |= self.event_bit(code)

    def status_byte(self) -> int:
        self.update_status()
        eav = (1 << self.error_available_bit) if self.errors and self.error_available_bit is not None else 0
        stb = self.summary_bits() | eav | (32 if self.esr & self.ese else 0)
        return stb | (64 if stb & self.sre & ~64 else 0)

    def clear_status(self) -> None:
        """``*CLS``: error queue and event registers emptied; the enables stay."""
        self.errors.clear()
        self.esr = 0
        self.clear_events()

    def _rst(self) -> None:
        kept = (self.esr, self.ese, self.sre, list(self.errors)) if self.reset_keeps_status else (0, 0, 0, [])
        self.reset_settings()
        self.esr, self.ese, self.sre = kept[:3]
        self.errors.clear()
        self.errors.extend(kept[3])

    def _esr(self, args) -> str:
        self.update_status()
        return self.read_clear("esr", args)

    # ---- bit-register helpers (the SR8xx bit arguments) --------------------------------------------------
    def read_clear(self, attr: str, args, top: int = 7) -> str:
        """Read an event register held in attribute ``attr``: all of it (then cleared), or bit ``args[0]``
        (then only that bit is cleared)."""
        value = getattr(self, attr)
        if args:
            bit = self._bit(args, top)
            setattr(self, attr, value & ~(1 << bit))
            return str((value >> bit) & 1)
        setattr(self, attr, 0)
        return str(value)

    def bits_query(self, value: int, args, top: int = 7) -> str:
        """A register's value, or its bit ``args[0]``."""
        return str((value >> self._bit(args, top)) & 1) if args else str(value)

    def bits_written(self, value: int, args, top: int = 7) -> int:
        """The new value of an enable register after ``n`` (all bits) or ``i,x`` (bit i set to x)."""
        args = self.need(args)
        if len(args) >= 2:
            bit, on = self._bit(args[:1], top), int(parse_float(args[1], 0, 1))
            return (value | (1 << bit)) if on else (value & ~(1 << bit))
        number = parse_float(args[0], 0, (1 << (top + 1)) - 1)
        if number != int(number):
            raise CommandError(-222, "Data out of range")
        return int(number)

    @staticmethod
    def _bit(args, top: int = 7) -> int:
        number = parse_float(args[0], 0, top)
        if number != int(number):
            raise CommandError(-222, "Data out of range")
        return int(number)
