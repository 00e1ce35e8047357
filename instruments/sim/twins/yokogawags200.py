"""Simulated Yokogawa GS200 DC voltage/current source (GS200 User's Manual IM 765501-01E, communication commands),
as pymeasure's ``YokogawaGS200`` uses it.

Voltage ranges 10 mV, 100 mV, 1 V, 10 V, 30 V; current ranges 1, 10, 100, 200 mA. On a range the level may go to
120 % of it (30 V range: 32 V; 200 mA range: 200 mA). A level beyond that, or a range that does not exist, is
refused with -222 "Data out of range" in the error queue (``:SYSTem:ERRor?``) and the setting is unchanged. The
output relay opens when the output is off: the gate then sees 0 V here. The limiter (``:SOURce:PROTection``)
clamps the current the load draws in voltage mode.

Program mode (what pymeasure's ``trigger_ramp_to_level`` uses): levels sent between ``:PROGram:EDIT:STARt`` and
``:PROGram:EDIT:END`` become program steps; ``:PROGram:RUN`` then steps through them every ``:PROGram:INTerval``
seconds, each reached by a linear ramp of ``:PROGram:SLOPe`` seconds from the previous level, in lab time
(``lab.now()``); with ``:PROGram:REPeat 0`` it runs once and holds the last step, with 1 it repeats.

The measurement (monitor) option is installed (``*OPT?``): ``:MEASure?`` reads the load current in voltage mode.
Its set-up, the BNC I/O routing, the program trigger mode and count store and read back without further effect.
"""

from __future__ import annotations

from ..scpi import Command
from ..twin import CommandError, ScpiStatusTwin, parse_bool, parse_choice, parse_float

VOLT_RANGES = (10e-3, 100e-3, 1.0, 10.0, 30.0)
CURR_RANGES = (1e-3, 10e-3, 100e-3, 200e-3)


_SETTINGS_DEFAULTS = {
    "sense": "0", "nplc": "5", "sense_delay": "0", "sense_trigger": "READ", "sense_interval": "+2.00000E+01",
    "remote_sense": "0", "guard": "0", "bnc_out": "TRIG", "bnc_in": "TRIG", "program_trigger": "NORM",
    "program_count": "1", "program_file": "", "status_enable": "0",
}


def _fmt(v: float) -> str:
    return f"{v:+.5E}"


def _max_level(rng: float) -> float:
    if rng == 30.0:
        return 32.0
    if rng == 200e-3:
        return 200e-3
    return 1.2 * rng


class YokogawaGS200Twin(ScpiStatusTwin):
    grammar = "scpi"
    idn = "YOKOGAWA,GS210,91T926459,2.02"
    options = "MONITOR"  # the measurement (monitor) option is installed

    def __init__(self, lab, name, config=None):
        #: the plain settings of :meth:`settings_commands`, as the instrument prints them
        self.settings: dict[str, str] = {}
        super().__init__(lab, name, config)

    def settings_commands(self) -> list[Command]:
        """Settings that only store and read back (their effect on the output is not simulated): measurement
        (monitor) set-up, BNC I/O routing, line frequency, program trigger mode and count (GS200 manual, ch. 16)."""
        def setting(pattern: str, key: str, parse) -> Command:
            return Command(pattern, query=lambda a: self.settings[key],
                           write=lambda a: self.settings.__setitem__(key, parse(self.need(a)[0])))

        def choice(choices):
            return lambda text: parse_choice(text, choices)

        def number(low, high, fmt=_fmt):
            return lambda text: fmt(parse_float(text, low, high))

        def onoff(text):
            return str(int(parse_bool(text)))

        return [
            setting(":SENSe[:STATe]", "sense", onoff),
            setting(":SENSe:NPLC", "nplc", number(1, 25, lambda v: str(int(v)))),
            setting(":SENSe:DELay", "sense_delay", number(0, 999999, lambda v: str(int(v)))),
            setting(":SENSe:TRIGger", "sense_trigger", choice({"READy": "READ", "TIMer": "TIM", "COMMunicate": "COMM",
                                                               "IMMediate": "IMM"})),
            setting(":SENSe:INTerval", "sense_interval", number(0.1, 3600)),
            setting(":SENSe:REMote", "remote_sense", onoff),
            setting(":SENSe:GUARd", "guard", onoff),
            setting(":ROUTe:BNCO", "bnc_out", choice({"TRIGger": "TRIG", "OUTPut": "OUTP", "READy": "READ"})),
            setting(":ROUTe:BNCI", "bnc_in", choice({"TRIGger": "TRIG", "OUTPut": "OUTP"})),
            setting(":PROGram:TRIGger", "program_trigger", choice({"NORMal": "NORM", "MEND": "MEND"})),
            setting(":PROGram:COUNt", "program_count", number(1, 10000, lambda v: str(int(v)))),
            setting(":PROGram:LOAD", "program_file", lambda text: text.strip("'\"")),
            Command(":PROGram:SAVE", write=lambda a: self.settings.__setitem__("program_file", self.need(a)[0])),
            Command(":SYSTem:LFRequency", query=lambda a: "50"),  # measured at power-on: the lab's 50 Hz mains
            Command(":STATus:EVENt", query=lambda a: "0"),
            Command(":STATus:CONDition", query=lambda a: "0"),
            setting(":STATus:ENABle", "status_enable", number(0, 65535, lambda v: str(int(v)))),
            Command(":MEASure", query=lambda a: self._measure()),
        ]

    def _measure(self) -> str:
        """:MEASure?: the monitor's reading, the current the load draws in voltage mode (voltage in current mode)."""
        if self.settings["sense"] != "1":
            raise CommandError(-221, "Settings conflict")  # the measurement function is off
        v = self.applied()
        if self.function == "VOLT":
            return _fmt(v / self._load() + self.lab.gauss(1e-9))
        return _fmt(v)

    def reset(self) -> None:
        super().reset()
        self.function = "VOLT"
        self.range = {"VOLT": 10.0, "CURR": 100e-3}
        self.level = 0.0
        self.output = False
        self.prot_volt = 30.0
        self.prot_curr = 200e-3
        self.settings.update(_SETTINGS_DEFAULTS)
        self.editing = False
        self.steps: list[float] = []
        self.interval = 1.0
        self.slope = 0.0
        self.repeat = True
        self.run: tuple[float, float] | None = None  # (start time, level when the run began)
        self.lab.add_ticker(self._tick)
        self._push()

    # ---- the output -----------------------------------------------------------------------------------
    def _load(self) -> float:
        return self.lab.loads_ohm.get(self.name, 1e12)

    def present_level(self) -> float:
        """The level now: the set level, or where a running program has got to."""
        if self.run is None or not self.steps:
            return self.level
        t0, start = self.run
        elapsed = self.lab.now() - t0
        i = int(elapsed // self.interval)
        n = len(self.steps)
        if i >= n and not self.repeat:
            self.level = self.steps[-1]
            self.run = None
            return self.level
        i_mod = i % n
        before = self.steps[i_mod - 1] if i_mod > 0 else (start if i < n else self.steps[-1])
        into = elapsed - i * self.interval
        frac = 1.0 if self.slope <= 0 else min(1.0, into / self.slope)
        return before + (self.steps[i_mod] - before) * frac

    def applied(self) -> float:
        if not self.output:
            return 0.0
        level = self.present_level()
        if self.function == "VOLT":
            return level
        return max(-self.prot_volt, min(self.prot_volt, level * self._load()))

    def _tick(self, t: float) -> None:
        if self.run is not None:
            self._push()

    def _push(self) -> None:
        target = self.lab.output_name(self.name, None)
        if target is not None:
            self.lab.set_output(target, self.applied())

    def commands(self) -> list[Command]:
        C = Command
        return self.common_commands() + self.settings_commands() + [
            C("[:SOURce]:FUNCtion", query=lambda a: self.function, write=self._set_function),
            C("[:SOURce]:RANGe", query=lambda a: _fmt(self.range[self.function]), write=self._set_range),
            C("[:SOURce]:LEVel[:FIX]", query=lambda a: _fmt(self.present_level()), write=self._set_level),
            C("[:SOURce]:LEVel:AUTO", write=self._set_level_auto),
            C("[:SOURce]:PROTection:VOLTage", query=lambda a: _fmt(self.prot_volt),
              write=lambda a: setattr(self, "prot_volt", parse_float(self.need(a)[0], 1.0, 30.0))),
            C("[:SOURce]:PROTection:CURRent", query=lambda a: _fmt(self.prot_curr),
              write=lambda a: setattr(self, "prot_curr", parse_float(self.need(a)[0], 1e-3, 200e-3))),
            C(":OUTPut[:STATe]", query=lambda a: str(int(self.output)), write=self._set_output),
            C(":PROGram:EDIT:STARt", write=self._edit_start),
            C(":PROGram:EDIT:END", write=lambda a: setattr(self, "editing", False)),
            C(":PROGram:INTerval", query=lambda a: _fmt(self.interval),
              write=lambda a: setattr(self, "interval", parse_float(self.need(a)[0], 0.1, 3600.0))),
            C(":PROGram:SLOPe", query=lambda a: _fmt(self.slope),
              write=lambda a: setattr(self, "slope", parse_float(self.need(a)[0], 0.0, 3600.0))),
            C(":PROGram:REPeat", query=lambda a: str(int(self.repeat)),
              write=lambda a: setattr(self, "repeat", parse_bool(self.need(a)[0]))),
            C(":PROGram:RUN", write=self._run),
            C(":SYSTem:ERRor[:NEXT]", query=lambda a: self.pop_error()),
            C(":SYSTem:LOCal", write=lambda a: None),
            C(":SYSTem:REMote", write=lambda a: None),
            C(":STATus:ERRor", query=lambda a: "0"),
        ]

    # ---- actions --------------------------------------------------------------------------------------
    def _set_function(self, args) -> None:
        func = parse_choice(self.need(args)[0], {"VOLTage": "VOLT", "CURRent": "CURR"})
        if func != self.function:
            self.function = func
            self.level = 0.0  # a function change sets the level to 0 (and, here, leaves the output as it was)
            self._push()

    def _set_range(self, args) -> None:
        text = self.need(args)[0].strip().upper()
        ranges = VOLT_RANGES if self.function == "VOLT" else CURR_RANGES
        if text in ("MAX", "MAXIMUM"):
            value = ranges[-1]
        elif text in ("MIN", "MINIMUM"):
            value = ranges[0]
        else:
            value = abs(parse_float(text))
        fits = [r for r in ranges if value <= r * (1 + 1e-9)]
        if not fits:
            raise CommandError(-222, "Data out of range")
        rng = fits[0]
        self.range[self.function] = rng
        if abs(self.level) > _max_level(rng):
            self.level = 0.0  # the present level does not fit the new range
            self._push()

    def _check_level(self, value: float, rng: float) -> None:
        if not -_max_level(rng) * (1 + 1e-12) <= value <= _max_level(rng) * (1 + 1e-12):
            raise CommandError(-222, "Data out of range")

    def _edit_start(self, args) -> None:
        self.editing = True
        self.steps = []

    def _run(self, args) -> None:
        if not self.steps:
            raise CommandError(-221, "Settings conflict")  # no program to run
        if self.slope > self.interval:
            raise CommandError(-221, "Settings conflict")  # slope time longer than the interval
        self.run = (self.lab.now(), self.present_level())
        self._push()

    def _set_level(self, args) -> None:
        text = self.need(args)[0].strip().upper()
        if self.run is not None:  # a new level stops a running program where it is
            self.level = self.present_level()
            self.run = None
        rng = self.range[self.function]
        if text in ("MAX", "MAXIMUM"):
            value = _max_level(rng)
        elif text in ("MIN", "MINIMUM"):
            value = -_max_level(rng)
        else:
            value = parse_float(text)
            self._check_level(value, rng)
        if self.editing:
            self.steps.append(value)  # a program step, not an output change
            return
        self.level = value
        self._push()

    def _set_level_auto(self, args) -> None:
        value = parse_float(self.need(args)[0])
        ranges = VOLT_RANGES if self.function == "VOLT" else CURR_RANGES
        fits = [r for r in ranges if abs(value) <= _max_level(r)]
        if not fits:
            raise CommandError(-222, "Data out of range")
        self.range[self.function] = fits[0]
        self.level = value
        self._push()

    def _set_output(self, args) -> None:
        self.output = parse_bool(self.need(args)[0])
        self._push()
