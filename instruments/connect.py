"""Open a station's instruments and wrap them in their roles and safe gates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .gates import SafeGate
from .registry import adapter_factory
from .roles import LockIn, VoltageSource
from .station import Station
from .virtual_gates import VirtualGate

log = logging.getLogger(__name__)

__all__ = ["Lab", "connect"]


@dataclass
class Lab:
    """A connected station: role adapters by instrument name, safe gates (physical and virtual) by gate name."""

    station: Station
    instruments: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, SafeGate | VirtualGate] = field(default_factory=dict)  #: physical gates, then virtual ones
    bias: SafeGate | None = None
    lockin: LockIn | None = None
    lockins: dict[str, LockIn] = field(default_factory=dict)  #: by the station's labels ("main", "xx", ...)
    noise_analyser: Any = None
    magnet: Any = None
    thermometer: Any = None

    def outputs(self) -> list[SafeGate]:
        """Every physical safe-guarded output, once: the physical gates and the bias line (no virtual gates)."""
        return [g for g in self.gates.values() if isinstance(g, SafeGate)] + ([self.bias] if self.bias else [])

    def check_errors(self) -> None:
        """Every output's error queue (refused values, current compliance): InstrumentError naming the source."""
        for gate in self.outputs():
            gate.source.check_errors()

    def virtual_gates(self) -> dict[str, VirtualGate]:
        return {n: g for n, g in self.gates.items() if isinstance(g, VirtualGate)}

    def snapshot(self) -> dict[str, Any]:
        """Every instrument's present settings, for the run's metadata."""
        snap = {}
        for name, inst in self.instruments.items():
            try:
                snap[name] = inst.snapshot()
            except Exception as exc:  # noqa: BLE001 - a snapshot must not stop a run
                snap[name] = {"error": str(exc)}
        return snap

    def close(self) -> None:
        for inst in self.instruments.values():
            driver = getattr(inst, "driver", None)
            try:
                if driver is not None:
                    driver.adapter.close()
            except Exception:  # noqa: BLE001
                log.debug("closing %s failed", inst, exc_info=True)


def connect(station: Station, needed: set[str] | None = None) -> Lab:
    """Open the station's instruments (all, or the names in ``needed``) and set up roles and gates.

    Sources are switched on at their present level: enabling never moves a gate. If anything fails, the
    instruments opened so far are closed again and the error goes on.
    """
    lab = Lab(station)
    try:
        _connect(station, needed, lab)
    except BaseException:
        lab.close()
        raise
    return lab


def _connect(station: Station, needed: set[str] | None, lab: Lab) -> None:
    lib = station.resolved_visa_library()
    for name, spec in station.instruments.items():
        if needed is not None and name not in needed:
            continue
        factory = adapter_factory(spec.driver)
        compliance = None
        for out in station.outputs().values():
            if out.instrument == name and out.compliance_A is not None:
                compliance = out.compliance_A
        lab.instruments[name] = factory(spec.address, lib, name, timeout_s=spec.timeout_s,
                                        compliance_A=compliance, **spec.options)
    for gname, out in station.outputs().items():
        if out.instrument not in lab.instruments:
            continue
        source = lab.instruments[out.instrument].channel(out.channel)
        if not isinstance(source, VoltageSource):
            raise TypeError(f"{out.instrument} channel {out.channel} (for {gname}) is not a voltage source")
        source.enable()
        gate = SafeGate(out, source)
        if gname == "bias":
            lab.bias = gate
        else:
            lab.gates[gname] = gate
    for vname, vspec in station.virtual_gates.items():
        if all(g in lab.gates for g in vspec.coefficients):
            lab.gates[vname] = VirtualGate(vspec, {g: lab.gates[g] for g in vspec.coefficients})
    for label, inst in station.lockins.items():
        if inst in lab.instruments:
            lab.lockins[label] = lab.instruments[inst]
    if station.lockin and station.lockin in lab.instruments:
        lab.lockin = lab.instruments[station.lockin]
    for role in ("noise_analyser",):
        inst = getattr(station, role)
        if inst and inst in lab.instruments:
            setattr(lab, role, lab.instruments[inst])
    if station.magnet and station.magnet.instrument in lab.instruments:
        lab.magnet = lab.instruments[station.magnet.instrument]
        if hasattr(lab.magnet, "configure"):  # the station's limits, checked by the adapter before sending
            lab.magnet.configure(station.magnet.limits_T, station.magnet.rate_T_per_s)
    if station.thermometer and station.thermometer.instrument in lab.instruments:
        lab.thermometer = lab.instruments[station.thermometer.instrument]
        if hasattr(lab.thermometer, "configure"):
            lab.thermometer.configure(station.thermometer.channel, station.thermometer.limits_K)
