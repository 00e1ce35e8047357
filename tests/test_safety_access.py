"""One station, one run: a second client is refused naming the holder; a dead holder's lock is taken over.

The holder is another process (a second terminal) that connects to the default simulated station and waits.
This process is the second client: it is refused before it opens anything, so its simulator's history (of every
output) does not change. Each process has its own simulator; the lock files are what they share.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from qpclab.instruments.connect import connect
from qpclab.instruments.locks import InstrumentLock, StationBusyError, holder_of, lock_dir
from qpclab.instruments.station import load_station

HOLDER = textwrap.dedent("""\
    import sys
    from qpclab.instruments.connect import connect
    from qpclab.instruments.station import load_station
    lab = connect(load_station(sys.argv[1]))
    lab.gates["gate"].ramp_to(-0.01)
    print("holding", flush=True)
    sys.stdin.readline()  # until told to go (or killed)
    lab.gates["gate"].go_safe()
    lab.close()
    print("released", flush=True)
    """)


@pytest.fixture
def locks(tmp_path, monkeypatch):
    monkeypatch.setenv("QPCLAB_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path / "locks"


def start_holder(lab_path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lab_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    line = proc.stdout.readline()
    assert line.strip() == "holding", proc.stderr.read()
    return proc


def test_a_second_run_is_refused_naming_the_holder(locks, lab_path, sim_lab):
    holder = start_holder(lab_path)
    history = {k: list(v) for k, v in sim_lab.history.items()}
    try:
        with pytest.raises(StationBusyError) as exc:
            connect(load_station(lab_path))
        message = str(exc.value)
        assert f"is held by PID {holder.pid} on host {socket.gethostname()} since " in message
        assert message.startswith("GPIB0::24::INSTR (gate_smu of simulated GaAs split-gate QPC)")
        assert "\n" not in message
        assert {k: list(v) for k, v in sim_lab.history.items()} == history  # the second client wrote nothing
        with pytest.raises(StationBusyError, match="read-only client waits"):
            connect(load_station(lab_path), read_only=True)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert holder.wait(timeout=60) == 0
        assert not list(locks.glob("*.lock"))  # released on close
        lab = connect(load_station(lab_path))  # now it is free
        lab.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_dead_holders_lock_is_reported_and_taken_over(locks, lab_path, sim_lab, caplog):
    holder = start_holder(lab_path)
    holder.send_signal(signal.SIGKILL)  # a crash: no chance to release
    holder.wait()
    stale = [holder_of(p) for p in locks.glob("*.lock")]
    assert stale and all(h.pid == holder.pid for h in stale)
    lab = connect(load_station(lab_path))
    try:
        assert f"stale lock: GPIB0::24::INSTR (gate_smu of simulated GaAs split-gate QPC) is held by PID " \
               f"{holder.pid}" in caplog.text
        assert {holder_of(p).pid for p in locks.glob("*.lock")} == {os.getpid()}
    finally:
        lab.close()
    assert not list(locks.glob("*.lock"))


def test_a_lock_of_another_host_is_never_taken_over(locks):
    lock = InstrumentLock("GPIB0::1::INSTR", "GPIB0::1::INSTR", "src", "st")
    lock_dir().mkdir(parents=True)
    lock.path.write_text('{"pid": 1, "host": "fridge-pc-elsewhere", "since": 0, "address": "GPIB0::1::INSTR"}')
    with pytest.raises(StationBusyError, match="PID 1 on host fridge-pc-elsewhere since 1970-01-01 00:00:00 UTC"):
        lock.acquire()
    lock.release()  # not ours: stays
    assert lock.path.exists()
