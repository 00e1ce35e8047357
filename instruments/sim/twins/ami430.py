"""Simulated American Magnetics Model 430 power supply programmer (remote interface, Model 430 manual ch. 4).

What a client sees:

- On every new connection (TCP port 7180) the 430 sends two lines, ``American Magnetics Model 430 IP Interface``
  and ``Hello.``; pymeasure's ``AMI430`` reads them in its constructor. :meth:`AMI430Twin.greeting` returns them;
  the backend queues them for a new session whose first operation is a read, and drops them if the client writes
  first (QCoDeS's ``AMIModel430`` skips the greeting when the library is named ``SimVisaLibrary``).
- SCPI headers, short and long forms: ``CONFigure:FIELD:TARGet``, ``FIELD:TARGet?``, ``CONFigure:CURRent:TARGet``,
  ``CONFigure:RAMP:RATE:FIELD <segment>,<rate>,<upper bound>``, ``RAMP:RATE:FIELD:<segment>?`` (replies
  ``<rate>,<upper bound>``), the same for ``CURRent``, ``CONFigure:RAMP:RATE:SEGments``, ``CONFigure:RAMP:RATE:UNITS``
  (0 = per second, 1 = per minute), ``CONFigure:FIELD:UNITS`` (0 = kilogauss, 1 = tesla), ``CONFigure:COILconst``
  (field units per A), ``CONFigure:CURRent:LIMit``, ``CONFigure:VOLTage:LIMit``, ``RAMP``, ``PAUSE``, ``ZERO``,
  ``STATE?``, ``FIELD:MAGnet?``, ``CURRent:MAGnet?``, ``CURRent:SUPPly?``, ``PSwitch {0|1}``, ``PSwitch?``,
  ``PSwitch:INSTalled?``, ``PSwitch:HTIME``, ``PSwitch:CTIME``, ``PSwitch:CURRent``, ``PERSistent?``, ``QUench?``,
  ``SYSTem:ERRor?`` and the IEEE-488.2 common commands.
- ``STATE?`` codes (manual table 4-5): 1 RAMPING, 2 HOLDING, 3 PAUSED, 4 MANUAL UP, 5 MANUAL DOWN, 6 ZEROING,
  7 QUENCH, 8 AT ZERO, 9 heating persistent switch, 10 cooling persistent switch. Power-on state: PAUSED.
- Refused settings go to the error queue with the 430's codes: -101 "Unrecognized command", -201
  "Unrecognized query", -102 "Invalid argument", -103 "Non-boolean argument", -104 "Missing parameter",
  -105 "Out of range" (a target beyond the current limit, a rate that is not positive or above the supply's
  largest rate), -107 "No switch installed". A refused setting leaves the old value in place.

Physics: the supply current moves toward its goal (the target for RAMP, zero for ZERO) at the ramp rate of the
segment its magnitude is in (above the last segment's upper bound the last segment's rate applies), in real time
on the lab's clock; a ticker registered with the lab advances it before every reading and passes the magnet's
field to :meth:`SimulatedLab.set_field`, so the lock-ins see the field change while it ramps. With a persistent
switch installed the magnet follows the supply only while the switch heater is on; heating and cooling take
``PSwitch:HeatTIME``/``PSwitch:CoolTIME`` seconds (states 9 and 10).

Lab-file settings (``simulation.magnet``): ``coil_constant_T_per_A`` (0.1), ``current_limit_A`` (90),
``max_ramp_rate_A_per_s`` (1.0, the supply's largest rate), ``ramp_rate_A_per_s`` (0.1, power-on rate),
``switch_installed`` (false), ``switch_heat_time_s`` (20), ``switch_cool_time_s`` (20),
``switch_heater_current_mA`` (20).
"""

from __future__ import annotations

import math
import re

from ..scpi import Command
from ..twin import CommandError, ScpiStatusTwin

RAMPING, HOLDING, PAUSED, MANUAL_UP, MANUAL_DOWN, ZEROING, QUENCH, AT_ZERO, HEATING, COOLING = range(1, 11)

GREETING = ("American Magnetics Model 430 IP Interface", "Hello.")

_TESLA_PER_UNIT = {0: 0.1, 1: 1.0}  # FIELD:UNITS 0 = kilogauss, 1 = tesla
_SECONDS_PER_UNIT = {0: 1.0, 1: 60.0}  # RAMP:RATE:UNITS 0 = seconds, 1 = minutes
_SEGMENT_MAX = 10


def _fmt(x: float) -> str:
    return f"{x:.10g}"


class AMI430Twin(ScpiStatusTwin):
    grammar = "scpi"
    idn = "AMERICAN MAGNETICS INC.,MODEL 430,2.01"
    #: the 430's ``*RST`` is a power cycle (manual, "*RST"): the status is cleared as at power-on (the ``*PSC 1``
    #: default; ``*PSC`` itself is not simulated), the battery-backed configuration is kept
    reset_keeps_status = False

    def __init__(self, lab, name, config=None):
        super().__init__(lab, name, config)
        # headers that end in a numeric node (``RAMP:RATE:FIELD:1?``): the segment is captured as a suffix group
        for c in self._table.commands:
            if getattr(c, "indexed", False):
                body = c.regex.pattern[: -len(r"(\?)?$")]
                c.regex = re.compile(body + r":(\d+)(\?)?$")

    # ---- connection ------------------------------------------------------------------------------------
    def greeting(self) -> list[str]:
        """Lines the 430 sends on every new connection."""
        return list(GREETING)

    # ---- state ------------------------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        cfg = dict(self.lab.simulation.get("magnet") or {})
        self.coil_T_per_A = float(cfg.get("coil_constant_T_per_A", 0.1))
        self.current_limit_A = float(cfg.get("current_limit_A", 90.0))
        self.supply_max_A = self.current_limit_A
        self.max_rate_A_per_s = float(cfg.get("max_ramp_rate_A_per_s", 1.0))
        rate = float(cfg.get("ramp_rate_A_per_s", 0.1))
        self.switch_installed = bool(cfg.get("switch_installed", False))
        self.heat_time_s = float(cfg.get("switch_heat_time_s", 20.0))
        self.cool_time_s = float(cfg.get("switch_cool_time_s", 20.0))
        self.switch_current_mA = float(cfg.get("switch_heater_current_mA", 20.0))
        self.field_units = 0
        self.rate_units = 0
        self.n_segments = 1
        # segment -> (current rate A/s, upper bound A)
        self.segments = {i: (rate, self.current_limit_A) for i in range(1, _SEGMENT_MAX + 1)}
        self.voltage_limit_V = 2.0
        self.target_A = 0.0
        self.supply_A = 0.0
        self.magnet_A = 0.0
        self.switch_on = False
        self.state = PAUSED
        self._after_switch = PAUSED
        self._switch_done = 0.0
        self._t = self.lab.now()
        self.lab.add_ticker(self._tick)
        self.lab.set_field(0.0)

    # ---- time evolution --------------------------------------------------------------------------------
    def _segment(self, magnitude_A: float, outward: bool) -> tuple[float, float, float]:
        """(rate A/s, lower bound A, upper bound A) of the segment a supply current magnitude is in.

        Segment i covers [upper_{i-1}, upper_i); above the last segment's upper bound its rate applies.
        Moving towards zero, a current exactly on a boundary belongs to the segment below it."""
        lower = 0.0
        for i in range(1, self.n_segments + 1):
            rate, upper = self.segments[i]
            last = i == self.n_segments
            inside = magnitude_A < upper if outward else magnitude_A <= upper
            if inside or last:
                return rate, lower, (math.inf if last else upper)
            lower = upper
        raise AssertionError("unreachable")  # pragma: no cover

    def _tick(self, t: float) -> None:
        """Advance the supply, the switch and the magnet to time ``t`` and publish the field: at every break point
        of the ramp (the switch done, a segment edge, the goal) at the time it happened, and at ``t``."""
        if t <= self._t:
            return
        start = self._t  # when the ramp below starts moving
        self._t = t
        if self.state in (HEATING, COOLING):
            if t < self._switch_done:
                return
            self.switch_on = self.state == HEATING
            self.state = self._after_switch
            start = self._switch_done
            self._publish(at=start)
        if self.state in (RAMPING, ZEROING):
            goal = self.target_A if self.state == RAMPING else 0.0
            i = self.supply_A
            left = t - start
            for _ in range(8 * _SEGMENT_MAX):
                if i == goal or left <= 0:
                    break
                direction = 1.0 if goal > i else -1.0
                outward = i == 0.0 or (i > 0) == (direction > 0)
                rate, lower, upper = self._segment(abs(i), outward)
                if rate <= 0:
                    break
                dist = abs(goal - i)
                edge = (upper - abs(i)) if outward else (abs(i) - lower)
                if 0 < edge < dist:
                    dist = edge
                step_time = dist / rate
                if step_time <= left:
                    i = goal if dist == abs(goal - i) else i + direction * dist
                    left -= step_time
                    self.supply_A = i
                    self._publish(at=t - left)  # a break point: the rate changes or the ramp ends here
                else:
                    i += direction * rate * left
                    left = 0.0
            self.supply_A = i
            if i == goal:
                self.state = HOLDING if self.state == RAMPING else AT_ZERO
        self._publish()

    def _publish(self, at: float | None = None) -> None:
        if not self.switch_installed or self.switch_on:
            self.magnet_A = self.supply_A
        self.lab.set_field(self.magnet_A * self.coil_T_per_A, at=at)

    def _now(self) -> None:
        self.lab.tick()
        self._tick(self.lab.now())

    def quench(self, reramp_after_s: float | None = None) -> None:
        """Fault injection: the magnet quenches (STATE 7; the current and the field collapse). With
        ``reramp_after_s`` the operator resets the quench that much later and ramps back to the target."""
        self._now()
        self.state, self.supply_A, self.magnet_A = QUENCH, 0.0, 0.0
        self._publish()
        if reramp_after_s is not None:
            at = self.lab.now() + float(reramp_after_s)

            def operator(t: float) -> None:
                if self.state == QUENCH and t >= at:
                    self._t, self.state = at, RAMPING

            self.lab.add_ticker(operator)

    # ---- unit conversions -------------------------------------------------------------------------------
    def _field_to_A(self, value_units: float) -> float:
        return value_units * _TESLA_PER_UNIT[self.field_units] / self.coil_T_per_A

    def _A_to_field(self, amps: float) -> float:
        return amps * self.coil_T_per_A / _TESLA_PER_UNIT[self.field_units]

    def _field_rate_to_A_per_s(self, rate: float) -> float:
        return self._field_to_A(rate) / _SECONDS_PER_UNIT[self.rate_units]

    def _A_per_s_to_field_rate(self, rate_A: float) -> float:
        return self._A_to_field(rate_A) * _SECONDS_PER_UNIT[self.rate_units]

    # ---- argument parsing (AMI error codes) -------------------------------------------------------------
    @staticmethod
    def _args(args, n=1):
        if len(args) < n:
            raise CommandError(-104, "Missing parameter")
        return args

    @staticmethod
    def _num(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise CommandError(-102, "Invalid argument") from None
        if not math.isfinite(v):
            raise CommandError(-102, "Invalid argument")
        return v

    @staticmethod
    def _bool(text: str) -> bool:
        t = text.strip()
        if t not in ("0", "1"):
            raise CommandError(-103, "Non-boolean argument")
        return t == "1"

    def _choice(self, text: str, allowed) -> int:
        v = self._num(text)
        if v != int(v) or int(v) not in allowed:
            raise CommandError(-105, "Out of range")
        return int(v)

    # ---- commands ---------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command

        def indexed(cmd: Command) -> Command:
            cmd.indexed = True
            return cmd

        return [
            *self.common_commands(),
            C("*ETE", query=lambda a: "0", write=lambda a: None),
            C(":SYSTem:ERRor", query=lambda a: self.pop_error()),
            C(":SYSTem:LOCal", write=lambda a: None),
            C(":SYSTem:REMote", write=lambda a: None),
            C(":CONFigure:COILconst", write=self._set_coil),
            C(":COILconst", query=lambda a: _fmt(self.coil_T_per_A / _TESLA_PER_UNIT[self.field_units])),
            C(":CONFigure:CURRent:LIMit", write=self._set_current_limit),
            C(":CURRent:LIMit", query=lambda a: _fmt(self.current_limit_A)),
            C(":CONFigure:VOLTage:LIMit", write=self._set_voltage_limit),
            C(":VOLTage:LIMit", query=lambda a: _fmt(self.voltage_limit_V)),
            C(":CONFigure:CURRent:TARGet", write=lambda a: self._set_target_A(self._num(self._args(a)[0]))),
            C(":CURRent:TARGet", query=lambda a: _fmt(self.target_A)),
            C(":CONFigure:FIELD:TARGet",
              write=lambda a: self._set_target_A(self._field_to_A(self._num(self._args(a)[0])))),
            C(":FIELD:TARGet", query=lambda a: _fmt(self._A_to_field(self.target_A))),
            C(":CONFigure:FIELD:UNITS", write=lambda a: self._set_units("field_units", a)),
            C(":FIELD:UNITS", query=lambda a: str(self.field_units)),
            C(":CONFigure:RAMP:RATE:UNITS", write=lambda a: self._set_units("rate_units", a)),
            C(":RAMP:RATE:UNITS", query=lambda a: str(self.rate_units)),
            C(":CONFigure:RAMP:RATE:SEGments", write=self._set_segments),
            C(":RAMP:RATE:SEGments", query=lambda a: str(self.n_segments)),
            C(":CONFigure:RAMP:RATE:CURRent", write=lambda a: self._set_segment(a, field=False)),
            indexed(C(":RAMP:RATE:CURRent", query=lambda a, seg: self._segment_q(seg, field=False))),
            C(":CONFigure:RAMP:RATE:FIELD", write=lambda a: self._set_segment(a, field=True)),
            indexed(C(":RAMP:RATE:FIELD", query=lambda a, seg: self._segment_q(seg, field=True))),
            C(":RAMP", write=lambda a: self._ramp()),
            C(":PAUSE", write=lambda a: self._pause()),
            C(":ZERO", write=lambda a: self._zero()),
            C(":STATE", query=lambda a: self._state_q()),
            C(":FIELD:MAGnet", query=lambda a: self._read(lambda: self._A_to_field(self.magnet_A))),
            C(":CURRent:MAGnet", query=lambda a: self._read(lambda: self.magnet_A)),
            C(":CURRent:SUPPly", query=lambda a: self._read(lambda: self.supply_A)),
            C(":FIELD:SUPPly", query=lambda a: self._read(lambda: self._A_to_field(self.supply_A))),
            C(":VOLTage:SUPPly", query=lambda a: self._read(lambda: self._inductive_voltage())),
            C(":VOLTage:MAGnet", query=lambda a: self._read(lambda: self._inductive_voltage())),
            C(":CONFigure:PSwitch", write=lambda a: setattr(self, "switch_installed",
                                                             self._bool(self._args(a)[0]))),
            C(":PSwitch:INSTalled", query=lambda a: str(int(self.switch_installed))),
            # the manual's short forms HTIME/CTIME are not the leading capitals of HeatTIME/CoolTIME: both listed
            *(C(f":CONFigure:PSwitch:{m}", write=lambda a: self._set_time("heat_time_s", a, 5, 120))
              for m in ("HeatTIME", "HTIME")),
            *(C(f":PSwitch:{m}", query=lambda a: str(int(self.heat_time_s))) for m in ("HeatTIME", "HTIME")),
            *(C(f":CONFigure:PSwitch:{m}", write=lambda a: self._set_time("cool_time_s", a, 5, 3600))
              for m in ("CoolTIME", "CTIME")),
            *(C(f":PSwitch:{m}", query=lambda a: str(int(self.cool_time_s))) for m in ("CoolTIME", "CTIME")),
            C(":CONFigure:PSwitch:CURRent", write=self._set_switch_current),
            C(":PSwitch:CURRent", query=lambda a: f"{self.switch_current_mA:.1f}"),
            C(":PSwitch", query=lambda a: self._switch_q(), write=self._switch_w),
            C(":PERSistent", query=lambda a: self._persistent_q()),
            C(":QUench", query=lambda a: "0", write=lambda a: None),
        ]

    # ---- bookkeeping ------------------------------------------------------------------------------------
    def unknown(self, header: str, args: list[str]) -> None:
        if header.endswith("?"):
            self.push_error(-201, "Unrecognized query")
        else:
            self.push_error(-101, "Unrecognized command")
        self.lab.log_unknown(self.name, header, args)

    def event_bit(self, code: int) -> int:
        """The 430 numbers its errors by kind, not by SCPI class: -1xx command errors (bit 5), -2xx query errors
        (bit 2), the rest execution errors (bit 4)."""
        return 32 if -199 <= code <= -100 else 4 if -299 <= code <= -200 else 16

    def reset_settings(self) -> None:
        """``*RST``: the ramp pauses where the magnet is; the configuration (limits, rates, switch) is kept."""
        self._now()
        self.state = PAUSED

    def _read(self, fn) -> str:
        self._now()
        return _fmt(fn())

    def _state_q(self) -> str:
        self._now()
        return str(self.state)

    def _inductive_voltage(self) -> float:
        return 0.0

    # ---- settings ---------------------------------------------------------------------------------------
    def _set_coil(self, args) -> None:
        v = self._num(self._args(args)[0])
        if not 0.001 <= v * _TESLA_PER_UNIT[self.field_units] <= 999.99999:
            raise CommandError(-105, "Out of range")
        self._now()
        self.coil_T_per_A = v * _TESLA_PER_UNIT[self.field_units]
        self._publish()

    def _set_switch_current(self, args) -> None:
        """CONFigure:PSwitch:CURRent <mA>: the switch heater current, 0 to 125 mA."""
        v = self._num(self._args(args)[0])
        if not 0.0 <= v <= 125.0:
            raise CommandError(-105, "Out of range")
        self.switch_current_mA = v

    def _set_current_limit(self, args) -> None:
        v = self._num(self._args(args)[0])
        if not 0 < v <= self.supply_max_A:
            raise CommandError(-105, "Out of range")
        self.current_limit_A = v

    def _set_voltage_limit(self, args) -> None:
        v = self._num(self._args(args)[0])
        if not 0 < v <= 20.0:
            raise CommandError(-105, "Out of range")
        self.voltage_limit_V = v

    def _set_target_A(self, amps: float) -> None:
        if abs(amps) > self.current_limit_A * (1 + 1e-9):
            raise CommandError(-105, "Out of range")
        self._now()
        self.target_A = amps

    def _set_units(self, attr: str, args) -> None:
        setattr(self, attr, self._choice(self._args(args)[0], (0, 1)))

    def _set_segments(self, args) -> None:
        self.n_segments = self._choice(self._args(args)[0], range(1, _SEGMENT_MAX + 1))

    def _set_segment(self, args, field: bool) -> None:
        args = self._args(args, 3)
        seg = self._choice(args[0], range(1, self.n_segments + 1))
        rate = self._num(args[1])
        upper = self._num(args[2])
        rate_A = self._field_rate_to_A_per_s(rate) if field else rate / _SECONDS_PER_UNIT[self.rate_units]
        upper_A = abs(self._field_to_A(upper) if field else upper)
        if not 0 < rate_A <= self.max_rate_A_per_s * (1 + 1e-9):
            raise CommandError(-105, "Out of range")
        self._now()  # the old rate applies up to now
        self.segments[seg] = (rate_A, upper_A)

    def _segment_q(self, seg: str, field: bool) -> str:
        i = int(seg) if seg else 1
        if not 1 <= i <= _SEGMENT_MAX:
            raise CommandError(-201, "Unrecognized query")
        rate_A, upper_A = self.segments[i]
        if field:
            return f"{_fmt(self._A_per_s_to_field_rate(rate_A))},{_fmt(self._A_to_field(upper_A))}"
        return f"{_fmt(rate_A * _SECONDS_PER_UNIT[self.rate_units])},{_fmt(upper_A)}"

    def _set_time(self, attr: str, args, low: float, high: float) -> None:
        v = self._num(self._args(args)[0])
        if not low <= v <= high:
            raise CommandError(-105, "Out of range")
        setattr(self, attr, v)

    # ---- actions ----------------------------------------------------------------------------------------
    def _ramp(self) -> None:
        self._now()
        if self.state in (HEATING, COOLING):
            self._after_switch = RAMPING
            return
        self.lab.drift_point(self._t)  # the field starts moving from here
        self.state = RAMPING
        if self.supply_A == self.target_A:
            self.state = HOLDING

    def _pause(self) -> None:
        self._now()
        if self.state in (HEATING, COOLING):
            self._after_switch = PAUSED
            return
        self.state = PAUSED

    def _zero(self) -> None:
        self._now()
        if self.state in (HEATING, COOLING):
            self._after_switch = ZEROING
            return
        self.lab.drift_point(self._t)
        self.state = AT_ZERO if self.supply_A == 0.0 else ZEROING

    def _switch_q(self) -> str:
        self._now()
        return str(int(self.switch_on))

    def _switch_w(self, args) -> None:
        on = self._bool(self._args(args)[0])
        if not self.switch_installed:
            raise CommandError(-107, "No switch installed")
        self._now()
        if on == self.switch_on and self.state not in (HEATING, COOLING):
            return
        if self.state not in (HEATING, COOLING):
            self._after_switch = self.state
        self.state = HEATING if on else COOLING
        self._switch_done = self.lab.now() + (self.heat_time_s if on else self.cool_time_s)

    def _persistent_q(self) -> str:
        self._now()
        return str(int(self.switch_installed and not self.switch_on and self.state != HEATING))
