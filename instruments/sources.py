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

from .roles import InstrumentError, VoltageSource
from pyvisa.errors import VisaIOError

from .visa import direct_line, open_driver, retry_after

__all__ = ["Keithley2400Source", "make_keithley2400", "Keithley2450Source", "make_keithley2450",
           "YokogawaGS200Source", "make_yokogawags200", "QDac2Source", "QDac2ChannelSource", "make_qdac2"]


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
        return list(self.driver.check_errors())

    def check_errors(self) -> None:
        errors = self._errors()
        if errors:
            raise InstrumentError(f"{self.name}: the instrument reports {_format_errors(errors)}")

    def _checked(self, what: str, value, call: Callable[[], None], unit: str = "V") -> None:
        shown = f"{value:g} {unit}" if isinstance(value, (int, float)) else repr(value)
        try:
            call()
        except ValueError as exc:  # the driver's validator
            raise InstrumentError(f"{self.name}: {what} {shown} refused by the driver: {exc}") from exc
        errors = self._errors()
        if errors:
            raise InstrumentError(f"{self.name}: {what} {shown} refused by the instrument: {_format_errors(errors)}")


class _KeithleySMU(_CheckedSource):
    """What the Keithley 2400 and 2450 adapters share (pymeasure's ``source_voltage``, ``compliance_current``,
    ``source_enabled``, ``source_mode``): reading and writing the level, the current limit, switching on at 0 V."""

    COMPLIANCE_NAME = "compliance current"  #: what the instrument calls its current limit (for messages)
    COMPLIANCE_KEY = "compliance_A"  #: its snapshot key

    def __init__(self, driver, name: str, compliance_A: float | None = None):
        self.driver = driver
        self.name = name
        self.compliance_A = compliance_A

    def read_voltage(self) -> float:
        return float(self.driver.source_voltage)

    def write_voltage(self, volts: float) -> None:
        self._checked("source voltage", volts, lambda: setattr(self.driver, "source_voltage", volts))

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


class Keithley2400Source(_KeithleySMU):
    """A Keithley 2400 as a voltage source, through pymeasure's unmodified ``Keithley2400`` driver."""

    #: what pymeasure's ``Keithley2400.source_voltage`` sends and accepts (its set command and its
    #: ``strict_range`` values): :meth:`write_voltage_fast` sends the same bytes without the property layer
    #: (tests compare the two, byte for byte)
    LEVEL_COMMAND = ":SOURCE:VOLTAGE %g"
    LEVEL_RANGE_V = (-210.0, 210.0)

    def __init__(self, driver, name: str = "keithley2400", compliance_A: float | None = None):
        super().__init__(driver, name, compliance_A)
        self._line = direct_line(driver)

    @staticmethod
    def quantize(volts: float) -> float:
        """The level the 2400 will hold for a requested one: pymeasure's driver writes it with ``%g`` (6
        significant digits). Safe ramps plan with these values so that rounding never enlarges a step."""
        return float(f"{volts:g}")

    def check_errors(self) -> None:
        """The error queue, and the current compliance (a leaking gate drives the output into it)."""
        super().check_errors()
        if self.driver.source_enabled and int(float(self.driver.ask(":SENS:CURR:PROT:TRIP?"))):
            raise InstrumentError(f"{self.name}: current compliance reached at {self.read_voltage():g} V "
                                  "(gate leakage?); stopping")

    def write_voltage_fast(self, volts: float) -> None:
        """Inside a verified sweep (the error queue is read periodically, see SafeGate.sweeping): the level
        command straight to the connection, under the retry policy."""
        lo, hi = self.LEVEL_RANGE_V
        if not lo <= volts <= hi:  # also refuses NaN
            raise InstrumentError(f"{self.name}: source voltage {volts:g} V refused: outside [{lo:g}, {hi:g}] V")
        command = self.LEVEL_COMMAND % volts
        line = self._line
        try:  # the first attempt without a wrapper: this runs every point
            line.write(command)
        except VisaIOError as exc:
            retry_after(self.driver, self.name, f"write {command!r}", lambda: line.write(command), (VisaIOError,), exc)

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

    def write_voltage(self, volts: float) -> None:
        self._checked("source level", volts, lambda: setattr(self.driver, "source_level", volts))

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

    def write_voltage(self, volts: float) -> None:
        self._checked("DC level", volts, lambda: setattr(self.channel_driver, "voltage", volts))

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
