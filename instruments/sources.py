"""Voltage sources (gates, DC bias) in the :class:`~qpclab.instruments.roles.VoltageSource` role.

Each adapter wraps a driver (pymeasure's where it has a working one, ours in :mod:`qpclab.instruments.drivers`
otherwise) and is built by a factory ``make_<driver>(resource, visa_library, name, **options)`` that
:mod:`qpclab.instruments.registry` names.

Errors: a value the driver's own validator rejects, and a setting the instrument refuses (read from its error
queue after every write: drivers validate only part of what the instrument checks, e.g. not the present range),
both raise :class:`~qpclab.instruments.roles.InstrumentError` naming the instrument and the value.
"""

from __future__ import annotations

from typing import Any, Callable

import math

from pyvisa.errors import VisaIOError

from .roles import MAX_ERROR_READS, ComplianceError, InstrumentError, VoltageSource

from .visa import direct_line, open_driver, retry_after

__all__ = ["Keithley2400Source", "make_keithley2400", "Keithley2450Source", "make_keithley2450",
           "YokogawaGS200Source", "make_yokogawags200", "QDac2Source", "QDac2ChannelSource", "make_qdac2",
           "keithley_resolution", "keithley2450_resolution", "gs200_resolution", "qdac2_resolution", "format_g_resolution"]


# ---- resolution: the smallest change each source can make (station validation and ramp planning use it) -------

def format_g_resolution(volts: float) -> float:
    """The spacing of values written with ``%g`` (6 significant digits, as pymeasure's drivers write levels):
    10 uV from 1 V to 10 V, 1 uV from 0.1 V to 1 V, ..."""
    a = abs(volts)
    if a < 1e-30:
        return 0.0
    return 10.0 ** (math.floor(math.log10(a)) - 5)


#: Keithley 2400/2450 source voltage ranges (V, full scale; 5 % over-range) and their programming resolution (V),
#: from the 2400 and 2450 specifications: 200 mV 5 uV, 2 V 50 uV, 20 V 500 uV, 200 V 5 mV (2450: also 20 mV 500 nV)
_KEITHLEY_RANGES_V = ((0.02, 5e-7), (0.2, 5e-6), (2.0, 5e-5), (20.0, 5e-4), (200.0, 5e-3))


def keithley_resolution(volts: float, lowest_range_V: float = 0.2) -> float:
    """A Keithley 2400 (``lowest_range_V`` 0.2) or 2450 (0.02) on auto range: the programming resolution of the
    range auto-ranging picks for ``volts``, or the ``%g`` format's spacing where that is coarser."""
    a = abs(volts)
    res = _KEITHLEY_RANGES_V[-1][1]
    for full_scale, step in _KEITHLEY_RANGES_V:
        if full_scale >= lowest_range_V and a <= full_scale * 1.05:
            res = step
            break
    return max(res, format_g_resolution(volts))


#: Yokogawa GS200 voltage ranges (V) and their resolution (V) (GS200 user's manual, specifications)
_GS200_RESOLUTION_V = {0.01: 1e-7, 0.1: 1e-6, 1.0: 1e-5, 10.0: 1e-4, 30.0: 1e-3}


def gs200_resolution(volts: float, range_V: float = 10.0) -> float:
    """A GS200 on the fixed ``range_V``: the range's resolution, or the ``%g`` spacing where that is coarser."""
    res = _GS200_RESOLUTION_V.get(float(range_V), max(_GS200_RESOLUTION_V.values()))
    return max(res, format_g_resolution(volts))


#: QDAC-II: 25-bit DACs over the +-10 V high range (QDevil's specification); our driver writes ``%.9g``
QDAC2_RESOLUTION_V = 20.0 / 2**25


def qdac2_resolution(volts: float) -> float:
    return QDAC2_RESOLUTION_V


def keithley2450_resolution(volts: float) -> float:
    """A Keithley 2450 on auto range (its lowest range is 20 mV)."""
    return keithley_resolution(volts, 0.02)


def _format_errors(errors) -> str:
    parts = []
    for err in errors:
        code, message = (err[0], err[1]) if isinstance(err, (list, tuple)) and len(err) > 1 else (err, "")
        try:
            code = int(float(code))
        except (TypeError, ValueError):
            pass
        parts.append(f"{code} {str(message).strip().strip(chr(34))}".strip())
    return "; ".join(parts)


class _CheckedSource(VoltageSource):
    """Shared error handling: run a driver call, then read the instrument's error queue."""

    driver: Any

    def _errors(self) -> list:
        """Drain the error queue (``SYST:ERR?`` until 0), at most :data:`MAX_ERROR_READS` reads: a queue that
        does not empty (pymeasure's ``check_errors`` would loop for ever) is an instrument failure."""
        errors = []
        for _ in range(MAX_ERROR_READS):
            err = self.driver.next_error
            code = err[0] if isinstance(err, (list, tuple)) else err
            if int(float(code)) == 0:
                return errors
            errors.append(err)
        raise InstrumentError(f"{self.name}: error queue does not empty after {MAX_ERROR_READS} reads "
                              f"(last: {_format_errors(errors[-1:])}): instrument failure")

    def check_errors(self) -> None:
        errors = self._errors()
        if errors:
            raise InstrumentError(f"{self.name}: the instrument reports {_format_errors(errors)}")

    #: the driver property that holds the level, and its name in messages
    LEVEL_PROPERTY = "source_voltage"
    LEVEL_NAME = "source voltage"

    def _level_owner(self):
        """The driver object whose ``LEVEL_PROPERTY`` is the level (a channel for multi-channel instruments)."""
        return self.driver

    def write_voltage(self, volts: float) -> None:
        self._checked(self.LEVEL_NAME, volts, lambda: setattr(self._level_owner(), self.LEVEL_PROPERTY, volts))

    def write_voltage_fast(self, volts: float) -> None:
        """The level through the driver (its validator still applies), without reading the error queue."""
        self._unchecked(self.LEVEL_NAME, volts,
                        lambda: setattr(self._level_owner(), self.LEVEL_PROPERTY, volts))

    def _unchecked(self, what: str, value, call: Callable[[], None], unit: str = "V") -> None:
        try:
            call()
        except ValueError as exc:  # the driver's validator
            shown = f"{value:g} {unit}" if isinstance(value, (int, float)) else repr(value)
            raise InstrumentError(f"{self.name}: {what} {shown} refused by the driver: {exc}") from exc

    def _checked(self, what: str, value, call: Callable[[], None], unit: str = "V") -> None:
        shown = f"{value:g} {unit}" if isinstance(value, (int, float)) else repr(value)
        self._unchecked(what, value, call, unit)
        errors = self._errors()
        if errors:
            raise InstrumentError(f"{self.name}: {what} {shown} refused by the instrument: {_format_errors(errors)}")


class _KeithleySMU(_CheckedSource):
    """What the Keithley 2400 and 2450 adapters share (pymeasure's ``source_voltage``, ``compliance_current``,
    ``source_enabled``, ``source_mode``): reading and writing the level, the current limit, switching on at 0 V."""

    COMPLIANCE_NAME = "compliance current"  #: what the instrument calls its current limit (for messages)
    COMPLIANCE_KEY = "compliance_A"  #: its snapshot key

    #: the query that reads 1 while the current limit holds the output (each model's own)
    TRIPPED_QUERY = ""
    #: the lowest source range of the model (V): sets the finest resolution (see :func:`keithley_resolution`)
    LOWEST_RANGE_V = 0.2

    def __init__(self, driver, name: str, compliance_A: float | None = None):
        self.driver = driver
        self.name = name
        self.compliance_A = compliance_A
        self._line = direct_line(driver)

    def read_voltage(self) -> float:
        return float(self.driver.source_voltage)

    def quantize(self, volts: float) -> float:
        """The level the instrument will hold for a requested one: pymeasure's driver writes it with ``%g`` (6
        significant digits). Safe ramps plan with these values so that rounding never enlarges a step."""
        return float(f"{volts:g}")

    def resolution(self, volts: float) -> float:
        return keithley_resolution(volts, self.LOWEST_RANGE_V)

    def compliance_limit_A(self) -> float | None:
        return self.compliance_A

    def output_enabled(self) -> bool:
        return bool(self.driver.source_enabled)

    def in_compliance(self) -> bool:
        """One query of the tripped flag (per point)."""
        return self._ask_flag(self.TRIPPED_QUERY)

    def _ask_flag(self, message: str) -> bool:
        """A message whose one reply is 0 or 1, straight to the connection under the retry policy (repeated
        whole on a lost reply: it sets nothing, or an absolute level)."""
        line = self._line

        def exchange() -> str:
            line.write(message)
            return line.read()

        try:
            reply = exchange()
        except VisaIOError as exc:
            reply = retry_after(self.driver, self.name, f"query {message!r}", exchange, (VisaIOError,), exc)
        return _flag(self.name, message, reply)

    def _set_compliance(self) -> None:
        if self.compliance_A is not None:
            self._checked(self.COMPLIANCE_NAME, self.compliance_A,
                          lambda: setattr(self.driver, "compliance_current", self.compliance_A), "A")

    def _auto_range(self) -> None:
        """Switch the voltage source range to auto (each model's own command)."""
        raise NotImplementedError

    def enable(self) -> None:
        d = self.driver
        if d.source_enabled and d.source_mode == "voltage":
            self._set_compliance()
            return  # already sourcing: leave the level alone
        # An output that is off holds the sample at 0 V (NORMal output-off state): program 0 V before switching
        # on, so that enabling never applies a stale level.
        d.disable_source()
        d.source_mode = "voltage"
        self._auto_range()
        self.write_voltage(0.0)
        self._set_compliance()
        d.enable_source()

    def snapshot(self) -> dict[str, Any]:
        d = self.driver
        return {"voltage_V": float(d.source_voltage), "output_on": bool(d.source_enabled),
                self.COMPLIANCE_KEY: float(d.compliance_current)}


def _flag(name: str, query: str, reply: str) -> bool:
    """A 0/1 reply; anything else is a corrupt reply (an InstrumentError: never read as 'not in compliance')."""
    text = reply.strip()
    if text in ("0", "1"):
        return text == "1"
    try:
        return bool(int(float(text)))
    except ValueError:
        raise InstrumentError(f"{name}: {query!r} answered {reply!r}, not 0 or 1") from None


class Keithley2400Source(_KeithleySMU):
    """A Keithley 2400 as a voltage source, through pymeasure's unmodified ``Keithley2400`` driver."""

    #: what pymeasure's ``Keithley2400.source_voltage`` sends and accepts (its set command and its
    #: ``strict_range`` values): :meth:`write_voltage_fast` sends the same bytes without the property layer
    #: (tests compare the two, byte for byte)
    LEVEL_COMMAND = ":SOURCE:VOLTAGE %g"
    LEVEL_RANGE_V = (-210.0, 210.0)
    TRIPPED_QUERY = ":SENS:CURR:PROT:TRIP?"
    #: the level command and the tripped query in one program message: one exchange per step (SCPI compound
    #: message; the reply is the query's 0 or 1)
    WATCHED_COMMAND = LEVEL_COMMAND + ";" + TRIPPED_QUERY

    def __init__(self, driver, name: str = "keithley2400", compliance_A: float | None = None):
        super().__init__(driver, name, compliance_A)

    def check_errors(self) -> None:
        """The error queue, and the current compliance (a leaking gate drives the output into it)."""
        super().check_errors()
        if self.driver.source_enabled and self.in_compliance():
            raise ComplianceError(self.name, self.read_voltage(), self.compliance_A)

    def _level_in_range(self, volts: float) -> None:
        lo, hi = self.LEVEL_RANGE_V
        if not lo <= volts <= hi:  # also refuses NaN
            raise InstrumentError(f"{self.name}: source voltage {volts:g} V refused: outside [{lo:g}, {hi:g}] V")

    def write_voltage_fast(self, volts: float) -> None:
        """Inside a verified sweep (the error queue is read periodically, see SafeGate.sweeping): the level
        command straight to the connection, under the retry policy."""
        self._level_in_range(volts)
        command = self.LEVEL_COMMAND % volts
        line = self._line
        try:  # the first attempt without a wrapper: this runs every point
            line.write(command)
        except VisaIOError as exc:
            retry_after(self.driver, self.name, f"write {command!r}", lambda: line.write(command), (VisaIOError,), exc)

    def write_voltage_watched(self, volts: float) -> bool:
        """The level and the compliance flag in one exchange (``:SOURCE:VOLTAGE v;:SENS:CURR:PROT:TRIP?``): one
        reply more than :meth:`write_voltage_fast`, no second message. Repeated whole on a lost reply (the level
        is absolute)."""
        self._level_in_range(volts)
        return self._ask_flag(self.WATCHED_COMMAND % volts)

    def _auto_range(self) -> None:
        self.driver.source_voltage_range_auto_enabled = True


def make_keithley2400(resource: str, visa_library: str, name: str, **kw) -> Keithley2400Source:
    """A Keithley 2400 through pymeasure's unmodified ``Keithley2400``."""
    from pymeasure.instruments.keithley import Keithley2400

    return Keithley2400Source(open_driver(Keithley2400, resource, visa_library, name, kw), name,
                              kw.get("compliance_A"))


class Keithley2450Source(_KeithleySMU):
    """A Keithley 2450 (native SCPI command set) as a voltage source, through pymeasure's ``Keithley2450``."""

    COMPLIANCE_NAME = "current limit"
    COMPLIANCE_KEY = "current_limit_A"
    TRIPPED_QUERY = ":SOUR:VOLT:ILIM:TRIP?"
    LOWEST_RANGE_V = 0.02

    def __init__(self, driver, name: str = "keithley2450", compliance_A: float | None = None):
        super().__init__(driver, name, compliance_A)

    def _auto_range(self) -> None:
        self.driver.write(":SOUR:VOLT:RANG:AUTO 1")


def make_keithley2450(resource: str, visa_library: str, name: str, **kw) -> Keithley2450Source:
    """A Keithley 2450 through pymeasure's unmodified ``Keithley2450``."""
    from pymeasure.instruments.keithley import Keithley2450

    return Keithley2450Source(open_driver(Keithley2450, resource, visa_library, name, kw), name,
                              kw.get("compliance_A"))


class YokogawaGS200Source(_CheckedSource):
    """A Yokogawa GS200 as a voltage source, through pymeasure's unmodified ``YokogawaGS200``.

    ``range_V`` is the fixed source range used when the adapter switches the output on (10 mV, 100 mV, 1 V, 10 V
    or 30 V; levels up to 120 % of it). ``compliance_A`` sets the current limiter (1 mA ... 200 mA).
    """

    def __init__(self, driver, name: str = "yokogawags200", compliance_A: float | None = None,
                 range_V: float = 10.0):
        self.driver = driver
        self.name = name
        self.compliance_A = compliance_A
        self.range_V = float(range_V)
        lo, hi = self.LIMITER_SPAN_A
        if compliance_A is not None and not lo <= compliance_A <= hi:
            raise InstrumentError(f"{name}: current limit {compliance_A:g} A is outside the GS200 limiter's span "
                                  f"[{lo:g}, {hi:g}] A")

    def read_voltage(self) -> float:
        return float(self.driver.source_level)

    def quantize(self, volts: float) -> float:
        """pymeasure's driver writes the level with ``%g``."""
        return float(f"{volts:g}")

    def resolution(self, volts: float) -> float:
        return gs200_resolution(volts, self.range_V)

    def output_enabled(self) -> bool:
        return bool(self.driver.source_enabled)

    LEVEL_PROPERTY = "source_level"
    LEVEL_NAME = "source level"

    #: the GS200's current limiter spans 1 mA ... 200 mA (pymeasure would silently truncate a value outside it)
    LIMITER_SPAN_A = (1e-3, 200e-3)

    def _set_compliance(self) -> None:
        if self.compliance_A is not None:
            self._checked("current limit", self.compliance_A,
                          lambda: setattr(self.driver, "current_limit", self.compliance_A), "A")

    def enable(self) -> None:
        d = self.driver
        if d.source_enabled and str(d.source_mode).strip().upper().startswith("VOLT"):
            self._set_compliance()
            return
        d.source_enabled = False  # relay open
        d.source_mode = "voltage"
        self._checked("source range", self.range_V, lambda: setattr(d, "source_range", self.range_V))
        self.write_voltage(0.0)
        self._set_compliance()
        d.source_enabled = True

    def snapshot(self) -> dict[str, Any]:
        d = self.driver
        return {"voltage_V": float(d.source_level), "output_on": bool(d.source_enabled),
                "range_V": float(d.source_range)}


def make_yokogawags200(resource: str, visa_library: str, name: str, **kw) -> YokogawaGS200Source:
    """A Yokogawa GS200 through pymeasure's unmodified ``YokogawaGS200`` (option ``range_V``, default 10 V)."""
    import warnings

    from pymeasure.instruments.yokogawa import YokogawaGS200

    with warnings.catch_warnings():  # pymeasure warns that it does not know whether the GS200 speaks SCPI: it does
        warnings.simplefilter("ignore", FutureWarning)
        driver = open_driver(YokogawaGS200, resource, visa_library, name, kw)
    return YokogawaGS200Source(driver, name, kw.get("compliance_A"), kw.get("range_V", 10.0))


class QDac2ChannelSource(_CheckedSource):
    """One channel of a QDevil QDAC-II as a voltage source (our :class:`~qpclab.instruments.drivers.qdac2.QDac2`)."""

    def __init__(self, parent: "QDac2Source", number: int):
        self.parent = parent
        self.driver = parent.driver
        self.number = number
        self.channel_driver = parent.driver.channel(number)
        self.name = f"{parent.name} channel {number}"

    def read_voltage(self) -> float:
        return float(self.channel_driver.voltage)

    def _errors(self) -> list:
        """The whole queue in one query (``syst:err:all?``): bounded by itself."""
        return list(self.driver.check_errors())

    def quantize(self, volts: float) -> float:
        """Our driver writes ``%.9g``."""
        return float(f"{volts:.9g}")

    def resolution(self, volts: float) -> float:
        return qdac2_resolution(volts)

    LEVEL_PROPERTY = "voltage"
    LEVEL_NAME = "DC level"

    def _level_owner(self):
        return self.channel_driver

    def enable(self) -> None:
        """QDAC-II outputs are always connected: make sure the DC generator holds a fixed level, at the present
        output (so a channel left in sweep/list mode does not jump to a stale level)."""
        ch = self.channel_driver
        if ch.dc_mode == "fixed":
            self._errors()  # start with an empty error queue
            return
        present = float(ch.voltage_last)
        self.write_voltage(present)
        self._checked("DC mode", "fixed", lambda: setattr(ch, "dc_mode", "fixed"))

    def snapshot(self) -> dict[str, Any]:
        ch = self.channel_driver
        return {"voltage_V": float(ch.voltage), "output_V": float(ch.voltage_last),
                "slew_V_per_s": float(ch.slew_rate), "filter": ch.output_filter, "range": ch.output_range}


class QDac2Source(VoltageSource):
    """A QDevil QDAC-II: 24 channels, each a :class:`QDac2ChannelSource` from :meth:`channel`.

    The instrument itself has no single output: ``read_voltage``/``write_voltage``/``enable`` need a channel.
    """

    def __init__(self, driver, name: str = "qdac2"):
        self.driver = driver
        self.name = name
        self._channels: dict[int, QDac2ChannelSource] = {}

    def channel(self, number: int | None) -> QDac2ChannelSource:
        from .drivers.qdac2 import N_CHANNELS

        if number is None:
            raise ValueError(f"{self.name}: a QDAC-II has {N_CHANNELS} channels; name one (channel: 1 ... "
                             f"{N_CHANNELS}) in the station file")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= N_CHANNELS:
            raise ValueError(f"{self.name}: channel {number!r} does not exist (1 ... {N_CHANNELS})")
        if number not in self._channels:
            self._channels[number] = QDac2ChannelSource(self, number)
        return self._channels[number]

    def _no_channel(self):
        raise InstrumentError(f"{self.name}: a QDAC-II has no single output; use .channel(n)")

    def read_voltage(self) -> float:
        self._no_channel()

    def write_voltage(self, volts: float) -> None:
        self._no_channel()

    def enable(self) -> None:
        self._no_channel()

    def snapshot(self) -> dict[str, Any]:
        snap: dict[str, Any] = {"idn": str(self.driver.id)}
        for n, ch in sorted(self._channels.items()):
            snap[f"channel_{n}"] = ch.snapshot()
        return snap


def make_qdac2(resource: str, visa_library: str, name: str, **kw) -> QDac2Source:
    """A QDevil QDAC-II through our :class:`~qpclab.instruments.drivers.qdac2.QDac2` driver."""
    from .drivers.qdac2 import QDac2

    return QDac2Source(open_driver(QDac2, resource, visa_library, name, kw), name)
