"""Lock-in amplifiers in the :class:`~qpclab.instruments.roles.LockIn` role.

Each adapter wraps a driver (pymeasure's where it has a working one) and is built by a factory
``make_<driver>(resource, visa_library, name, **options)`` that :mod:`qpclab.instruments.registry` names.

Beyond the role (X, Y, time constant, filter slope, excitation, overload, settle time) every adapter offers R and
theta, the sensitivity with a software auto-range, and refuses out-of-range settings with an
:class:`~qpclab.instruments.roles.InstrumentError` naming the instrument and the value. pymeasure's SRS drivers
*truncate* out-of-range values silently (``truncated_range``); the adapters check before they write, and after
every setting read the standard event status register (``*ESR?``: bit 4 execution error, bit 5 command error, as
both the SR830 and SR86x manuals define it) so that a setting the instrument itself refused is reported too.
"""

from __future__ import annotations

import math
from typing import Any

from pyvisa.errors import VisaIOError

from .roles import InstrumentError, LockIn
from .tables import sr830 as sr830_tables, sr86x as sr86x_tables
from .visa import RETRY_ATTEMPTS, direct_line, install_retries, open_driver, printable, retry_after

__all__ = ["SRSLockIn", "SR830LockIn", "SR86xLockIn", "make_sr830", "make_sr860", "make_sr865"]

_SLOPES_DB = (6, 12, 18, 24)


class SRSLockIn(LockIn):
    """Common part of the Stanford Research lock-in adapters (SR830, SR86x)."""

    #: model limits, set by subclasses
    SENSITIVITIES_V: tuple[float, ...] = ()
    TIME_CONSTANTS_S: tuple[float, ...] = ()
    EXCITATION_RANGE_V: tuple[float, float] = (0.0, 0.0)
    FREQUENCY_RANGE_HZ: tuple[float, float] = (0.0, 0.0)
    OVERLOAD_BITS = 0  #: LIAS bits that mean an overload

    def __init__(self, driver, name: str):
        self.driver = driver
        self.name = name
        self._line = direct_line(driver)  # the per-point read goes straight to the connection

    # ---- error handling -----------------------------------------------------------------------------------
    def _refuse(self, what: str, value: Any, allowed: str) -> InstrumentError:
        return InstrumentError(f"{self.name}: {what} {value!r} is out of range ({allowed})")

    def check_errors(self, context: str = "") -> None:
        """Raise :class:`InstrumentError` if the instrument flagged a command or execution error (``*ESR?``)."""
        esr = int(float(self.driver.ask("*ESR?")))
        if esr & 0b110000:
            kind = "execution error (parameter out of range)" if esr & 0b10000 else "command error"
            raise InstrumentError(f"{self.name}: instrument reported a {kind}"
                                  + (f" after {context}" if context else "") + f" (*ESR? = {esr})")

    def _exact(self, table: tuple[float, ...], value: float, what: str, unit: str) -> float:
        """The table entry equal to ``value`` (1e-6 relative), or the next larger one; refused beyond the table."""
        v = float(value)
        if not math.isfinite(v) or v <= 0 or v > table[-1] * (1 + 1e-6):
            raise self._refuse(what, value, f"{table[0]:g} {unit} to {table[-1]:g} {unit}")
        for t in table:
            if t >= v * (1 - 1e-6):
                return t
        return table[-1]

    # ---- role ---------------------------------------------------------------------------------------------
    @property
    def time_constant(self) -> float:
        return float(self.driver.time_constant)

    @time_constant.setter
    def time_constant(self, seconds: float) -> None:
        tc = self._exact(self.TIME_CONSTANTS_S, seconds, "time constant", "s")
        self.driver.time_constant = tc
        self.check_errors(f"time constant {seconds!r} s")

    @property
    def filter_slope(self) -> int:
        return self._slope_from_driver(self.driver.filter_slope)

    @filter_slope.setter
    def filter_slope(self, db: int) -> None:
        if db not in _SLOPES_DB:
            raise self._refuse("filter slope", db, "6, 12, 18 or 24 dB/oct")
        self.driver.filter_slope = self._slope_to_driver(int(db))
        self.check_errors(f"filter slope {db!r} dB/oct")

    @property
    def excitation_V(self) -> float:
        return float(self.driver.sine_voltage)

    @excitation_V.setter
    def excitation_V(self, volts: float) -> None:
        lo, hi = self.EXCITATION_RANGE_V
        v = float(volts)
        if not (math.isfinite(v) and lo <= v <= hi):
            raise self._refuse("sine output amplitude", volts, f"{lo:g} V to {hi:g} V rms")
        self.driver.sine_voltage = v
        self.check_errors(f"sine output amplitude {volts!r} V")

    @property
    def frequency_Hz(self) -> float:
        return float(self.driver.frequency)

    @frequency_Hz.setter
    def frequency_Hz(self, hz: float) -> None:
        lo, hi = self.FREQUENCY_RANGE_HZ
        f = float(hz)
        if not (math.isfinite(f) and lo <= f <= hi):
            raise self._refuse("reference frequency", hz, f"{lo:g} Hz to {hi:g} Hz")
        self.driver.frequency = f
        self.check_errors(f"reference frequency {hz!r} Hz")

    @property
    def sensitivity(self) -> float:
        return float(self.driver.sensitivity)

    @sensitivity.setter
    def sensitivity(self, volts: float) -> None:
        table = tuple(sorted(self.SENSITIVITIES_V))
        self.driver.sensitivity = self._exact(table, volts, "sensitivity", "V")
        self.check_errors(f"sensitivity {volts!r} V")

    def read_xy(self) -> tuple[float, float]:
        x, y = self._snap("X", "Y")
        return float(x), float(y)

    def read_r_theta(self) -> tuple[float, float]:
        """R (V rms) and theta (degrees) sampled together."""
        r, theta = self._snap("R", "THETA")
        return float(r), float(theta)

    @property
    def x(self) -> float:
        return self.read_xy()[0]

    @property
    def y(self) -> float:
        return self.read_xy()[1]

    @property
    def r(self) -> float:
        return self.read_r_theta()[0]

    @property
    def theta(self) -> float:
        return self.read_r_theta()[1]

    def overloaded(self) -> bool:
        status = int(float(self.driver.ask("LIAS?")))
        return bool(status & self.OVERLOAD_BITS)

    def reference_unlocked(self) -> bool:
        """LIA status bit 3 (UNLK on the SR830 and the SR86x), read and cleared alone: the overload bits stay for
        the next reading."""
        return bool(int(float(self.driver.ask("LIAS? 3"))))

    #: the one program message of :meth:`read_xy_checked`: X and Y sampled together, then the LIA status
    XY_STATUS_MESSAGE = ""

    def read_xy_checked(self) -> tuple[float, float, bool]:
        """X, Y (V rms, sampled together) and whether the lock-in overloaded (``LIAS?`` overload bits, latched
        since the status was last read), in ONE program message: one round trip per point instead of two.

        The exchange (write, then the reply or replies) is retried as one unit under qpclab's retry policy
        (:mod:`qpclab.instruments.visa`: a lost, corrupt, cut-off or unparseable reply -> device clear, send again;
        InstrumentError naming the instrument after the last attempt). ``LIAS?`` clears what it reads: if a reply
        is lost, the retry sees only overloads that are still present, as two separate queries would.
        """
        try:  # the first attempt without a wrapper: this runs every point
            return self._xy_status_once()
        except (VisaIOError, ValueError) as exc:
            return retry_after(self.driver, self.name, f"query {self.XY_STATUS_MESSAGE!r}", self._xy_status_once,
                               (VisaIOError, ValueError), exc, RETRY_ATTEMPTS)

    def _xy_status_once(self) -> tuple[float, float, bool]:
        """One exchange, ``"X,Y"`` and ``"status"`` -> (X, Y, overloaded); ValueError for a corrupt (not printable
        ASCII) or unparseable reply, which the retry policy then asks again for. In one piece: it runs every point."""
        replies = self._exchange_xy_status(self.XY_STATUS_MESSAGE)
        if len(replies) != 2:
            raise ValueError(f"expected X,Y and the status, got {replies!r}")
        xy, status = replies
        if not (printable(xy) and printable(status)):
            raise ValueError(f"corrupt reply {replies!r}")
        parts = xy.split(",")
        if len(parts) != 2:
            raise ValueError(f"expected two values X,Y, got {xy!r}")
        x, y = float(parts[0]), float(parts[1])  # float() ignores surrounding blanks
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"X, Y not finite: {xy!r}")
        return x, y, bool(int(float(status)) & self.OVERLOAD_BITS)

    def _exchange_xy_status(self, message: str) -> list[str]:
        raise NotImplementedError

    def sensitivity_up(self) -> bool:
        """One sensitivity step coarser (after an overload); False if already at the largest full scale."""
        table = sorted(self.SENSITIVITIES_V)
        now = self.sensitivity
        bigger = [v for v in table if v > now * 1.0001]
        if not bigger:
            return False
        self.sensitivity = bigger[0]
        return True

    def auto_range(self, headroom: float = 0.8, max_steps: int = 40) -> float:
        """Pick the most sensitive full scale that holds the present signal with ``headroom`` (R < headroom * FS).

        Works from the read-out, whatever the brand: coarser while overloaded, then the smallest full scale
        above R / headroom. Call it on a settled signal. Returns the chosen full scale (V).
        """
        table = sorted(self.SENSITIVITIES_V)
        self.overloaded()  # clear a stale latched overload
        for _ in range(max_steps):
            r = abs(self.read_r_theta()[0])
            if self.overloaded() or r >= headroom * self.sensitivity:
                if not self.sensitivity_up():
                    break
                continue
            target = next((fs for fs in table if r < headroom * fs), table[-1])
            if target < self.sensitivity * 0.9999:
                self.sensitivity = target
                continue
            break
        return self.sensitivity

    def snapshot(self) -> dict[str, Any]:
        d = self.driver
        snap = super().snapshot()
        snap.update({"sensitivity_V": float(d.sensitivity), "frequency_Hz": float(d.frequency),
                     "phase_deg": float(d.phase)})
        return snap

    # ---- model specifics ----------------------------------------------------------------------------------
    def _snap(self, a: str, b: str):
        raise NotImplementedError

    def _slope_to_driver(self, db: int):
        return db

    def _slope_from_driver(self, value) -> int:
        return int(value)


class SR830LockIn(SRSLockIn):
    """An SR830 as a lock-in, through pymeasure's unmodified ``SR830`` driver."""

    SENSITIVITIES_V = sr830_tables.SENSITIVITIES_V
    TIME_CONSTANTS_S = sr830_tables.TIME_CONSTANTS_S
    EXCITATION_RANGE_V = (0.004, 5.0)
    FREQUENCY_RANGE_HZ = (0.001, 102e3)
    OVERLOAD_BITS = 0b111  # LIAS bits 0 input/reserve, 1 filter, 2 output overload

    #: SR830 manual: SNAP? 1,2 is X and Y at one instant; several queries in one message are answered one by one,
    #: each reply with its own terminator
    XY_STATUS_MESSAGE = "SNAP? 1,2;LIAS?"

    def __init__(self, driver, name: str = "sr830"):
        super().__init__(driver, name)

    def _snap(self, a, b):
        return self.driver.snap(a, b)

    def _exchange_xy_status(self, message: str) -> list[str]:
        line = self._line  # the connection itself: this runs every point (retried as a whole by the caller)
        line.write(message)
        return [line.read(), line.read()]  # two replies, two reads

    def auto_gain(self) -> None:
        """The instrument's own auto gain (AGAN)."""
        self.driver.auto_gain()

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap["input_config"] = str(self.driver.input_config)
        return snap


class SR86xLockIn(SRSLockIn):
    """An SR860 / SR865 / SR865A as a lock-in, through pymeasure's ``SR860`` (or qpclab's SR865 subclasses).

    pymeasure's ``SR860.filter_slope`` takes the OFSL index (0-3), not dB/oct: the adapter converts.
    """

    SENSITIVITIES_V = sr86x_tables.SENSITIVITIES_V
    TIME_CONSTANTS_S = sr86x_tables.TIME_CONSTANTS_S
    EXCITATION_RANGE_V = (1e-9, 2.0)
    FREQUENCY_RANGE_HZ = (1e-3, 500e3)
    #: LIAS bits 0 channel 1 output, 1 channel 2 output, 4 input range overload (SRS's SR86x LIA status register;
    #: bit 3 is a reference unlock, 5-6 the sync filter: not overloads of the reading)
    OVERLOAD_BITS = 0b1_0011

    #: SR86x manual (chapter 4, command syntax): several queries in one message are answered in ONE reply, the
    #: answers separated by semicolons: "X,Y;status". SNAP? 0,1 is X and Y at one instant (0 = X, 1 = Y).
    XY_STATUS_MESSAGE = "SNAP? 0,1;LIAS?"

    def __init__(self, driver, name: str = "sr860", max_frequency_Hz: float = 500e3):
        super().__init__(driver, name)
        self.FREQUENCY_RANGE_HZ = (1e-3, float(max_frequency_Hz))

    def _snap(self, a, b):
        return self.driver.snap(a, b)  # SNAP? X, Y / SNAP? R, THETA: the SR86x takes the tokens

    def _exchange_xy_status(self, message: str) -> list[str]:
        line = self._line  # the connection itself: this runs every point (retried as a whole by the caller)
        line.write(message)
        return line.read().strip().split(";")

    def _slope_to_driver(self, db: int):
        return _SLOPES_DB.index(db)

    def _slope_from_driver(self, value) -> int:
        return _SLOPES_DB[int(value)]

    def auto_gain(self) -> None:
        """The instrument's own auto scale (ASCL)."""
        self.driver.write("ASCL")

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap["input_range"] = str(self.driver.input_range)
        return snap


def make_sr830(resource: str, visa_library: str, name: str, **kw) -> SR830LockIn:
    """An SR830 through pymeasure's unmodified ``SR830``."""
    from pymeasure.instruments.srs import SR830

    return SR830LockIn(open_driver(SR830, resource, visa_library, name, kw), name)


def make_sr860(resource: str, visa_library: str, name: str, **kw) -> SR86xLockIn:
    """An SR860 through pymeasure's unmodified ``SR860``."""
    from pymeasure.instruments.srs import SR860

    return SR86xLockIn(open_driver(SR860, resource, visa_library, name, kw), name, 500e3)


def make_sr865(resource: str, visa_library: str, name: str, **kw) -> SR86xLockIn:
    """An SR865 (2 MHz) or SR865A (4 MHz) through qpclab's SR865 drivers; the model is read from ``*IDN?``
    unless the station gives ``options: {model: SR865A}``."""
    from .drivers.sr865 import SR865, SR865A

    driver = open_driver(SR865, resource, visa_library, name, kw)
    model = str(kw.get("model") or driver.ask("*IDN?")).upper()
    if "SR865A" in model:
        # the same connection, the SR865A's frequency range; the new driver object needs the retry policy too
        # (without it every fault on an SR865A reached the procedure as a raw VisaIOError or a parse error)
        driver = install_retries(SR865A(driver.adapter), name)
    return SR86xLockIn(driver, name, driver.MAX_FREQUENCY_HZ)
