"""Simulated Lake Shore Model 372 AC resistance bridge and temperature controller (manual ch. 6).

Command set (Lake Shore syntax: mnemonic, optional ``?``, comma-separated arguments, CR LF terminators):
``KRDG?``/``RDGK?``, ``RDGR?``, ``SRDG?``, ``RDGST?``, ``RDGPWR?``, ``SETP``/``SETP?``, ``RANGE``/``RANGE?``,
``OUTMODE``/``OUTMODE?``, ``PID``/``PID?``, ``MOUT``/``MOUT?``, ``RAMP``/``RAMP?``/``RAMPST?``, ``SCAN``/``SCAN?``,
``INSET``/``INSET?``, ``INTYPE``/``INTYPE?``, ``TLIMIT``/``TLIMIT?`` (per channel), ``INNAME``/``INNAME?``,
``HTRSET``/``HTRSET?`` (outputs 0 and 1), ``HTR?`` and ``*IDN?``, ``*RST``, ``*CLS``, ``*ESR?``, ``*STB?``,
``*OPC``. The 372 has no error queue: a command it cannot execute (parameter out of range, e.g. a negative set
point or one above the sensor curve's limit) is ignored and sets bit 4 (16, execution error) of the Standard
Event Status Register; an unknown command sets bit 5 (32, command error). ``*ESR?`` reads and clears it.

Physics (a dilution fridge's mixing chamber, first order):

* The mixing-chamber temperature relaxes exponentially, with the thermal time constant ``tau``, toward
  ``max(T_base, set point)`` while the sample heater regulates (OUTMODE 0 in closed-loop mode 5 and RANGE 0 > 0),
  and toward ``T_base`` when the heater is off. Set-point ramping (``RAMP 0,1,<K/min>``) moves the set point
  linearly. The solution is exact between readings: ``T <- T_target + (T - T_target) exp(-dt/tau)``, advanced on
  the lab's clock by a ticker (so a ManualClock drives it).
* The electrons of the sample follow the mixing chamber with a saturation floor. Choice: electron-phonon
  decoupling, whose heat flow is ``Sigma V (T_e^5 - T_ph^5)``, balanced by a constant parasitic power ``P``
  (radiation, noise on the lines) gives ``T_e = (T_mc^p + T_sat^p)^(1/p)`` with ``p = 5`` and
  ``T_sat = (P / Sigma V)^(1/5)``. Far above ``T_sat`` the electrons are at the fridge temperature; at base they
  saturate near ``T_sat``. This ``T_e`` goes to :meth:`SimulatedLab.set_temperature` (the Landauer physics).
* ``KRDG?`` on the mixing-chamber channel returns ``T_mc`` times ``(1 + noise)`` (Gaussian, relative sigma
  ``reading_noise_rel``); ``RDGR?`` returns the RuOx-like calibration ``R = R0 exp(sqrt(T0 / T))`` of that
  reading. Channels listed in ``other_channels_K`` read those fixed temperatures; others read 0 K (no curve).

Lab-file settings (``simulation.fridge``): ``base_temperature_K`` (0.010), ``thermal_time_constant_s`` (30),
``electron_saturation_K`` (0.020), ``electron_saturation_exponent`` (5), ``reading_noise_rel`` (1e-3),
``mixing_chamber_channel`` (the station's ``thermometer.channel``, else 6), ``curve_limit_K`` (40, the highest set
point the sensor curve allows), ``ruox_R0_ohm`` (1000), ``ruox_T0_K`` (0.1), ``other_channels_K`` ({}).
"""

from __future__ import annotations

import math

from ..scpi import Command
from ..twin import CommandError, ScpiStatusTwin

_MODES = range(0, 7)


def _fmt(v: float) -> str:
    """Lake Shore exponential format: +1.2345E-02."""
    return f"{v:+.4E}"


class LakeShore372Twin(ScpiStatusTwin):
    grammar = "sr"
    idn = "LSCI,MODEL372,LSA2B4C/LSA2B4D,1.4"
    join_replies = True
    #: no error queue on the 372 (errors only set bits of the standard event register), so no error-queue bit
    error_available_bit = None

    # ---- state ------------------------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        cfg = dict(self.lab.simulation.get("fridge") or {})
        spec = self.lab.station.thermometer
        default_ch = spec.channel if (spec is not None and spec.instrument == self.name and spec.channel) else 6
        self.mc_channel = int(cfg.get("mixing_chamber_channel", default_ch))
        self.base_K = float(cfg.get("base_temperature_K", 0.010))
        self.tau_s = float(cfg.get("thermal_time_constant_s", 30.0))
        self.t_sat_K = float(cfg.get("electron_saturation_K", 0.020))
        self.sat_exponent = float(cfg.get("electron_saturation_exponent", 5.0))
        self.noise_rel = float(cfg.get("reading_noise_rel", 1e-3))
        self.curve_limit_K = float(cfg.get("curve_limit_K", 40.0))
        self.r0_ohm = float(cfg.get("ruox_R0_ohm", 1000.0))
        self.t0_K = float(cfg.get("ruox_T0_K", 0.1))
        self.other_K = {int(k): float(v) for k, v in (cfg.get("other_channels_K") or {}).items()}
        if self.tau_s <= 0 or self.base_K <= 0:
            raise ValueError("simulation.fridge: thermal_time_constant_s and base_temperature_K must be > 0")
        self.t_mc = self.base_K
        self.setp = {0: 0.0, 1: 0.0, 2: 0.0}
        self.setp_target = dict(self.setp)
        self.ramp = {0: [0, 1.0], 1: [0, 1.0], 2: [0, 1.0]}
        self.range_ = {0: 0, 1: 0, 2: 0}
        # OUTMODE: mode, input, powerup, polarity, filter, delay
        self.outmode = {o: [0, str(self.mc_channel), 0, 0, 0, 0] for o in (0, 1, 2)}
        self.pid = {o: [10.0, 20.0, 0.0] for o in (0, 1, 2)}
        self.mout = {0: 0.0, 1: 0.0, 2: 0.0}
        self.scan = [self.mc_channel, 0]
        self.inset = {ch: [1, 10, 3, 0 if ch != self.mc_channel else 21, 1] for ch in range(1, 17)}
        self.inset["A"] = [1, 10, 3, 0, 1]
        self.intype = {ch: [1, 10, 1, 12, 0, 1] for ch in list(range(1, 17)) + ["A"]}
        channels = list(range(1, 17)) + ["A"]
        self.tlimit = {ch: 0.0 for ch in channels}  # K; 0 = no limit
        self.inname = {ch: (f"Channel {ch:02d}" if ch != "A" else "Control Input") for ch in channels}
        # HTRSET: heater resistance (ohm for the sample heater, 1 = 25 / 2 = 50 ohm for the warm-up heater),
        # max current (warm-up heater), max user current (A), display (1 current, 2 power)
        self.htrset = {0: [100.0, 0, 0.0, 1], 1: [1, 2, 0.0, 1]}
        self._t = self.lab.now()
        self.lab.add_ticker(self._tick)
        self._publish()

    # ---- physics ----------------------------------------------------------------------------------------
    def electron_temperature(self, t_mc: float | None = None) -> float:
        """T_e = (T_mc^p + T_sat^p)^(1/p) (K)."""
        t = self.t_mc if t_mc is None else t_mc
        p = self.sat_exponent
        return (t ** p + self.t_sat_K ** p) ** (1.0 / p)

    def _regulating(self) -> bool:
        return int(self.outmode[0][0]) == 5 and self.range_[0] > 0

    def _target(self) -> float:
        return max(self.base_K, self.setp[0]) if self._regulating() else self.base_K

    def _advance_setpoints(self, dt: float) -> None:
        for o in (0, 1, 2):
            on, rate_K_per_min = self.ramp[o]
            goal = self.setp_target[o]
            if not on or rate_K_per_min <= 0:
                self.setp[o] = goal
                continue
            step = rate_K_per_min / 60.0 * dt
            cur = self.setp[o]
            self.setp[o] = goal if abs(goal - cur) <= step else cur + math.copysign(step, goal - cur)

    def _tick(self, t: float) -> None:
        dt = t - self._t
        if dt <= 0:
            return
        self._t = t
        ramping = any(self.ramp[o][0] and self.setp[o] != self.setp_target[o] for o in (0, 1, 2))
        n = 1 if not ramping else max(1, min(1000, int(math.ceil(dt / (self.tau_s / 20.0)))))
        h = dt / n
        for _ in range(n):
            self._advance_setpoints(h)
            target = self._target()
            self.t_mc = target + (self.t_mc - target) * math.exp(-h / self.tau_s)
        self._publish()

    def _publish(self) -> None:
        self.lab.set_temperature(self.electron_temperature())

    def heat_pulse(self, peak_K: float) -> None:
        """Fault injection (a helium transfer, a heat pulse): the mixing chamber jumps to ``peak_K``, then relaxes
        toward its target with the thermal time constant."""
        self._now()
        self.t_mc = max(self.t_mc, float(peak_K))
        self._publish()

    def _now(self) -> None:
        self.lab.tick()
        self._tick(self.lab.now())

    def _retarget(self) -> None:
        """Up to now before a control setting changes: the mixing chamber's relaxation turns here (a break point
        of its drift for the lock-in filters, see SimulatedLab.drift_point)."""
        self._now()
        self.lab.drift_point(self._t)

    def _kelvin(self, ch) -> float:
        self._now()
        if ch == "A":
            return 0.0
        if ch == self.mc_channel:
            return self.t_mc * (1.0 + self.lab.gauss(self.noise_rel))
        return self.other_K.get(ch, 0.0)

    def _ohm(self, ch) -> float:
        t = self._kelvin(ch)
        if t <= 0:
            return 0.0
        return self.r0_ohm * math.exp(math.sqrt(self.t0_K / t))

    # ---- parsing ----------------------------------------------------------------------------------------
    def _exe(self) -> CommandError:
        return CommandError(-222, "Parameter out of range")

    def _num(self, text: str, low: float | None = None, high: float | None = None) -> float:
        try:
            v = float(text)
        except ValueError:
            raise self._exe() from None
        if not math.isfinite(v) or (low is not None and v < low) or (high is not None and v > high):
            raise self._exe()
        return v

    def _int(self, text: str, allowed) -> int:
        v = self._num(text)
        if v != int(v) or int(v) not in allowed:
            raise self._exe()
        return int(v)

    def _channel(self, args, allow_a: bool = True, allow_zero: bool = False):
        text = self.need(args)[0].strip().upper()
        if allow_a and text == "A":
            return "A"
        return self._int(text, range(0 if allow_zero else 1, 17))

    def _output(self, args) -> int:
        if not args or not args[0].strip():
            return 0  # "If <output> is not specified, 0 (sample heater) is assumed"
        return self._int(args[0], (0, 1, 2))

    # ---- commands ---------------------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        C = Command
        return [
            *self.common_commands(),
            C("KRDG", query=lambda a: _fmt(self._kelvin(self._channel(a)))),
            C("RDGK", query=lambda a: _fmt(self._kelvin(self._channel(a)))),
            C("RDGR", query=lambda a: _fmt(self._ohm(self._channel(a)))),
            C("SRDG", query=lambda a: _fmt(self._ohm(self._channel(a)))),
            C("RDGPWR", query=lambda a: _fmt(self._power(self._channel(a)))),
            C("RDGST", query=lambda a: self._status(self._channel(a))),
            C("SETP", query=lambda a: _fmt(self.setp[self._output(a)]), write=self._setp_w),
            C("RANGE", query=lambda a: str(self.range_[self._output(a)]), write=self._range_w),
            C("OUTMODE", query=lambda a: ",".join(str(v) for v in self.outmode[self._output(a)]),
              write=self._outmode_w),
            C("PID", query=lambda a: ",".join(f"{v:.6g}" for v in self.pid[self._output(a)]), write=self._pid_w),
            C("MOUT", query=lambda a: _fmt(self.mout[self._output(a)]), write=self._mout_w),
            C("RAMP", query=lambda a: "{},{:.3f}".format(*self.ramp[self._output(a)]), write=self._ramp_w),
            C("RAMPST", query=lambda a: self._rampst(self._output(a))),
            C("HTR", query=lambda a: _fmt(0.0)),
            C("SCAN", query=lambda a: f"{self.scan[0]:02d},{self.scan[1]}", write=self._scan_w),
            C("INSET", query=lambda a: ",".join(str(v) for v in self.inset[self._channel(a)]), write=self._inset_w),
            C("INTYPE", query=lambda a: ",".join(str(v) for v in self.intype[self._channel(a)]),
              write=self._intype_w),
            C("TLIMIT", query=lambda a: f"{self.tlimit[self._channel(a)]:+.3f}", write=self._tlimit_w),
            C("INNAME", query=lambda a: self.inname[self._channel(a)], write=self._inname_w),
            C("HTRSET", query=lambda a: self._htrset_q(self._heater(a)), write=self._htrset_w),
        ]

    # ---- status -----------------------------------------------------------------------------------------
    def push_error(self, code: int, message: str) -> None:
        # no error queue on the 372: only the event status register (bit 5 command error, bit 4 execution error)
        self.esr |= self.event_bit(code)

    def reset_settings(self) -> None:
        """``*RST``: the settings back to their defaults; the fridge keeps its temperature."""
        self._now()
        t_mc = self.t_mc
        self.reset()
        self.t_mc = t_mc  # a reset changes settings, not the fridge
        self._publish()

    def _status(self, ch) -> str:
        t = self._kelvin(ch) if ch != "A" else 0.0
        return "000" if (ch == self.mc_channel or t > 0) else "128"  # T. UNDER: no curve -> 0 K

    def _power(self, ch) -> float:
        return 1e-15 if ch == self.mc_channel else 0.0

    def _rampst(self, o: int) -> str:
        self._now()
        return str(int(bool(self.ramp[o][0]) and self.setp[o] != self.setp_target[o]))

    # ---- settings ---------------------------------------------------------------------------------------
    def _setp_w(self, args) -> None:
        args = self.need(args, 1)
        o, text = (self._output(args), args[1]) if len(args) >= 2 else (0, args[0])
        v = self._num(text, 0.0, self.curve_limit_K)
        self._retarget()
        self.setp_target[o] = v
        if not self.ramp[o][0]:
            self.setp[o] = v

    def _range_w(self, args) -> None:
        args = self.need(args, 2)
        o = self._output(args)
        r = self._int(args[1], range(0, 9) if o == 0 else (0, 1))
        self._retarget()
        self.range_[o] = r

    def _outmode_w(self, args) -> None:
        args = self.need(args, 7)
        o = self._output(args)
        mode = self._int(args[1], _MODES)
        inp = args[2].strip().upper()
        if inp != "A":
            inp = str(self._int(inp, range(0, 17)))
        vals = [mode, inp, self._int(args[3], (0, 1)), self._int(args[4], (0, 1)), self._int(args[5], (0, 1)),
                self._int(args[6], range(0, 256))]
        self._retarget()
        self.outmode[o] = vals

    def _pid_w(self, args) -> None:
        args = self.need(args, 4)
        o = self._output(args)
        p = self._num(args[1], 0.0, 1000.0)
        i = self._num(args[2], 0.0, 10000.0)
        d = self._num(args[3], 0.0, 2500.0)
        self.pid[o] = [p, i, d]

    def _mout_w(self, args) -> None:
        args = self.need(args, 2)
        o = self._output(args)
        self.mout[o] = self._num(args[1], 0.0, 100.0)

    def _ramp_w(self, args) -> None:
        args = self.need(args, 3)
        o = self._output(args)
        on = self._int(args[1], (0, 1))
        rate = self._num(args[2], 0.0, 100.0)
        if 0 < rate < 0.001:
            raise self._exe()
        self._retarget()
        self.ramp[o] = [on, rate]

    def _scan_w(self, args) -> None:
        args = self.need(args, 2)
        self.scan = [self._int(args[0], range(1, 17)), self._int(args[1], (0, 1))]

    def _inset_w(self, args) -> None:
        args = self.need(args, 6)
        ch = self._channel(args[:1])
        self.inset[ch] = [self._int(args[1], (0, 1)), self._int(args[2], range(1, 201)),
                          self._int(args[3], range(3, 201)), self._int(args[4], range(0, 60)),
                          self._int(args[5], (1, 2))]

    def _intype_w(self, args) -> None:
        args = self.need(args, 7)
        ch = self._channel(args[:1])
        self.intype[ch] = [self._int(args[1], (0, 1)), self._int(args[2], range(1, 23)),
                           self._int(args[3], (0, 1, 2)), self._int(args[4], range(1, 23)),
                           self._int(args[5], (0, 1)), self._int(args[6], (1, 2))]

    def _tlimit_w(self, args) -> None:
        args = self.need(args, 2)
        self.tlimit[self._channel(args[:1])] = self._num(args[1], 0.0, self.curve_limit_K)

    def _inname_w(self, args) -> None:
        args = self.need(args, 2)
        name = args[1].strip()
        if len(name) > 15:
            raise self._exe()
        self.inname[self._channel(args[:1])] = name

    def _heater(self, args) -> int:
        """HTRSET's output: 0 sample heater, 1 warm-up heater (the manual has no heater set-up for output 2)."""
        return self._int(self.need(args)[0], (0, 1))

    def _htrset_q(self, o: int) -> str:
        """Manual (HTRSET?): ``<resistance>,<max current>,<max user current>,<current/power>``, four fields.
        QCoDeS's LakeshoreModel372 parses a fifth (output type, from the 335/336) and so cannot read this reply
        on the real instrument either; the manual is followed here."""
        r, max_i, user_i, disp = self.htrset[o]
        resistance = f"{r:+.3f}" if o == 0 else str(int(r))
        return f"{resistance},{max_i},{user_i:+.3f},{disp}"

    def _htrset_w(self, args) -> None:
        args = self.need(args, 5)
        o = self._heater(args)
        r = self._num(args[1], 1.0, 2000.0) if o == 0 else self._int(args[1], (1, 2))
        max_i = 0 if o == 0 else self._int(args[2], (0, 1, 2))
        user_i = 0.0 if o == 0 else self._num(args[3], 0.0, 0.63)
        self.htrset[o] = [r, max_i, user_i, self._int(args[4], (1, 2))]
