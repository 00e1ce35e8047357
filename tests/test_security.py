"""No network listener unless asked for; station files never execute code."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml


def listening_sockets(pid: int) -> list[str]:
    """Local addresses of TCP/UDP sockets in LISTEN state (or bound UDP) owned by process ``pid`` (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            listening = state == "0A" if table.startswith("tcp") else state == "07"
            if inode in inodes and listening:
                found.append(f"{table} {local}")
    return found


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_qpclab_run_opens_no_listening_socket(tmp_path):
    data = tmp_path / "run.csv"
    proc = subprocess.Popen([sys.executable, "-m", "qpclab", "run", "staircase", "--start", "-1.4", "--stop", "0.0",
                             "--step", "0.002", "--time-constant", "0.003", "--quiet", "--data", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (data.exists() and data.stat().st_size > 2000):
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        for _ in range(10):  # look several times while it measures
            seen += listening_sockets(proc.pid)
            time.sleep(0.05)
        assert seen == []
    finally:
        proc.kill()
        proc.wait()


def test_listening_socket_probe_sees_a_real_listener():
    # the probe above must be able to fail: a socket listening on loopback is found
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        assert any(":" in a for a in listening_sockets(os.getpid()))
    finally:
        s.close()


def test_station_files_are_loaded_without_executing_code(tmp_path):
    from qpclab.instruments.station import StationError, load_station

    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.yaml"
    bad.write_text(f"station: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(StationError):
        load_station(bad)
    assert not marker.exists()
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(bad.read_text())


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("name", ["staircase", "bias-map"])
def test_default_gui_window_opens_no_listening_socket(name):
    pytest.importorskip("pyqtgraph")
    from pyqtgraph.Qt import QtWidgets

    from qpclab.gui import build_window

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    before = set(listening_sockets(os.getpid()))
    window = build_window(name)
    window.show()
    app.processEvents()
    try:
        assert set(listening_sockets(os.getpid())) - before == set()
    finally:
        window.close()
        app.processEvents()
