"""Station files: which instrument fills which role, the gates with their limits, and the measurement circuit.

A station file is YAML (loaded with ``yaml.safe_load``: no code runs) with a ``station:`` section::

    station:
      name: simulated GaAs QPC
      visa_library: "@qpcsim"            # pyvisa library; "@qpcsim" = the simulated lab described by this file
      instruments:
        gate_smu: {driver: keithley2400, address: "GPIB0::24::INSTR"}
        lockin:   {driver: sr830,        address: "GPIB0::8::INSTR"}
      gates:                              # every gate: limits, largest step, largest rate, safe value (V, V, V/s, V)
        gate: {instrument: gate_smu, limits: [-2.0, 0.3], step: 0.005, rate: 0.5, safe: 0.0}
      bias: {instrument: bias_smu, limits: [-1.0, 1.0], step: 0.01, rate: 1.0, safe: 0.0}   # V at the source
      lockin: {instrument: lockin}
      circuit: {excitation_divider: 1.0e-4, bias_divider: 1.0e-3, series_resistance_ohm: 1500, ...}

Every section and key (SI units throughout; numbers are plain numbers, never "0.5 V")::

    station:
      name: text                          # shown in the data files
      visa_library: "@py" | "@ivi" | "@qpcsim" | path   # "@qpcsim": the simulated lab in this same file
      instruments:                        # name -> which driver at which VISA address
        <name>: {driver: <registry name>, address: <VISA resource>, timeout_s: 2.0, options: {...}}
      gates:                              # every gate: which source (and channel of a multi-channel DAC)
        <gate>: {instrument: <source>, channel: 1, limits: [low, high],   # V
                 step: <largest single change, V>, rate: <largest ramp rate, V/s>,
                 safe: <V, on every abnormal exit>, end: <V after a normal end; default safe>,
                 compliance_A: <current compliance, A>}
      bias: {...same keys as a gate...}    # the DC bias source (V at the source, before the divider)
      virtual_gates:                      # linear combinations of physical gates, swept like a gate
        <name>: {<gate>: <coefficient>, <gate>: <coefficient>, ...}
      lockin: {instrument: <lock-in>}     # the main lock-in; or several under lockins: {<label>: {instrument: ..}}
      noise_analyser: {instrument: <analyser>}
      magnet: {instrument: <supply>, limits_T: [low, high], rate_T_per_s: <largest ramp rate, T/s>}
      thermometer: {instrument: <controller>, channel: <mixing-chamber channel>, limits_K: [low, high],
                    time_constant_s: <mixing chamber's settling time constant, s: time estimates; default 60>}
      circuit: {excitation_divider, bias_divider, series_resistance_ohm, preamp_gain_V_per_A,
                noise_amplifier_gain, ...}  # see qpclab.analysis.circuit.MeasurementCircuit
      triggers:                           # trigger cables: which output is wired to which input (buffered sweeps)
        - {from: <instrument>.<output>, to: <instrument>.<input>}   # e.g. {from: qdac.trig_out_1, to: lockin.trig_in}
      notes: free text
      sample: text                        # the sample measured and the cooldown: recorded with every run,
      cooldown: text                      # filters of `qpclab runs --sample/--cooldown`

Virtual gates. ``split: {gate_left: 1.0, gate_right: 1.0}`` defines a direction c in the space of the
physical gates. Moving the virtual gate by dv moves every named physical gate by ``c_i * dv`` (the others stay);
its value is the projection of the physical values on that direction, ``v = sum(c_i p_i) / sum(c_i^2)``, so
``split`` above reads the mean of the two halves, and ``asym: {gate_left: 0.5, gate_right: -0.5}`` reads their
difference ``p_left - p_right``. Whatever is orthogonal to c (e.g. an existing asymmetry while sweeping
``split``) is kept. A virtual gate obeys every physical gate's limits, steps and rates: its step is the largest
dv with ``|c_i| dv <= step_i`` for all i, likewise its rate.

Every problem is reported before any instrument is opened, as ``StationError`` naming the file, the key and
what is wrong. Bounds (each refusal within a fraction of a second, in bounded memory): a file of at most
:data:`MAX_FILE_BYTES`, at most :data:`MAX_DEPTH` levels of nesting, YAML aliases expanding to at most
:data:`MAX_NODES` values; every number finite and within the range that makes physical sense (limits within
+-:data:`MAX_VOLTS` V, a step at least twice the source's resolution and at most the limits' span, a full-span
ramp of at most :data:`MAX_STEPS` steps and :data:`MAX_RAMP_S` seconds, ...). The same file may carry the simulated lab's sections (``spec``, ``devices``, ``resources``,
``simulation``); the station section ignores them. Files are read with a safe loader (no ``!!python`` tags)
that also refuses a key given twice in one mapping (YAML would otherwise silently keep the last one).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..analysis.circuit import MeasurementCircuit
from .registry import DRIVERS, source_resolution

__all__ = ["Station", "OutputSpec", "VirtualGateSpec", "TriggerCable", "MagnetSpec", "ThermometerSpec", "InstrumentSpec", "StationError",
           "load_station", "parse_station", "read_yaml", "default_station_path", "MAX_FILE_BYTES", "MAX_DEPTH",
           "MAX_NODES", "MAX_VOLTS", "MAX_STEPS", "MAX_RAMP_S"]

#: the largest station (or lab) file read, bytes: station files are a few kB
MAX_FILE_BYTES = 1 << 20
#: the deepest nesting of mappings and lists
MAX_DEPTH = 32
#: the most values (scalars, mappings, lists) the document may hold with every alias expanded
MAX_NODES = 100_000
#: no gate or bias source goes beyond this, V (the SourceMeters stop at 210 V)
MAX_VOLTS = 1000.0
#: the most steps a ramp over an output's whole span may take
MAX_STEPS = 1_000_000
#: the longest ramp over an output's whole span, s (a day)
MAX_RAMP_S = 86_400.0

_STATION_KEYS = {"name", "visa_library", "instruments", "gates", "bias", "lockin", "lockins", "noise_analyser",
                 "magnet", "thermometer", "circuit", "notes", "virtual_gates", "sample", "cooldown", "suspenders",
                 "triggers"}
_INSTRUMENT_KEYS = {"driver", "address", "options", "timeout_s"}
_OUTPUT_KEYS = {"instrument", "channel", "limits", "step", "rate", "safe", "end", "compliance_A"}
#: output channels of the multi-channel sources (every other source has one output)
_CHANNELS = {"qdac2": 24}


class StationError(ValueError):
    """A station file that cannot be used: names the file, the key and what is wrong."""

    def __init__(self, path: str | os.PathLike | None, key: str, problem: str):
        self.path = str(path) if path is not None else "<station>"
        self.key = key
        self.problem = problem
        super().__init__(f"{self.path}: {key}: {problem}")


def default_station_path() -> Path:
    """The simulated station that ``qpclab demo`` and the other commands use when none is given."""
    from .. import sim_configs

    return Path(sim_configs.__file__).resolve().parent / "qpc_lab.yaml"


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    driver: str
    address: str
    role: str
    options: dict = field(default_factory=dict)
    timeout_s: float = 2.0


@dataclass(frozen=True)
class OutputSpec:
    """A voltage output with its safety envelope: a gate, or the DC bias source.

    limits: (low, high) in V; step: largest single change in V; rate: largest ramp rate in V/s;
    safe: the value the output is brought to on every exit (V); end: where it goes after a normal end
    (defaults to ``safe``).
    """

    name: str
    instrument: str
    channel: int | None
    limits: tuple[float, float]
    step: float
    rate: float
    safe: float
    end: float
    compliance_A: float | None = None

    def check(self, value: float) -> None:
        """Raise ValueError if ``value`` (V) is outside this output's limits (or not a finite number)."""
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{self.name}: {value!r} V is not a finite number")
        lo, hi = self.limits
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: {value:g} V is outside its limits [{lo:g}, {hi:g}] V")


@dataclass(frozen=True)
class VirtualGateSpec:
    """A virtual gate: the direction ``coefficients`` (physical gate name -> c_i) in the space of the gates.

    Moving it by dv moves gate i by ``c_i * dv``; its value is ``sum(c_i p_i) / sum(c_i^2)`` (see the module
    docstring). ``step`` (V) and ``rate`` (V/s) are the largest the physical gates allow.
    """

    name: str
    coefficients: dict[str, float]
    step: float
    rate: float

    @property
    def norm2(self) -> float:
        return sum(c * c for c in self.coefficients.values())

    def value_of(self, physical: Mapping[str, float]) -> float:
        """The virtual value (V) for physical gate values (V)."""
        return sum(c * physical[g] for g, c in self.coefficients.items()) / self.norm2

    def physical_targets(self, value: float, physical: Mapping[str, float]) -> dict[str, float]:
        """Where each physical gate goes (V) when the virtual gate moves from its present value to ``value``."""
        dv = value - self.value_of(physical)
        return {g: physical[g] + c * dv for g, c in self.coefficients.items()}

    def limits_at(self, physical: Mapping[str, float], gates: Mapping[str, "OutputSpec"]) -> tuple[float, float]:
        """The virtual range (V) reachable from ``physical`` without any physical gate leaving its limits."""
        v0 = self.value_of(physical)
        lo, hi = -math.inf, math.inf
        for g, c in self.coefficients.items():
            glo, ghi = gates[g].limits
            a, b = (glo - physical[g]) / c, (ghi - physical[g]) / c
            lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
        return v0 + lo, v0 + hi


@dataclass(frozen=True)
class TriggerCable:
    """A trigger cable of the station: ``source``'s output ``output`` wired to ``target``'s input ``input``
    (names as the instruments' manuals and qpclab's adapters give them: ``trig_out_1``, ``tlink_in_2``,
    ``trig_in``)."""

    source: str
    output: str
    target: str
    input: str

    @property
    def as_wiring(self) -> dict[str, str]:
        """The cable as a ``{from: inst.output, to: inst.input}`` mapping (the station file's spelling)."""
        return {"from": f"{self.source}.{self.output}", "to": f"{self.target}.{self.input}"}


@dataclass(frozen=True)
class MagnetSpec:
    """The magnet: its supply, field limits (T) and the largest ramp rate (T/s)."""

    instrument: str
    limits_T: tuple[float, float]
    rate_T_per_s: float

    def check(self, field_T: float) -> None:
        if not isinstance(field_T, (int, float)) or not math.isfinite(field_T):
            raise ValueError(f"magnet: {field_T!r} T is not a finite number")
        lo, hi = self.limits_T
        if not lo <= field_T <= hi:
            raise ValueError(f"magnet: {field_T:g} T is outside its limits [{lo:g}, {hi:g}] T")


@dataclass(frozen=True)
class ThermometerSpec:
    """Fridge thermometry: the controller, the mixing-chamber channel, and the allowed set points (K)."""

    instrument: str
    channel: int | None
    limits_K: tuple[float, float]
    time_constant_s: float = 60.0  #: the mixing chamber's settling after a set-point change (time estimates)

    def check(self, kelvin: float) -> None:
        if not isinstance(kelvin, (int, float)) or not math.isfinite(kelvin):
            raise ValueError(f"thermometer: {kelvin!r} K is not a finite number")
        lo, hi = self.limits_K
        if not lo <= kelvin <= hi:
            raise ValueError(f"thermometer: set point {kelvin:g} K is outside the limits [{lo:g}, {hi:g}] K")


@dataclass(frozen=True)
class Station:
    path: Path | None
    name: str
    visa_library: str
    instruments: dict[str, InstrumentSpec]
    gates: dict[str, OutputSpec]
    bias: OutputSpec | None
    lockin: str | None
    circuit: MeasurementCircuit
    raw: dict
    lockins: dict[str, str] = field(default_factory=dict)  #: label (e.g. "xx", "xy") -> instrument name
    noise_analyser: str | None = None
    magnet: MagnetSpec | None = None
    thermometer: ThermometerSpec | None = None
    virtual_gates: dict[str, VirtualGateSpec] = field(default_factory=dict)
    suspenders: dict = field(default_factory=dict)  #: the ``suspenders`` section (qpclab.procedures.suspenders)
    triggers: tuple[TriggerCable, ...] = ()  #: the trigger cables (``triggers``)

    def cables_from(self, instrument: str) -> list[TriggerCable]:
        """The trigger cables leaving ``instrument``."""
        return [c for c in self.triggers if c.source == instrument]

    def resolved_visa_library(self) -> str:
        """The library string for pyvisa: ``@qpcsim`` alone means the simulated lab in this very file."""
        lib = self.visa_library
        if lib.strip() == "@qpcsim" and self.path is not None:
            return f"{self.path}@qpcsim"
        return lib

    def outputs(self) -> dict[str, OutputSpec]:
        """Every safe-guarded output: the gates and, if present, the bias (under the name 'bias')."""
        out = dict(self.gates)
        if self.bias is not None:
            out["bias"] = self.bias
        return out

    @property
    def sample(self) -> str:
        """The sample measured (``sample:``; "" if the file names none)."""
        return str(self.raw.get("sample") or "")

    @property
    def cooldown(self) -> str:
        """The cooldown (``cooldown:``, e.g. "CD3"; "" if the file names none)."""
        return str(self.raw.get("cooldown") or "")

    def as_dict(self) -> dict:
        """The station section as it was read (for recording with every run's data)."""
        return self.raw


_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z\u00b5\u03bc/%][\w/\u00b5\u03bc^*.]*)\s*$")


def _num(path, key, raw, *, positive=False, allow_zero=True, low: float | None = None,
         high: float | None = None, unit: str = "") -> float:
    if isinstance(raw, bool) or raw is None:
        raise StationError(path, key, f"{raw!r} is not a number")
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            m = _WITH_UNIT.match(raw)
            if m:
                raise StationError(path, key, f"{raw!r} carries a unit ({m.group(2).strip()!r}); write the plain "
                                   f"number in SI units ({m.group(1)}), the unit is implied by the key") from None
            raise StationError(path, key, f"{raw!r} is not a number; give plain SI values (V, V/s), no units") from None
    elif isinstance(raw, (int, float)):
        value = float(raw)
    else:
        raise StationError(path, key, f"{raw!r} is not a number")
    if not math.isfinite(value):
        raise StationError(path, key, f"{raw!r} is not finite")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise StationError(path, key, f"{raw!r} must be greater than zero")
    if (low is not None and value < low) or (high is not None and value > high):
        raise StationError(path, key, f"{value:g} {unit} is outside the range that makes sense here "
                           f"[{low if low is not None else -math.inf:g}, {high if high is not None else math.inf:g}] "
                           f"{unit}".replace("  ", " "))
    return value


def _mapping(path, key, raw) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise StationError(path, key, f"expected a mapping (key: value lines), got {type(raw).__name__}")
    return dict(raw)


def _unknown(path, key, data: dict, known: set) -> None:
    extra = sorted(str(k) for k in set(data) - known)
    if extra:
        raise StationError(path, key, f"unknown key(s) {extra}; known keys are {sorted(known)}")


def _limits(path, key, raw, unit, bound: float | None = None) -> tuple[float, float]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise StationError(path, key, f"expected [low, high] in {unit}, got {raw!r}")
    b = {} if bound is None else {"low": -bound, "high": bound, "unit": unit}
    lo = _num(path, f"{key}[0]", raw[0], **b)
    hi = _num(path, f"{key}[1]", raw[1], **b)
    if not lo < hi:
        raise StationError(path, key, f"low limit {lo:g} {unit} must be below high limit {hi:g} {unit}")
    return lo, hi


def _output(path, key, name, raw, instruments) -> OutputSpec:
    data = _mapping(path, key, raw)
    _unknown(path, key, data, _OUTPUT_KEYS)
    for required in ("instrument", "limits", "step", "rate", "safe"):
        if required not in data:
            raise StationError(path, f"{key}.{required}", "missing")
    inst = data["instrument"]
    if not isinstance(inst, str) or inst not in instruments:
        raise StationError(path, f"{key}.instrument", f"{inst!r} is not one of the station's instruments {sorted(instruments)}")
    if instruments[inst].role != "source":
        raise StationError(path, f"{key}.instrument", f"{inst!r} is a {instruments[inst].role}, not a voltage source")
    lo, hi = _limits(path, f"{key}.limits", data["limits"], "V", MAX_VOLTS)
    span = hi - lo
    step = _num(path, f"{key}.step", data["step"], positive=True, allow_zero=False, high=span, unit="V")
    if span / step > MAX_STEPS:
        raise StationError(path, f"{key}.step", f"{step:g} V makes {span / step:.3g} steps over the limits' span "
                           f"{span:g} V (at most {MAX_STEPS:g}): give a coarser step")
    rate = _num(path, f"{key}.rate", data["rate"], positive=True, allow_zero=False)
    if span / rate > MAX_RAMP_S:
        raise StationError(path, f"{key}.rate", f"{rate:g} V/s takes {span / rate:.3g} s over the limits' span "
                           f"{span:g} V (at most {MAX_RAMP_S:g} s): give a faster rate")
    driver = instruments[inst].driver
    resolution = source_resolution(driver, instruments[inst].options)
    if resolution is not None:
        r, _, at = max((resolution(v), abs(v), v) for v in (lo, hi))  # it grows with |V|: the limits decide
        if step < 2 * r:
            raise StationError(path, f"{key}.step", f"{step:g} V is finer than the {driver}'s resolution allows: "
                               f"{r:g} V at {at:g} V; a step must be at least twice it ({2 * r:g} V), since each "
                               "written value is rounded by up to half a resolution")
    safe = _num(path, f"{key}.safe", data["safe"])
    if not lo <= safe <= hi:
        raise StationError(path, f"{key}.safe", f"{safe:g} V is outside the limits [{lo:g}, {hi:g}] V")
    end = _num(path, f"{key}.end", data.get("end", safe))
    if not lo <= end <= hi:
        raise StationError(path, f"{key}.end", f"{end:g} V is outside the limits [{lo:g}, {hi:g}] V")
    channel = data.get("channel")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 1):
        raise StationError(path, f"{key}.channel", f"{channel!r} is not a channel number (1, 2, ...)")
    n_channels = _CHANNELS.get(instruments[inst].driver, 1)
    if channel is not None and channel > n_channels:
        raise StationError(path, f"{key}.channel", f"{inst!r} ({instruments[inst].driver}) has "
                           + (f"channels 1 to {n_channels}" if n_channels > 1 else "a single output (channel 1)")
                           + f"; there is no channel {channel}")
    compliance = data.get("compliance_A")
    if compliance is not None:
        compliance = _num(path, f"{key}.compliance_A", compliance, positive=True, allow_zero=False, high=10.0,
                          unit="A")
    return OutputSpec(name, inst, channel, (lo, hi), step, rate, safe, end, compliance)


def parse_station(data: Any, path: str | os.PathLike | None = None) -> Station:
    """Validate a parsed station document (the whole YAML mapping) and build a :class:`Station`."""
    if not isinstance(data, Mapping):
        raise StationError(path, "<top>", "the file is not a YAML mapping")
    if "station" not in data:
        raise StationError(path, "station", "missing: the file has no 'station:' section")
    st = _mapping(path, "station", data["station"])
    _unknown(path, "station", st, _STATION_KEYS)

    instruments: dict[str, InstrumentSpec] = {}
    raw_instruments = _mapping(path, "station.instruments", st.get("instruments"))
    if not raw_instruments:
        raise StationError(path, "station.instruments", "missing or empty: name at least one instrument")
    addresses: dict[str, str] = {}
    for name, raw in raw_instruments.items():
        key = f"station.instruments.{name}"
        d = _mapping(path, key, raw)
        _unknown(path, key, d, _INSTRUMENT_KEYS)
        driver = d.get("driver")
        if not driver:
            raise StationError(path, f"{key}.driver", f"missing: name the driver, one of {sorted(DRIVERS)}")
        if str(driver).lower() not in DRIVERS:
            raise StationError(path, f"{key}.driver", f"unknown driver {driver!r}; known drivers: {sorted(DRIVERS)}")
        address = d.get("address")
        if address is None or address == "":
            raise StationError(path, f"{key}.address", "missing: give the VISA address, e.g. GPIB0::24::INSTR")
        if not isinstance(address, str):
            raise StationError(path, f"{key}.address", f"{address!r} is not a VISA address; quote it as text, "
                               "e.g. \"GPIB0::24::INSTR\"")
        address = address.strip()
        if address in addresses:
            raise StationError(path, f"{key}.address", f"{address} is already used by {addresses[address]!r}")
        addresses[address] = name
        timeout = _num(path, f"{key}.timeout_s", d.get("timeout_s", 2.0), positive=True, allow_zero=False,
                       high=600.0, unit="s")
        instruments[name] = InstrumentSpec(name, str(driver).lower(), address, DRIVERS[str(driver).lower()].role,
                                           _mapping(path, f"{key}.options", d.get("options")), timeout)

    gates: dict[str, OutputSpec] = {}
    raw_gates = _mapping(path, "station.gates", st.get("gates"))
    for name, raw in raw_gates.items():
        if name == "bias":
            raise StationError(path, "station.gates.bias", "'bias' is reserved: describe the bias source under station.bias")
        gates[name] = _output(path, f"station.gates.{name}", name, raw, instruments)
    bias = None
    if st.get("bias") is not None:
        bias = _output(path, "station.bias", "bias", st["bias"], instruments)
    used = {}
    for spec in list(gates.values()) + ([bias] if bias else []):
        k = (spec.instrument, spec.channel)
        if k in used:
            raise StationError(path, f"station.gates.{spec.name}", f"instrument {spec.instrument!r} channel "
                               f"{spec.channel} already drives {used[k]!r}")
        used[k] = spec.name

    def role_instrument(key: str, inst, role: str) -> str:
        if inst is None:
            raise StationError(path, key, f"missing: name the {role.replace('_', ' ')} among the station's "
                               f"instruments {sorted(instruments)}")
        if not isinstance(inst, str) or inst not in instruments:
            raise StationError(path, key, f"{inst!r} is not one of the station's instruments {sorted(instruments)}")
        if instruments[inst].role != role:
            raise StationError(path, key, f"{inst!r} is a {instruments[inst].role}, not a {role.replace('_', ' ')}")
        return inst

    virtual: dict[str, VirtualGateSpec] = {}
    for vname, raw in _mapping(path, "station.virtual_gates", st.get("virtual_gates")).items():
        key = f"station.virtual_gates.{vname}"
        if vname in gates or vname == "bias":
            raise StationError(path, key, f"{vname!r} is already a physical output; give the virtual gate another name")
        d = _mapping(path, key, raw)
        if not d:
            raise StationError(path, key, "empty: give the physical gates and their coefficients, "
                               "e.g. {gate_left: 1.0, gate_right: 1.0}")
        coefficients: dict[str, float] = {}
        for g, c in d.items():
            if g not in gates:
                raise StationError(path, f"{key}.{g}", f"{g!r} is not one of the station's gates {sorted(gates)}")
            value = _num(path, f"{key}.{g}", c)
            if value == 0:
                raise StationError(path, f"{key}.{g}", "coefficient 0: leave the gate out instead")
            if not 1e-6 <= abs(value) <= 1e6:
                raise StationError(path, f"{key}.{g}", f"coefficient {value:g} is outside 1e-06 ... 1e+06 in size")
            coefficients[str(g)] = value
        vstep = min(gates[g].step / abs(c) for g, c in coefficients.items())
        vrate = min(gates[g].rate / abs(c) for g, c in coefficients.items())
        virtual[str(vname)] = VirtualGateSpec(str(vname), coefficients, vstep, vrate)

    lockins: dict[str, str] = {}
    if st.get("lockin") is not None:
        d = _mapping(path, "station.lockin", st["lockin"])
        _unknown(path, "station.lockin", d, {"instrument"})
        lockins["main"] = role_instrument("station.lockin.instrument", d.get("instrument"), "lockin")
    for label, raw in _mapping(path, "station.lockins", st.get("lockins")).items():
        d = _mapping(path, f"station.lockins.{label}", raw)
        _unknown(path, f"station.lockins.{label}", d, {"instrument"})
        lockins[str(label)] = role_instrument(f"station.lockins.{label}.instrument", d.get("instrument"), "lockin")
    lockin = next(iter(lockins.values()), None)

    noise = None
    if st.get("noise_analyser") is not None:
        d = _mapping(path, "station.noise_analyser", st["noise_analyser"])
        _unknown(path, "station.noise_analyser", d, {"instrument"})
        noise = role_instrument("station.noise_analyser.instrument", d.get("instrument"), "noise_analyser")

    magnet = None
    if st.get("magnet") is not None:
        key = "station.magnet"
        d = _mapping(path, key, st["magnet"])
        _unknown(path, key, d, {"instrument", "limits_T", "rate_T_per_s"})
        for required in ("instrument", "limits_T", "rate_T_per_s"):
            if required not in d:
                raise StationError(path, f"{key}.{required}", "missing")
        inst = role_instrument(f"{key}.instrument", d["instrument"], "magnet")
        lo, hi = _limits(path, f"{key}.limits_T", d["limits_T"], "T")
        lo, hi = _limits(path, f"{key}.limits_T", d["limits_T"], "T", 100.0)
        rate = _num(path, f"{key}.rate_T_per_s", d["rate_T_per_s"], positive=True, allow_zero=False, high=10.0,
                    unit="T/s")
        if (hi - lo) / rate > MAX_RAMP_S:
            raise StationError(path, f"{key}.rate_T_per_s", f"{rate:g} T/s takes {(hi - lo) / rate:.3g} s over the "
                               f"limits' span (at most {MAX_RAMP_S:g} s): give a faster rate")
        magnet = MagnetSpec(inst, (lo, hi), rate)

    thermometer = None
    if st.get("thermometer") is not None:
        key = "station.thermometer"
        d = _mapping(path, key, st["thermometer"])
        _unknown(path, key, d, {"instrument", "channel", "limits_K", "time_constant_s"})
        for required in ("instrument", "limits_K"):
            if required not in d:
                raise StationError(path, f"{key}.{required}", "missing")
        inst = role_instrument(f"{key}.instrument", d["instrument"], "thermometer")
        lo, hi = _limits(path, f"{key}.limits_K", d["limits_K"], "K")
        if lo < 0:
            raise StationError(path, f"{key}.limits_K", f"{lo:g} K is below absolute zero")
        channel = d.get("channel")
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 1):
            raise StationError(path, f"{key}.channel", f"{channel!r} is not a channel number (1, 2, ...)")
        tau = _num(path, f"{key}.time_constant_s", d.get("time_constant_s", 60.0), positive=True, allow_zero=False)
        thermometer = ThermometerSpec(inst, channel, (lo, hi), tau)

    try:
        circuit = MeasurementCircuit.from_mapping(_mapping(path, "station.circuit", st.get("circuit")),
                                                  where="station.circuit")
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        raise StationError(path, key, problem) from None

    lib = st.get("visa_library", "")
    if not isinstance(lib, str):
        raise StationError(path, "station.visa_library", f"{lib!r} is not a string")
    return Station(Path(path) if path else None, str(st.get("name", "station")), lib, instruments, gates, bias,
                   lockin, circuit, dict(st), lockins, noise, magnet, thermometer, virtual,
                   suspenders=_suspenders(path, st.get("suspenders")),
                   triggers=_triggers(path, st.get("triggers"), instruments))


def _triggers(path, raw, instruments: Mapping[str, InstrumentSpec]) -> tuple[TriggerCable, ...]:
    """The ``triggers`` list: each ``{from: <instrument>.<output>, to: <instrument>.<input>}`` naming two of the
    station's instruments (the port names are checked by the adapters that use them)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise StationError(path, "station.triggers", "expected a list of {from: <instrument>.<output>, "
                           "to: <instrument>.<input>}")
    cables = []
    for i, item in enumerate(raw):
        key = f"station.triggers[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"from", "to"}:
            raise StationError(path, key, "expected {from: <instrument>.<output>, to: <instrument>.<input>}")
        ends = []
        for side in ("from", "to"):
            name, dot, port = str(item[side]).partition(".")
            if not dot or not port:
                raise StationError(path, f"{key}.{side}", f"{item[side]!r} is not <instrument>.<port>")
            if name not in instruments:
                raise StationError(path, f"{key}.{side}", f"{name!r} is not one of the station's instruments "
                                   f"{sorted(instruments)}")
            ends += [name, port]
        cables.append(TriggerCable(*ends))
    return tuple(cables)


def _suspenders(path, raw) -> dict:
    """The optional ``suspenders`` section as a mapping; its keys and values are checked against the station by
    :func:`qpclab.procedures.suspenders.config_for` (before anything moves)."""
    return _mapping(path, "station.suspenders", raw)


def load_station(path: str | os.PathLike | None = None) -> Station:
    """Read and validate a station file (the packaged simulated station if ``path`` is None)."""
    path = Path(path) if path is not None else default_station_path()
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StationError(path, "<file>", f"{size} bytes: larger than a station file can be "
                               f"({MAX_FILE_BYTES} bytes at most)")
        with path.open("rb") as f:  # read no more than the limit, whatever the file grew to since stat
            raw = f.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise StationError(path, "<file>", "no such file") from None
    except OSError as exc:
        raise StationError(path, "<file>", f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise StationError(path, "<file>", f"not UTF-8 text (byte {exc.start})") from None
    data = read_yaml(text, path)
    return parse_station(data, path.resolve())


class _StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no Python tags) that refuses a key given twice in one mapping."""


def _no_duplicates(loader: _StrictSafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue  # unhashable keys: the constructor reports them
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice (first on line {seen[key] + 1}); YAML would silently keep "
                "only the last one", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictSafeLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _check_shape(text: str, path) -> None:
    """Refuse, from YAML's event stream (no recursion, no document built), a text beyond :data:`MAX_FILE_BYTES`,
    nesting deeper than :data:`MAX_DEPTH`, or more than :data:`MAX_NODES` values with aliases expanded (an
    "alias bomb": a few lines that expand to billions of values when the document is written out again)."""
    if len(text) > MAX_FILE_BYTES:
        raise StationError(path, "<file>", f"{len(text)} characters: larger than a station file can be "
                           f"({MAX_FILE_BYTES} at most)")
    stack: list[dict] = []  # per open collection: kind, expanded size so far, anchor, current key
    anchors: dict[str, int] = {}  # anchor name -> expanded size of its node
    total = 0

    def where() -> str:
        return ".".join(str(e["key"])[:40] for e in stack if e["key"] is not None) or "<top>"

    def add(n: int, mark) -> None:
        nonlocal total
        total += n
        for e in stack:
            e["size"] += n
        if total > MAX_NODES:
            raise StationError(path, where(), f"expands to more than {MAX_NODES} values (line {mark.line + 1}): "
                               "YAML aliases (&name / *name) repeat too much")

    def node_done() -> None:  # in a mapping, keys and values alternate
        if stack and stack[-1]["map"]:
            stack[-1]["want_key"] = not stack[-1]["want_key"]

    for event in yaml.parse(text, Loader=_StrictSafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if len(stack) >= MAX_DEPTH:
                raise StationError(path, where(), f"nested deeper than {MAX_DEPTH} levels (line "
                                   f"{event.start_mark.line + 1})")
            add(1, event.start_mark)
            stack.append({"map": isinstance(event, yaml.MappingStartEvent), "size": 1, "anchor": event.anchor,
                          "key": None, "want_key": True})
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            done = stack.pop()
            if done["anchor"] is not None:
                anchors[done["anchor"]] = done["size"]
            node_done()
        elif isinstance(event, yaml.ScalarEvent):
            add(1, event.start_mark)
            if stack and stack[-1]["map"] and stack[-1]["want_key"]:
                stack[-1]["key"] = event.value
            if event.anchor is not None:
                anchors[event.anchor] = 1
            node_done()
        elif isinstance(event, yaml.AliasEvent):
            add(anchors.get(event.anchor, 1), event.start_mark)
            node_done()


def read_yaml(text: str, path: str | os.PathLike | None = None) -> Any:
    """Parse a station file's text safely (no tags that build Python objects, no duplicate keys), within the
    size, depth and alias bounds of :func:`_check_shape`."""
    try:
        _check_shape(text, path)
        return yaml.load(text, Loader=_StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark is not None else ""
        if "could not determine a constructor" in str(exc.problem):
            raise StationError(path, "<yaml>", f"refused tag{where}: {exc.problem.split('tag ')[-1]}; station "
                               "files are plain data, tags that build Python objects are not allowed") from None
        raise StationError(path, "<yaml>", f"{exc.problem}{where}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = "; ".join(x for x in (exc.context, exc.problem) if x)
        raise StationError(path, "<yaml>", f"not valid YAML{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise StationError(path, "<yaml>", f"not valid YAML: {exc}") from None
