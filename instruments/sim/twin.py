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
      positive codes), bit 4 execution error (-2xx), bit 5 command error (-1xx).
    - Status byte (``*STB?``, serial poll) with its enable (``*SRE``): bit 2 error queue not empty, bit 5 event
      summary (ESR & ESE), bit 6 master summary (STB & SRE, bit 6 itself excluded), plus the instrument's own
      summary bits from :meth:`summary_bits` (a Keithley's measurement summary in bit 0, for instance).
    - ``*CLS`` empties the error queue and the event registers; ``*RST`` restores the instrument settings but
      keeps the status registers, enables and error queue (IEEE 488.2 10.32); ``*OPC?``/``*WAI`` wait for pending
      operations (:meth:`complete`); ``*TRG`` is the bus trigger (:meth:`bus_trigger`); ``*TST?`` passes (0);
      ``*OPT?`` answers :attr:`options`.

    Instruments with the SR8xx grammar accept the bit argument of ``*ESE? n``/``*SRE? n``/``*ESR? n``/``*STB? n``
    (SR830 manual, "Status Reporting Commands"). A twin puts :meth:`common_commands` into its command table and
    overrides the hooks it needs; it keeps its own power-on state in ``reset``.
    """

    #: the ``*OPT?`` reply (installed options, as the instrument reports them)
    options = "0"
    #: status-byte bit set while the error queue is not empty (SCPI's EAV, bit 2); None for instruments whose
    #: bit 2 means something else (the SR830's error status summary, given by :meth:`summary_bits`)
    error_available_bit: int | None = 2
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
            C("*CLS", write=lambda a: self._cls()),
            C("*ESE", query=lambda a: self._register(self.ese, a), write=lambda a: self._set_enable("ese", a)),
            C("*ESR", query=lambda a: self._esr(a)),
            C("*SRE", query=lambda a: self._register(self.sre, a), write=lambda a: self._set_enable("sre", a)),
            C("*STB", query=lambda a: self._register(self.status_byte(), a)),
            C("*OPC", query=lambda a: self._opc_query(), write=lambda a: self._opc()),
            C("*WAI", write=lambda a: self.complete()),
            C("*TRG", write=lambda a: self.bus_trigger()),
            C("*TST", query=lambda a: "0"),
            C("*OPT", query=lambda a: self.options),
        ]

    # ---- hooks ------------------------------------------------------------------------------------------
    def complete(self) -> None:
        """Finish every pending operation (``*OPC``, ``*OPC?``, ``*WAI``); nothing pends by default."""

    def bus_trigger(self) -> None:
        """``*TRG``: the bus trigger; instruments without a trigger model ignore it."""

    def summary_bits(self) -> int:
        """The instrument's own bits of the status byte (besides 2, 5 and 6)."""
        return 0

    def clear_events(self) -> None:
        """``*CLS``: clear the instrument's own event registers too."""

    # ---- the model --------------------------------------------------------------------------------------
    def push_error(self, code: int, message: str) -> None:
        super().push_error(code, message)
        if -199 <= code <= -100:
            self.esr |= 32
        elif -299 <= code <= -200:
            self.esr |= 16
        elif -499 <= code <= -400:
            self.esr |= 4
        else:
            self.esr |= 8

    def status_byte(self) -> int:
        eav = (1 << self.error_available_bit) if self.errors and self.error_available_bit is not None else 0
        stb = self.summary_bits() | eav | (32 if self.esr & self.ese else 0)
        return stb | (64 if stb & self.sre & ~64 else 0)

    def _rst(self) -> None:
        """*RST: the instrument settings; the status registers, their enables and the error queue stay."""
        kept = (self.esr, self.ese, self.sre, list(self.errors))
        self.reset()
        self.esr, self.ese, self.sre = kept[:3]
        self.errors.extend(kept[3])

    def _cls(self) -> None:
        self.errors.clear()
        self.esr = 0
        self.clear_events()

    def _esr(self, args: list[str] | tuple = ()) -> str:
        value = self.esr
        if args:
            bit = self._bit(args)
            self.esr &= ~(1 << bit)
            return str((value >> bit) & 1)
        self.esr = 0
        return str(value)

    def _opc(self) -> None:
        self.complete()
        self.esr |= 1

    def _opc_query(self) -> str:
        self.complete()
        return "1"

    def _register(self, value: int, args) -> str:
        return str((value >> self._bit(args)) & 1) if args else str(value)

    def _set_enable(self, which: str, args) -> None:
        args = self.need(args)
        if len(args) >= 2:  # SR8xx: "*ESE bit, value"
            bit, on = self._bit(args[:1]), int(parse_float(args[1], 0, 1))
            value = getattr(self, which)
            setattr(self, which, (value | (1 << bit)) if on else (value & ~(1 << bit)))
            return
        setattr(self, which, int(parse_float(args[0], 0, 255)))

    @staticmethod
    def _bit(args) -> int:
        return int(parse_float(args[0], 0, 7))
