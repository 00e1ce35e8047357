"""Connecting never moves an output, and refuses a station that does not match the instruments.

Another program (or a previous run) leaves the simulated sources at some level through a bare pyvisa session;
then qpclab connects. The simulator's history of every output and the messages each twin received are the
witness: a refused connect sends no setting at all, a successful one leaves every level where it was.
"""

from __future__ import annotations

import pyvisa
import pytest
import yaml

from qpclab.instruments.connect import ConnectError, connect
from qpclab.instruments.gates import GateLimitError
from qpclab.instruments.locks import lock_dir
from qpclab.instruments.roles import InstrumentError
from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.station import load_station, parse_station

GATE, BIAS, LOCKIN = "GPIB0::24::INSTR", "GPIB0::25::INSTR", "GPIB0::8::INSTR"


@pytest.fixture
def lab(tmp_path, lab_path, monkeypatch):
    """A copy of the default lab (its own simulator), every twin recording the messages it receives."""
    monkeypatch.setenv("QPCLAB_LOCK_DIR", str(tmp_path / "locks"))
    path = tmp_path / "lab.yaml"
    path.write_text(lab_path.read_text())
    lib = SimVisaLibrary(str(path))
    lib.reset()
    for twin in lib.lab.twins_by_name.values():
        twin.record_history = True
    yield path, lib
    lib.lab.assert_no_unknown_commands()


def leave(lib, address: str, message: str) -> None:
    """Another program sets an instrument (a bare pyvisa session), then lets go."""
    rm = pyvisa.ResourceManager(f"{lib.library_path}@qpcsim")
    res = rm.open_resource(address, read_termination="\n", write_termination="\n")
    res.write(message)
    res.close()


def sent_since(lib, marks) -> dict[str, list[str]]:
    return {n: [m for _, m in t.history[marks[n]:]] for n, t in lib.lab.twins_by_name.items()}


def marks(lib) -> dict[str, int]:
    return {n: len(t.history) for n, t in lib.lab.twins_by_name.items()}


#: what pymeasure's unmodified Keithley2400 sends when the driver object is made: the reading format, no output
#: setting
DRIVER_CONSTRUCTOR = {":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS"}


def only_queries(messages: dict[str, list[str]]) -> bool:
    """Nothing but queries (and the driver's constructor) reached any instrument: no setting at all."""
    return all(part.strip().endswith("?") or m in DRIVER_CONSTRUCTOR
               for ms in messages.values() for m in ms for part in m.split(";"))


def test_a_bias_left_beyond_its_limits_is_refused_before_any_write(lab):
    path, lib = lab
    leave(lib, BIAS, ":SOUR:FUNC VOLT;:SOUR:VOLT 4.5;:OUTP ON")  # limits [-4, 4] V; its clamp holds 1.05 V
    history = {k: list(v) for k, v in lib.lab.history.items()}
    before = marks(lib)
    with pytest.raises(GateLimitError) as exc:
        connect(load_station(path))
    assert str(exc.value).startswith("bias: present value 4.5 V is outside its limits [-4, 4] V")
    assert "\n" not in str(exc.value)
    assert {k: list(v) for k, v in lib.lab.history.items()} == history  # no output moved
    assert only_queries(sent_since(lib, before))  # not a single setting was sent
    assert not list(lock_dir().glob("*.lock"))  # the refused connect released its locks


def test_a_clamped_output_is_refused_rather_than_released(lab):
    """1.5 V programmed into the bias divider's 10 kOhm at the power-on limit of 105 uA: the output is held at
    1.05 V. Setting the station's 1 mA compliance would release it to 1.5 V: refused, nothing sent."""
    path, lib = lab
    leave(lib, BIAS, ":SOUR:FUNC VOLT;:SOUR:VOLT 1.5;:OUTP ON")
    held = lib.lab.history["bias"][-1][1]
    assert held == pytest.approx(1.05)  # the simulator clamps, as the instrument does
    before = marks(lib)
    with pytest.raises(ConnectError, match="bias: in compliance at connect"):
        connect(load_station(path))
    assert lib.lab.history["bias"][-1][1] == held
    assert only_queries(sent_since(lib, before))


def test_connecting_leaves_every_level_where_it_was(lab):
    path, lib = lab
    leave(lib, GATE, ":SOUR:FUNC VOLT;:SOUR:VOLT -0.437;:OUTP ON")
    leave(lib, BIAS, ":SOUR:FUNC VOLT;:SOUR:VOLT 0.25;:OUTP ON")
    preset = {"gate": -0.437, "bias": 0.25}
    start = {k: len(lib.lab.history[k]) for k in preset}
    assert {k: lib.lab.history[k][-1][1] for k in preset} == preset
    station = load_station(path)
    lab_ = connect(station)
    try:
        for name, value in preset.items():  # whatever connect wrote (compliance, output on), the level stayed
            assert all(v == value for _, v in list(lib.lab.history[name])[start[name]:])
        assert lab_.gates["gate"].read() == preset["gate"] and lab_.bias.read() == preset["bias"]
    finally:
        lab_.close()


def test_a_wrong_address_is_refused_in_one_line(lab, tmp_path):
    path, lib = lab
    data = yaml.safe_load(path.read_text())
    data["station"]["visa_library"] = f"{lib.library_path}@qpcsim"
    data["station"]["instruments"]["lockin"]["address"] = "GPIB0::9::INSTR"  # nothing there
    station = parse_station(data, tmp_path / "station.yaml")
    before = marks(lib)
    with pytest.raises(ConnectError) as exc:
        connect(station)
    assert str(exc.value) == ("lockin: no instrument at GPIB0::9::INSTR (VISA: resource not found); check "
                              "station.instruments.lockin.address")
    assert only_queries(sent_since(lib, before))
    assert not list(lock_dir().glob("*.lock"))


def test_a_wrong_model_at_an_address_is_refused_in_one_line(lab, tmp_path):
    path, lib = lab
    data = yaml.safe_load(path.read_text())
    data["station"]["visa_library"] = f"{lib.library_path}@qpcsim"
    data["station"]["instruments"]["lockin"]["address"] = BIAS  # a Keithley 2400 where the SR830 should be
    data["station"]["instruments"]["bias_smu"]["address"] = LOCKIN
    station = parse_station(data, tmp_path / "station.yaml")
    history = {k: list(v) for k, v in lib.lab.history.items()}
    before = marks(lib)
    with pytest.raises(ConnectError) as exc:
        connect(station)
    message = str(exc.value)
    assert message.startswith("bias_smu: GPIB0::8::INSTR answers *IDN? with 'Stanford_Research_Systems,SR830")
    assert "not a Keithley 2400" in message and "\n" not in message
    assert only_queries(sent_since(lib, before))
    assert {k: list(v) for k, v in lib.lab.history.items()} == history
    # the Keithley driver object, made before the question, sent its reading format to the lock-in: the one
    # message qpclab cannot hold back (an unmodified pymeasure driver); the SR830 does not know it
    assert [(i, h) for i, h, _ in lib.lab.unknown_commands] == [("lockin", next(iter(DRIVER_CONSTRUCTOR)))]
    lib.lab.unknown_commands.clear()


def test_a_read_only_client_never_writes(lab):
    path, lib = lab
    before = marks(lib)
    history = {k: list(v) for k, v in lib.lab.history.items()}
    monitor = connect(load_station(path), read_only=True)
    try:
        assert not list(lock_dir().glob("*.lock"))  # takes no lock
        gate = monitor.gates["gate"]
        assert gate.read() == 0.0
        with pytest.raises(InstrumentError, match="read-only"):
            gate.ramp_to(-0.01)
    finally:
        monitor.close()
    assert only_queries(sent_since(lib, before))
    assert {k: list(v) for k, v in lib.lab.history.items()} == history


def test_a_wrong_address_from_the_command_line_is_one_line_and_leaves_no_file(tmp_path, capsys):
    from qpclab.cli import main
    from qpclab.instruments.station import default_station_path

    data = yaml.safe_load(default_station_path().read_text())
    data["station"]["instruments"]["lockin"]["address"] = "GPIB0::9::INSTR"  # nothing there
    says = "no instrument at GPIB0::9::INSTR"
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    run = tmp_path / "run.csv"
    code = main(["run", "staircase", "--station", str(path), "--data", str(run), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and says in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not run.exists()  # no stub file
