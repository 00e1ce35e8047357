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

Every problem is reported before any instrument is opened, as ``StationError`` naming the file, the key and
what is wrong. The same file may carry the simulated lab's sections (``spec``, ``devices``, ``resources``,
``simulation``); the station section ignores them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..analysis.circuit import MeasurementCircuit

__all__ = ["Station", "OutputSpec", "InstrumentSpec", "StationError", "load_station", "default_station_path",
           "DRIVER_ROLES"]

#: driver name in a station file -> the role it can fill
DRIVER_ROLES: dict[str, str] = {
    "keithley2400": "source",
    "keithley2450": "source",
    "yokogawags200": "source",
    "qdac2": "source",
    "sr830": "lockin",
    "sr860": "lockin",
    "sr865": "lockin",
    "sr785": "noise_analyser",
    "keysight_xsa": "noise_analyser",
    "ami430": "magnet",
    "lakeshore372": "thermometer",
}

_STATION_KEYS = {"name", "visa_library", "instruments", "gates", "bias", "lockin", "circuit", "notes"}
_INSTRUMENT_KEYS = {"driver", "address", "options", "timeout_s"}
_OUTPUT_KEYS = {"instrument", "channel", "limits", "step", "rate", "safe", "end", "compliance_A"}


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

    def as_dict(self) -> dict:
        """The station section as it was read (for recording with every run's data)."""
        return self.raw


def _num(path, key, raw, *, positive=False, allow_zero=True) -> float:
    if isinstance(raw, bool) or raw is None:
        raise StationError(path, key, f"{raw!r} is not a number")
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            raise StationError(path, key, f"{raw!r} is not a number; give plain SI values (V, V/s), no units") from None
    elif isinstance(raw, (int, float)):
        value = float(raw)
    else:
        raise StationError(path, key, f"{raw!r} is not a number")
    if not math.isfinite(value):
        raise StationError(path, key, f"{raw!r} is not finite")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise StationError(path, key, f"{raw!r} must be greater than zero")
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


def _output(path, key, name, raw, instruments) -> OutputSpec:
    data = _mapping(path, key, raw)
    _unknown(path, key, data, _OUTPUT_KEYS)
    for required in ("instrument", "limits", "step", "rate", "safe"):
        if required not in data:
            raise StationError(path, f"{key}.{required}", "missing")
    inst = data["instrument"]
    if inst not in instruments:
        raise StationError(path, f"{key}.instrument", f"{inst!r} is not one of the station's instruments {sorted(instruments)}")
    if instruments[inst].role != "source":
        raise StationError(path, f"{key}.instrument", f"{inst!r} is a {instruments[inst].role}, not a voltage source")
    limits = data["limits"]
    if not isinstance(limits, (list, tuple)) or len(limits) != 2:
        raise StationError(path, f"{key}.limits", f"expected [low, high] in V, got {limits!r}")
    lo = _num(path, f"{key}.limits[0]", limits[0])
    hi = _num(path, f"{key}.limits[1]", limits[1])
    if not lo < hi:
        raise StationError(path, f"{key}.limits", f"low limit {lo:g} V must be below high limit {hi:g} V")
    step = _num(path, f"{key}.step", data["step"], positive=True, allow_zero=False)
    rate = _num(path, f"{key}.rate", data["rate"], positive=True, allow_zero=False)
    safe = _num(path, f"{key}.safe", data["safe"])
    if not lo <= safe <= hi:
        raise StationError(path, f"{key}.safe", f"{safe:g} V is outside the limits [{lo:g}, {hi:g}] V")
    end = _num(path, f"{key}.end", data.get("end", safe))
    if not lo <= end <= hi:
        raise StationError(path, f"{key}.end", f"{end:g} V is outside the limits [{lo:g}, {hi:g}] V")
    channel = data.get("channel")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 1):
        raise StationError(path, f"{key}.channel", f"{channel!r} is not a channel number (1, 2, ...)")
    compliance = data.get("compliance_A")
    if compliance is not None:
        compliance = _num(path, f"{key}.compliance_A", compliance, positive=True, allow_zero=False)
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
            raise StationError(path, f"{key}.driver", "missing")
        if str(driver).lower() not in DRIVER_ROLES:
            raise StationError(path, f"{key}.driver", f"unknown driver {driver!r}; known drivers: {sorted(DRIVER_ROLES)}")
        address = d.get("address")
        if not address or not isinstance(address, str):
            raise StationError(path, f"{key}.address", "missing: give the VISA address, e.g. GPIB0::24::INSTR")
        if address in addresses:
            raise StationError(path, f"{key}.address", f"{address} is already used by {addresses[address]!r}")
        addresses[address] = name
        timeout = _num(path, f"{key}.timeout_s", d.get("timeout_s", 2.0), positive=True, allow_zero=False)
        instruments[name] = InstrumentSpec(name, str(driver).lower(), address, DRIVER_ROLES[str(driver).lower()],
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

    lockin = None
    if st.get("lockin") is not None:
        d = _mapping(path, "station.lockin", st["lockin"])
        _unknown(path, "station.lockin", d, {"instrument"})
        lockin = d.get("instrument")
        if lockin not in instruments:
            raise StationError(path, "station.lockin.instrument", f"{lockin!r} is not one of the station's instruments")
        if instruments[lockin].role != "lockin":
            raise StationError(path, "station.lockin.instrument", f"{lockin!r} is a {instruments[lockin].role}, not a lock-in")

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
                   lockin, circuit, dict(st))


def load_station(path: str | os.PathLike | None = None) -> Station:
    """Read and validate a station file (the packaged simulated station if ``path`` is None)."""
    path = Path(path) if path is not None else default_station_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StationError(path, "<file>", "no such file") from None
    except OSError as exc:
        raise StationError(path, "<file>", f"cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StationError(path, "<yaml>", f"not valid YAML: {exc}") from None
    return parse_station(data, path.resolve())
