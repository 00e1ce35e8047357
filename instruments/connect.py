"""Open a station's instruments and wrap them in their roles and safe gates.

Connecting never moves an output and never shares one:

1. every instrument address is locked for this run (:mod:`~qpclab.instruments.locks`; a second run is refused
   naming the holder) before anything is opened;
2. each instrument is opened (a wrong address: VISA's "resource not found", refused in one line) and asked
   ``*IDN?``; a model the station's driver does not speak to is refused;
3. every output is read back and checked against its limits, and asked whether it is in compliance, before any
   write: a level outside the limits, or one held by the current limit (setting the station's compliance could
   release it), is refused, naming output and value;
4. then the sources are set up (compliance, range, output on at the present level) and read back again: a
   level that changed is refused too.

Read-only clients (``connect(..., read_only=True)``, e.g. a monitor) take no lock and never write: no setup,
and their safe gates refuse every move. They only query, so they are refused while a run holds one of the
instruments: a second session's query can take the reply meant for the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyvisa import constants
from pyvisa.errors import VisaIOError

from .gates import SafeGate
from .locks import InstrumentLock, StationBusyError
from .registry import adapter_factory, driver_info, identity_matches
from .roles import ComplianceError, InstrumentError, LockIn, VoltageSource
from .station import Station
from .virtual_gates import VirtualGate
from .visa import lock_exclusive

log = logging.getLogger(__name__)

__all__ = ["Lab", "connect", "ConnectError"]


class ConnectError(InstrumentError):
    """The station cannot be connected as it is (wrong address, wrong model, an output outside its limits or in
    compliance): one line naming the instrument or output and what was found."""



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
    read_only: bool = False
    locks: list[InstrumentLock] = field(default_factory=list)
    #: outputs whose source has a compliance state, one per source instrument (see :meth:`check_compliance`)
    watched: list[SafeGate] = field(default_factory=list)

    def __repr__(self) -> str:
        """The station at a glance: instruments (driver, address), gates with their last known values."""
        lines = [f"<Lab {self.station.name!r}{' (read-only)' if self.read_only else ''}:"]
        for name, spec in self.station.instruments.items():
            if name in self.instruments:
                lines.append(f"  {name}: {spec.driver} at {spec.address} ({spec.role})")
        lines += [f"  {gate!r}" for gate in self.gates.values()]
        if self.bias is not None:
            lines.append(f"  {self.bias!r}")
        return "\n".join(lines) + ">"

    def check_compliance(self) -> None:
        """Raise :class:`ComplianceError` if any output's source is in compliance now: one short query per
        source instrument that has a compliance state (a Keithley's tripped flag; DACs have none). The procedure
        calls it after each reading and before recording it, so no point taken in compliance is recorded."""
        for gate in self.watched:
            if gate.source.in_compliance():
                gate.tripped = True
                raise ComplianceError(gate.name, None, gate.source.compliance_limit_A(), gate.spec.instrument)

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
        """Close every instrument (VISA locks go with the sessions) and release the lock files; also after a
        failed connect."""
        for inst in self.instruments.values():
            try:
                inst.driver.adapter.close()
            except Exception:  # noqa: BLE001
                log.debug("closing %s failed", inst, exc_info=True)
        for lock in self.locks:
            lock.release()
        self.locks = []


def connect(station: Station, needed: set[str] | None = None, *, read_only: bool = False) -> Lab:
    """Open the station's instruments (all, or the names in ``needed``) and set up roles and gates.

    See the module docstring for what is checked, in which order, before anything is written. Sources are
    switched on at their present level: connecting never moves an output. If anything fails, the instruments
    opened so far are closed again, the locks released, and the error goes on.
    """
    lab = Lab(station, read_only=read_only)
    try:
        _lock(station, needed, lab)
        _connect(station, needed, lab)
    except BaseException:
        lab.close()
        raise
    return lab


def _lock_key(station: Station, address: str) -> str:
    """What a lock is taken on: the address (one instrument, whichever VISA library reaches it); in a simulated
    lab the lab file too (two simulated labs are two sets of instruments)."""
    lib = station.resolved_visa_library()
    return f"{lib}|{address}" if lib.endswith("@qpcsim") else address


def _lock(station: Station, needed: set[str] | None, lab: Lab) -> None:
    for name, spec in station.instruments.items():
        if needed is not None and name not in needed:
            continue
        lock = InstrumentLock(_lock_key(station, spec.address), spec.address, name, station.name)
        if lab.read_only:
            holder = lock.busy()
            if holder is not None:
                raise StationBusyError(f"{holder.describe()}; a read-only client waits until the run ends "
                                       "(its queries would take the run's replies)")
            continue
        lock.acquire()
        lab.locks.append(lock)


def _open(station: Station, name: str, lib: str, compliance: float | None):
    """The adapter of one instrument (its driver object made: unmodified pymeasure drivers may write their
    reading format then, never an output setting); a wrong address is refused in one line."""
    spec = station.instruments[name]
    try:
        return adapter_factory(spec.driver)(spec.address, lib, name, timeout_s=spec.timeout_s,
                                            compliance_A=compliance, **spec.options)
    except VisaIOError as exc:
        if exc.error_code == constants.StatusCode.error_resource_not_found:
            raise ConnectError(f"{name}: no instrument at {spec.address} (VISA: resource not found); check "
                               f"station.instruments.{name}.address") from None
        raise ConnectError(f"{name}: cannot open {spec.address} ({exc.abbreviation})") from None


def _check_identity(station: Station, name: str, inst) -> None:
    """``*IDN?`` must name a model the station's driver speaks to, before any setting is written."""
    spec = station.instruments[name]
    where = f"station.instruments.{name}"
    try:
        idn = str(inst.driver.ask("*IDN?")).strip()
    except (InstrumentError, VisaIOError) as exc:
        raise ConnectError(f"{name}: no answer to *IDN? at {spec.address} ({exc}); is it a "
                           f"{driver_info(spec.driver).description}?") from None
    if not identity_matches(spec.driver, idn):
        raise ConnectError(f"{name}: {spec.address} answers *IDN? with {idn!r}, not a "
                           f"{driver_info(spec.driver).description}; check {where}")


def _connect(station: Station, needed: set[str] | None, lab: Lab) -> None:
    lib = station.resolved_visa_library()
    for name, spec in station.instruments.items():
        if needed is not None and name not in needed:
            continue
        compliance = None
        for out in station.outputs().values():
            if out.instrument == name and out.compliance_A is not None:
                compliance = out.compliance_A
        inst = lab.instruments[name] = _open(station, name, lib, compliance)
        _check_identity(station, name, inst)
        if not lab.read_only:
            lock_exclusive(inst.driver, name)
    gates: dict[str, SafeGate] = {}
    for gname, out in station.outputs().items():
        if out.instrument not in lab.instruments:
            continue
        source = lab.instruments[out.instrument].channel(out.channel)
        if not isinstance(source, VoltageSource):
            raise TypeError(f"{out.instrument} channel {out.channel} (for {gname}) is not a voltage source")
        gates[gname] = SafeGate(out, source, read_only=True)  # reads and checks only, until set up
    # every output read back and checked before the first write to any of them
    present = {gname: gate.read_checked() for gname, gate in gates.items()}
    was_on = {gname: gate.source.output_enabled() for gname, gate in gates.items()}
    for gname, gate in gates.items():
        if gate.source.in_compliance():
            raise ConnectError(f"{gname}: in compliance at connect (programmed {present[gname]:g} V, held by the "
                               "current limit): setting the station's compliance could release it; bring it back "
                               "by hand")
    for gname, gate in gates.items():
        if not lab.read_only:
            gate.source.enable()
            # the gate that moves it from now on: its rate counts from here (switching on wrote to the source)
            gate = SafeGate(gate.spec, gate.source)
            after = gate.read()
            if was_on[gname] and abs(after - present[gname]) > gate.source.resolution(present[gname]):
                raise ConnectError(f"{gname}: switching on moved it from {present[gname]:g} V to {after:g} V")
            if gate.source.in_compliance():
                gate.tripped = True
                raise ComplianceError(gname, after, gate.source.compliance_limit_A(), gate.spec.instrument)
        if gname == "bias":
            lab.bias = gate
        else:
            lab.gates[gname] = gate
    # one compliance query per source instrument that has a compliance state
    seen = set()
    for gate in lab.outputs():
        if type(gate.source).in_compliance is not VoltageSource.in_compliance and gate.spec.instrument not in seen:
            seen.add(gate.spec.instrument)
            lab.watched.append(gate)
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
        # the station's limits, checked by the adapter before sending
        lab.magnet.configure(station.magnet.limits_T, station.magnet.rate_T_per_s)
    if station.thermometer and station.thermometer.instrument in lab.instruments:
        lab.thermometer = lab.instruments[station.thermometer.instrument]
        lab.thermometer.configure(station.thermometer.channel, station.thermometer.limits_K)
