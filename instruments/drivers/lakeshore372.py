"""Lake Shore Model 372 AC resistance bridge and temperature controller (pymeasure declarative driver).

pymeasure has no driver for the 370/372 family; this one follows the command syntax of the Model 372 user's
manual, chapter 6 ("Computer Interface Operation", section 6.6.1 "Interface Commands"):

=========================================  =================================================================
``RDGK? <ch>``                              kelvin reading of a measurement channel (1-16) or the control input A
``RDGR? <ch>``                              resistance reading, ohm
``RDGST? <ch>``                             reading status bits: 1 CS OVL, 2 VCM OVL, 4 VMIX OVL, 8 VDIF OVL,
                                            16 R. OVER, 32 R. UNDER, 64 T. OVER, 128 T. UNDER
``SETP <output>,<value>`` / ``SETP? <o>``   control set point (in the control channel's preferred units; kelvin here)
``RANGE <output>,<range>`` / ``RANGE? <o>`` heater range; sample heater (output 0): 0 off, 1 31.6 uA, 2 100 uA,
                                            3 316 uA, 4 1 mA, 5 3.16 mA, 6 10 mA, 7 31.6 mA, 8 100 mA;
                                            warm-up (1) and still/analog (2) outputs: 0 off, 1 on
``OUTMODE <output>,<mode>,<input>,``        output mode: 0 off, 1 monitor out, 2 open loop, 3 zone, 4 still,
``<powerup>,<polarity>,<filter>,<delay>``   5 closed-loop PID, 6 warm up; input A or 1-16
``PID <output>,<P>,<I>,<D>`` / ``PID?``     P 0-1000, I 0-10000 s, D 0-2500 s
``SCAN <ch>,<autoscan>`` / ``SCAN?``        scanner channel (1-16) and autoscan on/off
``INSET <ch>,<enabled>,<dwell>,<pause>,``   channel set-up: enabled 0/1, dwell 1-200 s, pause 3-200 s,
``<curve>,<tempco>`` / ``INSET? <ch>``      curve 0-59, temperature coefficient 1 negative / 2 positive
``RAMP <output>,<on>,<rate>``, ``RAMPST?``  set-point ramping in K/min (0.001-100)
``*IDN?``, ``*RST``, ``*CLS``, ``*ESR?``    IEEE-488.2 common commands
=========================================  =================================================================

The 372 has no error queue: a command it cannot execute (a parameter out of range) is ignored and sets the
execution-error bit (bit 4, weight 16) of the Standard Event Status Register; an unknown command sets the
command-error bit (bit 5, weight 32). Every setting here is therefore followed by ``*ESR?`` and a refused one
raises :class:`LakeShore372Error` (which names the instrument, the command and the register).
Messages are terminated by CR LF.
"""

from __future__ import annotations

from pymeasure.instruments import Channel, Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

__all__ = ["LakeShore372", "LakeShore372Error", "LakeShore372Input", "LakeShore372Heater",
           "SAMPLE_HEATER_RANGES_A", "OUTPUT_MODES", "STATUS_BITS"]

#: sample heater RANGE index -> full-scale current (A)
SAMPLE_HEATER_RANGES_A = {0: 0.0, 1: 31.6e-6, 2: 100e-6, 3: 316e-6, 4: 1e-3, 5: 3.16e-3, 6: 10e-3,
                          7: 31.6e-3, 8: 100e-3}
#: OUTMODE <mode> codes
OUTPUT_MODES = {"off": 0, "monitor_out": 1, "open_loop": 2, "zone": 3, "still": 4, "closed_loop": 5,
                "warm_up": 6}
#: RDGST? bit weights
STATUS_BITS = {1: "CS OVL", 2: "VCM OVL", 4: "VMIX OVL", 8: "VDIF OVL", 16: "R. OVER", 32: "R. UNDER",
               64: "T. OVER", 128: "T. UNDER"}

_ESR_EXECUTION_ERROR = 16
_ESR_COMMAND_ERROR = 32
_ESR_QUERY_ERROR = 4


class LakeShore372Error(RuntimeError):
    """The 372 refused a command (execution or command error bit in its event status register)."""


def _channel_text(value) -> str:
    """A measurement channel 1-16 or the control input 'A'."""
    if isinstance(value, str) and value.strip().upper() == "A":
        return "A"
    if isinstance(value, bool) or int(value) != value or not 1 <= int(value) <= 16:
        raise ValueError(f"Lake Shore 372 channel {value!r}: give 1-16 or 'A'")
    return str(int(value))


def _outmode_set(value):
    """(mode, input, powerup, polarity, filter, delay) -> the tuple the OUTMODE command string formats."""
    if len(value) != 6:
        raise ValueError(f"OUTMODE needs (mode, input, powerup, polarity, filter, delay), got {value!r}")
    mode, inp, powerup, polarity, filt, delay = value
    mode = OUTPUT_MODES.get(mode, mode) if isinstance(mode, str) else mode
    strict_discrete_set(int(mode), range(0, 7))
    strict_range(int(delay), (0, 255))
    return (int(mode), "0" if inp in (0, "0", None) else _channel_text(inp), int(bool(powerup)),
            int(bool(polarity)), int(bool(filt)), int(delay))


def _inset_set(value):
    if len(value) != 5:
        raise ValueError(f"INSET needs (enabled, dwell_s, pause_s, curve, tempco), got {value!r}")
    enabled, dwell, pause, curve, tempco = value
    strict_range(int(dwell), (1, 200))
    strict_range(int(pause), (3, 200))
    strict_range(int(curve), (0, 59))
    strict_discrete_set(int(tempco), (1, 2))
    return int(bool(enabled)), int(dwell), int(pause), int(curve), int(tempco)


class LakeShore372Input(Channel):
    """A measurement channel (1-16) or the control input (A)."""

    kelvin = Channel.measurement("RDGK? {ch}", """Get the kelvin reading (K); 0 if the channel has no curve.""")
    resistance = Channel.measurement("RDGR? {ch}", """Get the resistance reading (ohm).""")
    excitation_power = Channel.measurement("RDGPWR? {ch}", """Get the excitation power (W).""")
    status = Channel.measurement(
        "RDGST? {ch}", """Get the reading status: sum of the bit weights in STATUS_BITS (0 = valid reading).""",
        cast=int)
    setup = Channel.control(
        "INSET? {ch}", "INSET {ch},%d,%d,%d,%d,%d",
        """Control the channel set-up (enabled, dwell s, pause s, curve, tempco 1=negative/2=positive).""",
        set_process=_inset_set, cast=int, check_set_errors=True)

    @property
    def status_flags(self) -> list[str]:
        """The names of the status bits that are set (empty for a valid reading)."""
        s = self.status
        return [name for bit, name in STATUS_BITS.items() if s & bit]


class LakeShore372Heater(Channel):
    """A heater output: 0 sample heater, 1 warm-up heater, 2 analog/still output."""

    setpoint = Channel.control(
        "SETP? {ch}", "SETP {ch},%g",
        """Control the control set point (K when the control channel's preferred units are kelvin).
        The instrument refuses values outside its range (execution error).""",
        check_set_errors=True)
    range = Channel.control(
        "RANGE? {ch}", "RANGE {ch},%d",
        """Control the heater range index (sample heater 0-8: see SAMPLE_HEATER_RANGES_A; other outputs 0/1).""",
        validator=strict_discrete_set, values=range(0, 9), cast=int, check_set_errors=True)
    output_mode = Channel.control(
        "OUTMODE? {ch}", "OUTMODE {ch},%d,%s,%d,%d,%d,%d",
        """Control the output mode as (mode, input, powerup enable, polarity, filter, delay s);
        mode is a code or a key of OUTPUT_MODES, input 'A' or 1-16. Reads back a list of strings.""",
        set_process=_outmode_set, cast=str, check_set_errors=True)
    pid = Channel.control(
        "PID? {ch}", "PID {ch},%g,%g,%g",
        """Control the PID parameters (P 0-1000, I 0-10000 s, D 0-2500 s).""",
        set_process=lambda v: (strict_range(float(v[0]), (0, 1000)), strict_range(float(v[1]), (0, 10000)),
                               strict_range(float(v[2]), (0, 2500))),
        check_set_errors=True)
    ramp = Channel.control(
        "RAMP? {ch}", "RAMP {ch},%d,%g",
        """Control set-point ramping as (on, rate K/min 0.001-100).""",
        set_process=lambda v: (int(bool(v[0])), strict_range(float(v[1]), (0.0, 100.0))),
        check_set_errors=True)
    ramping = Channel.measurement("RAMPST? {ch}", """Get whether the set point is ramping.""",
                                  cast=int, get_process=bool)


class LakeShore372(SCPIMixin, Instrument):
    """Lake Shore Model 372 AC resistance bridge and temperature controller.

    .. code-block:: python

        ls = LakeShore372("GPIB0::12::INSTR")
        ls.ch_6.kelvin                          # mixing-chamber thermometer on channel 6
        ls.sample_heater.output_mode = ("closed_loop", 6, 1, 0, 0, 0)
        ls.sample_heater.range = 5              # 3.16 mA
        ls.sample_heater.setpoint = 0.1         # K
    """

    input_A = Instrument.ChannelCreator(LakeShore372Input, "A")
    channels = Instrument.MultiChannelCreator(LakeShore372Input, list(range(1, 17)), prefix="ch_")
    sample_heater = Instrument.ChannelCreator(LakeShore372Heater, 0)
    warmup_heater = Instrument.ChannelCreator(LakeShore372Heater, 1)
    still_heater = Instrument.ChannelCreator(LakeShore372Heater, 2)

    scanner = Instrument.control(
        "SCAN?", "SCAN %d,%d",
        """Control the scanner as (channel 1-16, autoscan on/off).""",
        set_process=lambda v: (strict_range(int(v[0]), (1, 16)), int(bool(v[1]))),
        cast=int, check_set_errors=True)
    event_status = Instrument.measurement(
        "*ESR?", """Get (and clear) the Standard Event Status Register: 16 execution error, 32 command error.""",
        cast=int)

    def __init__(self, adapter, name: str = "Lake Shore 372", **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        super().__init__(adapter, name, **kwargs)

    def input(self, channel) -> LakeShore372Input:
        """The input channel object for 1-16 or 'A'."""
        text = _channel_text(channel)
        return self.input_A if text == "A" else getattr(self, f"ch_{text}")

    def check_errors(self) -> list:
        """Read (and clear) the event status register; return descriptions of the error bits that were set."""
        esr = int(self.ask("*ESR?"))
        errors = []
        if esr & _ESR_EXECUTION_ERROR:
            errors.append("execution error (parameter out of range or not allowed now)")
        if esr & _ESR_COMMAND_ERROR:
            errors.append("command error (command not recognised)")
        if esr & _ESR_QUERY_ERROR:
            errors.append("query error")
        return errors

    def check_set_errors(self) -> list:
        """After a setting: raise :class:`LakeShore372Error` if the 372 refused it."""
        errors = self.check_errors()
        if errors:
            raise LakeShore372Error(f"{self.name} refused the last setting: {'; '.join(errors)}")
        return []

    def check_get_errors(self) -> list:
        return self.check_errors()
