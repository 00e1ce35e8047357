"""The pyvisa backend of the simulated lab: pyvisa-sim's library with instruments that compute their replies.

pyvisa-sim parses the lab file's ``devices``/``resources`` (terminations, addresses) and provides sessions; each
parsed device is then bound to the twin (:mod:`qpclab.instruments.sim.twin`) at its address, which answers the
real instrument's command set from the shared :class:`~qpclab.instruments.sim.lab.SimulatedLab`.

Reach it from anything that speaks pyvisa::

    pyvisa.ResourceManager("sim_configs/qpc_lab.yaml@qpcsim")      # plain pyvisa, pymeasure, QCoDeS alike

The class is called ``SimVisaLibrary`` on purpose: QCoDeS recognises a simulated library by that name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pyvisa import constants, errors
from pyvisa.util import LibraryPath
from pyvisa_sim.devices import Device
from pyvisa_sim.highlevel import SimVisaLibrary as _PyVisaSimLibrary

from .binary import BinaryReply
from .bus_timing import BusTiming
from .lab import SimulatedLab
from .twin import ScpiStatusTwin

log = logging.getLogger(__name__)

__all__ = ["SimVisaLibrary", "TwinDevice", "resolve_lab_path", "open_lab"]


def resolve_lab_path(path: str | os.PathLike | None) -> Path:
    """Absolute path of a lab file; a bare or relative name not found here falls back to the packaged one.

    ``""``/``"unset"`` mean the default lab, ``qpc_lab.yaml``.
    """
    from ... import sim_configs

    packaged = Path(sim_configs.__file__).resolve().parent
    if path is None or str(path) in ("", "unset"):
        return packaged / "qpc_lab.yaml"
    p = Path(path).expanduser()
    if p.exists():
        return p.resolve()
    if (packaged / p.name).exists():
        return packaged / p.name
    raise FileNotFoundError(f"simulated lab file {str(path)!r} not found (nor {p.name!r} in {packaged})")


class _Partial(bytearray):
    """A reply cut off in transit (fault injection): handed over without the END indicator."""


class TwinDevice(Device):
    """A pyvisa-sim device whose replies come from a twin (not from YAML dialogues).

    Whole program messages go to the twin (it splits compound ``;`` messages by its own grammar), and a reply
    is handed to the session in one piece, under the lab's lock, so concurrent sessions cannot interleave.
    With bus timing (``timing``), every write and every reply read costs its time on the lab clock, spent after
    the lock is released.
    """

    twin = None
    lab: SimulatedLab
    #: cost of each write and read on this resource's interface; None: instantaneous
    timing: BusTiming | None = None

    def write(self, data: bytes) -> None:
        if not isinstance(data, bytes):
            raise TypeError("data must be an instance of bytes")
        self._write(data)
        if self.timing is not None:
            # one operation per whole message (a serial session writes the termination separately), bytes per call
            eom = self._query_eom
            ends = not self._input_buffer and (not eom or data.endswith(eom))
            self.lab.spend(self.timing.cost_s(len(data)) if ends else self.timing.per_byte_s * len(data))

    def _write(self, data: bytes) -> None:
        lab = self.lab
        with lab.lock:
            eom = self._query_eom
            if not self._input_buffer and eom and data.endswith(eom):
                message = data[: len(data) - len(eom)]  # the usual case: one whole message in one write
            else:
                self._input_buffer.extend(data)
                if eom and not self._input_buffer.endswith(eom):
                    return
                message = bytes(self._input_buffer[: len(self._input_buffer) - len(eom)])
                self._input_buffer = bytearray()
            text = message.decode("ascii", errors="replace").strip()
            if not text:
                return
            twin = self.twin
            if twin is None:
                lab.log_unknown(self.name, text, [])
                return
            if lab.faults.faults:
                self._write_with_faults(twin, text)
                return
            self._disconnected = False
            out = self._output_buffers
            response_eom = self._response_eom
            for reply in twin.handle(text):
                # a binary transfer (BinaryReply) ends with END alone: no terminator
                out.append(bytearray(reply.encode("latin-1", errors="replace")) + (
                    response_eom if reply.__class__ is not BinaryReply else b""))

    def _write_with_faults(self, twin, text: str) -> None:
        """:meth:`write` when faults are configured: they may drop, mangle or cut replies, or fail the link."""
        lab = self.lab
        faults = lab.faults.before(twin.name, text)
        if any(f.kind == "disconnect" for f in faults):
            self._disconnected = True
            raise errors.VisaIOError(constants.StatusCode.error_connection_lost)
        self._disconnected = False
        for reply in twin.handle(text):
            if faults:
                reply = lab.faults.mangle(reply, faults)
                if reply is None:
                    continue
                if any(f.kind == "truncated" for f in faults):
                    # the transfer broke off: part of the reply, no terminator, no END: the client times out
                    self._output_buffers.append(_Partial(reply.encode("latin-1", errors="replace")))
                    continue
            self._output_buffers.append(bytearray(reply.encode("latin-1", errors="replace")) + self._eom_for(reply))
        for f in faults:
            if f.kind == "error":
                twin.push_error(int(f.params.get("code", -350)), str(f.params.get("message", "Queue overflow")))

    def _eom_for(self, reply: str) -> bytes:
        """The response terminator, or nothing after a binary transfer (it ends with END alone)."""
        return b"" if isinstance(reply, BinaryReply) else self._response_eom

    _disconnected = False

    def read(self):
        with self.lab.lock:
            if self._disconnected:
                raise errors.VisaIOError(constants.StatusCode.error_connection_lost)
            if not self._output_buffers:
                return b"", False
            chunk = self._output_buffers.popleft()
        if self.timing is not None:
            self.lab.spend(self.timing.cost_s(len(chunk)))
        return bytes(chunk), not isinstance(chunk, _Partial)

    def clear(self) -> None:
        """Device clear: drop pending input and unread replies."""
        with self.lab.lock:
            self._input_buffer = bytearray()
            self._output_buffers.clear()
            if self.twin is not None:
                self.twin.clear()


class SimVisaLibrary(_PyVisaSimLibrary):
    """pyvisa library for the simulated lab (``...@qpcsim``).

    One instance per lab file (pyvisa caches libraries by path; the path is made absolute first, so
    ``sim_configs/qpc_lab.yaml`` and its absolute form share one lab). :meth:`reset` restores a fresh lab.
    """

    def __new__(cls, library_path=""):
        resolved = str(resolve_lab_path(str(library_path) if library_path != "" else None))
        return super().__new__(cls, LibraryPath(resolved, "user specified"))

    @staticmethod
    def get_library_paths():
        return (LibraryPath(str(resolve_lab_path(None)), "qpclab default lab"),)

    @staticmethod
    def get_debug_info():
        return {"backend": "qpclab simulated lab (pyvisa-sim)"}

    def _init(self) -> None:
        super()._init()  # pyvisa-sim parses devices, resources and terminations
        _LIBRARIES[str(self.library_path)] = self
        self.lab = SimulatedLab(str(self.library_path))
        for resource in self.devices.list_resources():
            device = self.devices[resource]
            device.__class__ = TwinDevice
            device.lab = self.lab
            device.timing = self.lab.bus_timing_of(resource)
            device.twin = self.lab.twins.get(resource)
            if device.twin is None:
                log.warning("%s: resource %s has no instrument in the station section", self.library_path, resource)

    #: instruments that greet a new connection (the AMI 430's two lines) get their greeting queued for the
    #: session if the client reads first; a client that writes first (QCoDeS skips the greeting for a library
    #: called SimVisaLibrary) never sees it
    delivers_greetings = True

    def open(self, session, resource_name, access_mode=constants.AccessModes.no_lock,
             open_timeout=constants.VI_TMO_IMMEDIATE):
        """viOpen; an address with no instrument raises VISA's resource-not-found (VI_ERROR_RSRC_NFOUND)."""
        sess, status = super().open(session, resource_name, access_mode, open_timeout)
        if status == constants.StatusCode.success:
            obj = self.sessions[sess]
            twin = getattr(obj.device, "twin", None)
            if twin is None:  # an address with no instrument behind it
                self.close(sess)
                status = constants.StatusCode.error_resource_not_found
            else:
                obj.qpclab_greeting = twin.greeting()
        if status == constants.StatusCode.error_resource_not_found:
            # as VISA does (pyvisa-sim would hand out session 0, which then answers '' to everything)
            raise errors.VisaIOError(status)
        return sess, status

    def read(self, session, count):
        obj = self.sessions.get(session)
        lines = getattr(obj, "qpclab_greeting", None)
        if lines:
            obj.qpclab_greeting = None
            with self.lab.lock:
                for line in lines:
                    obj.device._output_buffers.append(bytearray(line.encode("ascii")) + obj.device._response_eom)
        return super().read(session, count)

    def write(self, session, data):
        obj = self.sessions.get(session)
        if getattr(obj, "qpclab_greeting", None):
            obj.qpclab_greeting = None
        return super().write(session, data)

    def reset(self) -> None:
        """Fresh lab: instruments at power-on state, outputs at 0 V, logs and histories cleared."""
        with self.lab.lock:
            for resource in self.devices.list_resources():
                self.devices[resource].clear()
            self.lab.reset()

    def clear(self, session):
        """viClear: device clear, which pyvisa-sim does not implement (QCoDeS sends it on connect)."""
        try:
            sess = self.sessions[session]
        except KeyError:
            return constants.StatusCode.error_invalid_object
        sess.device.clear()
        return constants.StatusCode.success

    def read_stb(self, session):
        """Serial poll: the twin's status byte."""
        try:
            sess = self.sessions[session]
        except KeyError:
            return 0, constants.StatusCode.error_invalid_object
        twin = sess.device.twin
        return (twin.status_byte() if isinstance(twin, ScpiStatusTwin) else 0), \
            constants.StatusCode.success


#: strong references: pyvisa keeps libraries only weakly, and a lab must outlive the sessions that come and go
_LIBRARIES: dict[str, SimVisaLibrary] = {}


def open_lab(path: str | os.PathLike | None = None) -> SimulatedLab:
    """The :class:`SimulatedLab` behind ``path`` (the default lab if None), as pyvisa shares it."""
    return SimVisaLibrary(str(resolve_lab_path(path))).lab


def library_string(path: str | os.PathLike | None = None) -> str:
    """The pyvisa library string for a lab file: ``/abs/path/lab.yaml@qpcsim``."""
    return f"{resolve_lab_path(path)}@qpcsim"
