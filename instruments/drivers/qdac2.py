"""QDevil QDAC-II 24-channel high-precision DAC, in pymeasure's declarative style.

Command set (QDAC-II SCPI, as in QDevil's command reference and QDevil's QCoDeS driver): each channel is a
numeric suffix of the ``SOURce`` / ``SENSe`` nodes (``sour3:volt -0.5`` sets channel 3), every channel outputs
-10 V ... +10 V, the DC generator must be in FIXed mode for ``sour#:volt`` to act at once, output filters are
``DC`` (10 Hz), ``MEDium`` (10 kHz) and ``HIGH`` (300 kHz), the current sensor of each channel reads with
``read#?``. Errors go to a SCPI error queue (``syst:err?``, ``syst:err:all?``, ``syst:err:coun?``).

The instrument talks over LAN (raw socket, port 5025) or USB serial; both terminate messages with ``\\n``.

Example::

    qdac = QDac2("TCPIP0::127.0.0.1::5025::SOCKET")
    qdac.ch_3.dc_mode = "fixed"
    qdac.ch_3.voltage = -0.5          # V
    qdac.ch_3.voltage                 # -0.5, read back from the instrument
"""

from __future__ import annotations

import logging
import math

from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

log = logging.getLogger(__name__)

__all__ = ["QDac2", "QDac2Channel", "N_CHANNELS", "VOLTAGE_LIMIT_V", "parse_error_list"]

N_CHANNELS = 24
VOLTAGE_LIMIT_V = 10.0  #: every channel spans -10 V ... +10 V

_MODES = {"fixed": "fix", "sweep": "swe", "list": "list"}
_MODE_REPLIES = {"FIX": "fix", "FIXED": "fix", "SWE": "swe", "SWEEP": "swe", "LIST": "list"}
_FILTERS = {"dc": "dc", "med": "med", "medium": "med", "high": "high"}


def _lower_word(reply) -> str:
    return str(reply).strip().strip('"').lower()


def _mode_from_reply(reply: str) -> str:
    word = reply.strip().strip('"').upper()
    return _MODE_REPLIES.get(word, word.lower())  # the instrument's word; map_values turns it into 'fixed' ...


def _filter_from_reply(reply: str) -> str:
    word = _lower_word(reply)
    return {"medium": "med"}.get(word, word)


def _slew_to_text(value) -> str:
    if value == "inf" or (isinstance(value, float) and math.isinf(value)):
        return "inf"
    return f"{float(value):g}"


def _slew_validator(value, values):
    if value == "inf" or (isinstance(value, (int, float)) and math.isinf(value) and value > 0):
        return value
    return strict_range(value, values)


def _float_or_inf(reply) -> float:
    value = float(str(reply).strip())
    return math.inf if value >= 9.9e37 else value  # SCPI's "infinity" is 9.9E37


def parse_error_list(reply: str) -> list[tuple[int, str]]:
    """Split an error-queue reply (``-222,"Data out of range",-113,"Undefined header"``) into (code, message)
    pairs; ``0,"No error"`` gives an empty list."""
    out: list[tuple[int, str]] = []
    text = reply.strip()
    while text:
        code_text, _, rest = text.partition(",")
        rest = rest.lstrip()
        if rest.startswith('"'):
            end = rest.find('"', 1)
            message, text = rest[1:end], rest[end + 1:].lstrip(", ")
        else:
            message, _, text = rest.partition(",")
        code = int(code_text.strip())
        if code != 0:
            out.append((code, message))
    return out


class QDac2Channel(Channel):
    """One output channel (1 ... 24) of the QDAC-II."""

    voltage = Channel.control(
        "sour{ch}:volt?", "sour{ch}:volt %.9g",
        """Control the DC output level of the channel in V (-10 ... 10). Acts at once in FIXed DC mode
        (at the channel's slew rate); the query returns the level set, not the momentary output.""",
        validator=strict_range, values=[-VOLTAGE_LIMIT_V, VOLTAGE_LIMIT_V], get_process=float,
    )

    voltage_last = Channel.measurement(
        "sour{ch}:volt:last?",
        """Get the momentary output voltage of the channel in V (differs from ``voltage`` while slewing).""",
        get_process=float,
    )

    dc_mode = Channel.control(
        "sour{ch}:volt:mode?", "sour{ch}:volt:mode %s",
        """Control the DC generator mode: 'fixed' (a constant level, set by ``voltage``), 'sweep' or 'list'.""",
        validator=strict_discrete_set, values=_MODES, map_values=True, get_process=_mode_from_reply,
    )

    slew_rate = Channel.control(
        "sour{ch}:volt:slew?", "sour{ch}:volt:slew %s",
        """Control the largest rate of change of the DC output in V/s (float, or 'inf' for no limit).""",
        validator=_slew_validator, values=[1e-3, 2e7], set_process=_slew_to_text, get_process=_float_or_inf,
    )

    output_range = Channel.control(
        "sour{ch}:rang?", "sour{ch}:rang %s",
        """Control the output range, 'low' or 'high'.""",
        validator=strict_discrete_set, values=["low", "high"], get_process=_lower_word,
    )

    output_filter = Channel.control(
        "sour{ch}:filt?", "sour{ch}:filt %s",
        """Control the output low-pass filter: 'dc' (10 Hz), 'med' (10 kHz) or 'high' (300 kHz).""",
        validator=strict_discrete_set, values=_FILTERS, map_values=True, get_process=_filter_from_reply,
    )

    current = Channel.measurement(
        "read{ch}?",
        """Measure the current the channel sources, in A (an immediate reading of its current sensor).""",
        get_process=float,
    )

    current_range = Channel.control(
        "sens{ch}:rang?", "sens{ch}:rang %s",
        """Control the current sensor range: 'low' (about 200 nA full scale) or 'high' (about 10 mA).""",
        validator=strict_discrete_set, values=["low", "high"], get_process=_lower_word,
    )

    # ---- DC list generator (QDAC-II command reference, "DC lists"; QDevil's QCoDeS driver) -----------------
    list_voltages = Channel.control(
        "sour{ch}:list:volt?", "sour{ch}:list:volt %s",
        """Control the DC list's levels in V (a sequence of floats, each -10 ... 10; written as one message).""",
        validator=lambda values, _: [strict_range(v, [-VOLTAGE_LIMIT_V, VOLTAGE_LIMIT_V]) for v in values],
        set_process=lambda values: ",".join(f"{v:.9g}" for v in values),
        get_process_list=lambda reply: [float(v) for v in reply if str(v).strip()],
    )

    list_dwell = Channel.control(
        "sour{ch}:list:dwel?", "sour{ch}:list:dwel %.9g",
        """Control the time each list level is held, in s (2 us ... 3600 s).""",
        validator=strict_range, values=[2e-6, 3600.0], get_process=float,
    )

    list_trigger_mode = Channel.control(
        "sour{ch}:list:tmod?", "sour{ch}:list:tmod %s",
        """Control how the list steps: 'auto' (one trigger starts it, then every dwell) or 'stepped' (a trigger
        per level).""",
        validator=strict_discrete_set, values={"auto": "auto", "stepped": "step"}, map_values=True,
        get_process=lambda reply: {"step": "step", "stepped": "step"}.get(_lower_word(reply), _lower_word(reply)),
    )

    list_count = Channel.control(
        "sour{ch}:list:coun?", "sour{ch}:list:coun %d",
        """Control how many times the list runs per start (int, 1 ...).""",
        validator=strict_range, values=[1, 2**31 - 1], cast=int,
    )

    dc_trigger_source = Channel.control(
        "sour{ch}:dc:trig:sour?", "sour{ch}:dc:trig:sour %s",
        """Control what starts the channel's DC generator: 'imm', 'bus', 'int1' ... 'int14', 'ext1' ... 'ext4',
        'hold'.""",
        validator=strict_discrete_set,
        values=["imm", "bus", "hold"] + [f"int{n}" for n in range(1, 15)] + [f"ext{n}" for n in range(1, 5)],
        get_process=_lower_word,
    )

    dc_continuous = Channel.control(
        "sour{ch}:dc:init:cont?", "sour{ch}:dc:init:cont %d",
        """Control whether the DC generator re-arms itself after each run (bool).""",
        validator=strict_discrete_set, values={True: 1, False: 0}, map_values=True,
    )

    marker_step_end = Channel.control(
        "sour{ch}:dc:mark:send?", "sour{ch}:dc:mark:send %d",
        """Control the internal trigger (1 ... 14; 0 = none) the generator fires at the end of every level's
        dwell.""",
        validator=strict_range, values=[0, 14], cast=int,
    )

    def initiate(self) -> None:
        """Arm the channel's DC generator (it starts on its trigger)."""
        self.write("sour{ch}:dc:init")

    def abort(self) -> None:
        """Stop every generator running on this channel."""
        self.write("sour{ch}:all:abor")


class QDac2(SCPIMixin, Instrument):
    """QDevil QDAC-II: 24 DC voltage channels, ``ch_1`` ... ``ch_24`` (also in ``channels``)."""

    channels = Instrument.MultiChannelCreator(QDac2Channel, list(range(1, N_CHANNELS + 1)), prefix="ch_")

    error_count = Instrument.measurement(
        "syst:err:coun?", """Get the number of errors in the error queue (int).""", cast=int,
    )

    def __init__(self, adapter, name: str = "QDevil QDAC-II", **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)

    def channel(self, number: int) -> QDac2Channel:
        """Channel ``number`` (1 ... 24)."""
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= N_CHANNELS:
            raise ValueError(f"{self.name}: channel {number!r} does not exist (1 ... {N_CHANNELS})")
        return getattr(self, f"ch_{number}")

    def all_errors(self) -> list[tuple[int, str]]:
        """Read and clear the whole error queue (``syst:err:all?``); empty list if there was none."""
        return parse_error_list(self.ask("syst:err:all?"))

    def check_errors(self) -> list:
        """Read all errors (one query) and log them; returns [(code, message), ...]."""
        errors = self.all_errors()
        for code, message in errors:
            log.error("%s: %s, %s", self.name, code, message)
        return errors

    def abort(self) -> None:
        """Stop every generator of every channel."""
        self.write("abor")

    def route_trigger_output(self, output: int, source: str) -> None:
        """Drive rear trigger output ``output`` (1 ... 5) from ``source`` ('int1' ... 'int14', 'ext1' ... 'ext4',
        'bus', 'hold')."""
        if not 1 <= output <= 5:
            raise ValueError(f"{self.name}: trigger output {output} does not exist (1 ... 5)")
        self.write(f"outp:trig{output}:sour {source}")

    def fire_internal(self, trigger: int) -> None:
        """Fire internal trigger ``trigger`` (1 ... 14) now."""
        if not 1 <= trigger <= 14:
            raise ValueError(f"{self.name}: internal trigger {trigger} does not exist (1 ... 14)")
        self.write(f"tint {trigger}")
