"""Exclusive access to instruments: one run holds a station, a second is refused naming the holder.

A run takes a lock file per instrument address before it writes anything (:func:`~qpclab.instruments.connect
.connect`) and removes it when the station is closed. The file records who holds the instrument (PID, host,
since when, which address and station); a second client is refused in one line naming them. A lock left by a
process that died on this host (its PID no longer runs) is stale: it is reported and taken over. Locks of
other hosts are never taken over (their PIDs cannot be checked from here).

Where: ``$QPCLAB_LOCK_DIR`` if set, else ``$XDG_CACHE_HOME/qpclab/locks`` (``~/.cache/qpclab/locks``). The
default is per user; several users (or computers sharing a GPIB bus through a network share) point
``QPCLAB_LOCK_DIR`` at one shared folder. VISA's own exclusive lock is taken as well where the resource supports
it (:func:`~qpclab.instruments.visa.lock_exclusive`): it also keeps out programs that are not qpclab.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .roles import InstrumentError

__all__ = ["InstrumentLock", "StationBusyError", "lock_dir", "holder_of"]

log = logging.getLogger(__name__)


class StationBusyError(InstrumentError):
    """Another client holds an instrument of the station: names the holder (PID, host, since when, address)."""


def lock_dir() -> Path:
    """The folder of the lock files (``$QPCLAB_LOCK_DIR``, else a per-user cache folder)."""
    env = os.environ.get("QPCLAB_LOCK_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "qpclab" / "locks"


def _file_name(key: str) -> str:
    """A file name for a lock key (a VISA address, possibly with a simulated lab's path)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")
    return f"{safe[-150:]}-{_hash_key(key):016x}.lock"


def _hash_key(key: str) -> int:
    """A stable hash of the key (Python's ``hash`` differs between processes)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    since: float  #: epoch seconds
    address: str
    instrument: str = ""
    station: str = ""

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        who = f" ({self.instrument} of {self.station})" if self.instrument else ""
        return f"{self.address}{who} is held by PID {self.pid} on host {self.host} since {since}"

    def alive(self) -> bool:
        """False only if the holder is on this host and its PID runs no more."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's running process
            return True
        return True


def holder_of(path: Path) -> Holder | None:
    """Who holds a lock file (None if it cannot be read: a lock being written, or garbage)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), float(data["since"]), str(data["address"]),
                      str(data.get("instrument", "")), str(data.get("station", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class InstrumentLock:
    """The lock file of one instrument address. :meth:`acquire` or :class:`StationBusyError`; :meth:`release`."""

    def __init__(self, key: str, address: str, instrument: str = "", station: str = ""):
        self.key = key
        self.address = address
        self.instrument = instrument
        self.station = station
        self.path = lock_dir() / _file_name(key)
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "address": self.address,
              "instrument": self.instrument, "station": self.station}
        for _ in range(3):  # a stale lock is taken over: try again after removing it
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = holder_of(self.path)
                if holder is None:  # being written this instant, or unreadable: treat as held
                    raise StationBusyError(f"{self.address} ({self.instrument}) is locked by {self.path}, which "
                                           "cannot be read; remove it if no run is using the station") from None
                if holder.alive():
                    raise StationBusyError(f"{holder.describe()}; refusing to connect (a second client would "
                                           "move its outputs too)") from None
                log.warning("stale lock: %s, but that process is gone; taking it over", holder.describe())
                if holder_of(self.path) == holder:  # not taken over by another client meanwhile
                    try:
                        self.path.unlink()
                    except FileNotFoundError:
                        pass
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(me, f)
            self.held = True
            return
        raise StationBusyError(f"{self.address}: could not take the lock {self.path}")

    def release(self) -> None:
        """Remove the lock file if this process holds it (never another's)."""
        if not self.held:
            return
        self.held = False
        holder = holder_of(self.path)
        if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def busy(self) -> Holder | None:
        """The live holder of this address, if any (for read-only clients, which take no lock)."""
        holder = holder_of(self.path) if self.path.exists() else None
        return holder if holder is not None and holder.alive() else None
