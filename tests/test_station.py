"""Station files: a valid one loads with every section; each kind of broken one gets its own clear message naming
the file, the key and the problem, before any instrument is opened.

The broken files are made from one valid station (written out as YAML, then spoiled one way each, by editing the
data or the text). While they load, every way of opening an instrument (pyvisa's ResourceManager, the simulated
VISA library, the registry's adapter factories, connect()) fails the test if touched; each broken file is also
given to a run, which must stop at the station.
"""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from qpclab.instruments.station import StationError, default_station_path, load_station

VALID = {
    "station": {
        "name": "test station",
        "visa_library": "@py",
        "instruments": {
            "dac": {"driver": "qdac2", "address": "TCPIP0::127.0.0.1::5025::SOCKET"},
            "bias_smu": {"driver": "keithley2400", "address": "GPIB0::25::INSTR"},
            "lockin": {"driver": "sr830", "address": "GPIB0::8::INSTR"},
            "supply": {"driver": "ami430", "address": "TCPIP0::127.0.0.2::7180::SOCKET"},
            "bridge": {"driver": "lakeshore372", "address": "GPIB0::12::INSTR"},
            "analyser": {"driver": "sr785", "address": "GPIB0::10::INSTR"},
        },
        "gates": {
            "gate_left": {"instrument": "dac", "channel": 1, "limits": [-2.0, 0.3], "step": 0.002, "rate": 0.5,
                          "safe": 0.0},
            "gate_right": {"instrument": "dac", "channel": 2, "limits": [-2.0, 0.3], "step": 0.002, "rate": 0.5,
                           "safe": 0.0, "end": -0.1},
        },
        "bias": {"instrument": "bias_smu", "limits": [-1.0, 1.0], "step": 0.01, "rate": 1.0, "safe": 0.0,
                 "compliance_A": 1e-6},
        "virtual_gates": {"split": {"gate_left": 1.0, "gate_right": 1.0},
                          "asym": {"gate_left": 0.5, "gate_right": -0.5}},
        "lockin": {"instrument": "lockin"},
        "noise_analyser": {"instrument": "analyser"},
        "magnet": {"instrument": "supply", "limits_T": [-9.0, 9.0], "rate_T_per_s": 0.01},
        "thermometer": {"instrument": "bridge", "channel": 6, "limits_K": [0.01, 4.0]},
        "circuit": {"excitation_divider": 1e-4, "bias_divider": 1e-3, "series_resistance_ohm": 1500.0,
                    "preamp_gain_V_per_A": 1e8, "noise_amplifier_gain": 1000.0},
    }
}


def _set(path: str, value):
    """Edit of the data: set ``station.a.b`` (dotted) to ``value``."""
    def edit(data):
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[p]
        node[last] = value
    return edit


def _del(path: str):
    def edit(data):
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[p]
        del node[last]
    return edit


def _text(old: str, new: str):
    """Edit of the text: replace ``old`` (must occur) by ``new``."""
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    edit.on_text = True
    return edit


def _raw(text: str):
    def edit(_: str) -> str:
        return text
    edit.on_text = True
    return edit


G = "station.gates.gate_left"
# (case id, edit, key named in the error, words the problem must contain)
CASES = [
    ("unknown section", _set("station.gatez", {}), "station", "unknown key(s) ['gatez']"),
    ("unknown gate key", _set(f"{G}.limit", [0, 1]), G, "unknown key(s) ['limit']"),
    ("unknown instrument key", _set("station.instruments.dac.adress", "x"), "station.instruments.dac",
     "unknown key(s) ['adress']"),
    ("unknown driver", _set("station.instruments.bias_smu.driver", "keithley2401"),
     "station.instruments.bias_smu.driver", "unknown driver 'keithley2401'"),
    ("missing driver", _del("station.instruments.bias_smu.driver"), "station.instruments.bias_smu.driver",
     "missing: name the driver"),
    ("missing address", _del("station.instruments.lockin.address"), "station.instruments.lockin.address",
     "missing: give the VISA address"),
    ("address not text", _set("station.instruments.lockin.address", 8), "station.instruments.lockin.address",
     "8 is not a VISA address"),
    ("duplicate address", _set("station.instruments.lockin.address", "GPIB0::25::INSTR"),
     "station.instruments.lockin.address", "GPIB0::25::INSTR is already used by 'bias_smu'"),
    ("no instruments", _set("station.instruments", {}), "station.instruments", "missing or empty"),
    ("inverted limits", _set(f"{G}.limits", [0.3, -2.0]), f"{G}.limits",
     "low limit 0.3 V must be below high limit -2 V"),
    ("limits not a pair", _set(f"{G}.limits", [-2.0]), f"{G}.limits", "expected [low, high] in V"),
    ("zero step", _set(f"{G}.step", 0), f"{G}.step", "0 must be greater than zero"),
    ("negative rate", _set(f"{G}.rate", -0.5), f"{G}.rate", "-0.5 must be greater than zero"),
    ("NaN step", _text("step: 0.002", "step: .nan"), f"{G}.step", "nan is not finite"),
    ("NaN written as text", _set(f"{G}.safe", "nan"), f"{G}.safe", "'nan' is not finite"),
    ("infinite limit", _set(f"{G}.limits", [-2.0, float("inf")]), f"{G}.limits[1]", "inf is not finite"),
    ("unit typo in a step", _set(f"{G}.step", "0.5 V"), f"{G}.step", "'0.5 V' carries a unit ('V')"),
    ("unit typo in a rate", _set(f"{G}.rate", "2V/s"), f"{G}.rate", "'2V/s' carries a unit ('V/s')"),
    ("not a number", _set(f"{G}.step", "small"), f"{G}.step", "'small' is not a number"),
    ("boolean for a number", _set(f"{G}.safe", True), f"{G}.safe", "True is not a number"),
    ("missing step", _del(f"{G}.step"), f"{G}.step", "missing"),
    ("safe outside limits", _set(f"{G}.safe", 0.5), f"{G}.safe", "0.5 V is outside the limits [-2, 0.3] V"),
    ("end outside limits", _set(f"{G}.end", -3.0), f"{G}.end", "-3 V is outside the limits [-2, 0.3] V"),
    ("unknown gate instrument", _set(f"{G}.instrument", "dac2"), f"{G}.instrument",
     "'dac2' is not one of the station's instruments"),
    ("gate on a lock-in", _set(f"{G}.instrument", "lockin"), f"{G}.instrument",
     "'lockin' is a lockin, not a voltage source"),
    ("channel not a number", _set(f"{G}.channel", "one"), f"{G}.channel", "'one' is not a channel number"),
    ("channel beyond the DAC", _set(f"{G}.channel", 25), f"{G}.channel", "has channels 1 to 24; there is no channel 25"),
    ("channel on a single-output source", _set("station.bias.channel", 2), "station.bias.channel",
     "has a single output (channel 1); there is no channel 2"),
    ("two gates on one channel", _set("station.gates.gate_right.channel", 1), "station.gates.gate_right",
     "channel 1 already drives 'gate_left'"),
    ("bias among the gates", _set("station.gates.bias", {}), "station.gates.bias", "'bias' is reserved"),
    ("negative compliance", _set("station.bias.compliance_A", -1e-6), "station.bias.compliance_A",
     "must be greater than zero"),
    ("negative timeout", _set("station.instruments.dac.timeout_s", -1), "station.instruments.dac.timeout_s",
     "must be greater than zero"),
    ("visa library not text", _set("station.visa_library", 5), "station.visa_library", "5 is not a string"),
    ("lock-in without instrument", _set("station.lockin", {}), "station.lockin.instrument",
     "missing: name the lockin among the station's instruments"),
    ("lock-in is a source", _set("station.lockin.instrument", "bias_smu"), "station.lockin.instrument",
     "'bias_smu' is a source, not a lockin"),
    ("magnet inverted limits", _set("station.magnet.limits_T", [9, -9]), "station.magnet.limits_T",
     "low limit 9 T must be below high limit -9 T"),
    ("magnet zero rate", _set("station.magnet.rate_T_per_s", 0), "station.magnet.rate_T_per_s",
     "must be greater than zero"),
    ("magnet on a lock-in", _set("station.magnet.instrument", "lockin"), "station.magnet.instrument",
     "'lockin' is a lockin, not a magnet"),
    ("magnet without limits", _del("station.magnet.limits_T"), "station.magnet.limits_T", "missing"),
    ("thermometer below absolute zero", _set("station.thermometer.limits_K", [-1, 4]), "station.thermometer.limits_K",
     "-1 K is below absolute zero"),
    ("thermometer on the DAC", _set("station.thermometer.instrument", "dac"), "station.thermometer.instrument",
     "'dac' is a source, not a thermometer"),
    ("circuit key typo", _set("station.circuit.preamp_gain", 1e8), "station.circuit",
     "unknown key(s) ['preamp_gain']"),
    ("circuit negative", _set("station.circuit.excitation_divider", -1e-4), "station.circuit.excitation_divider",
     "must be positive"),
    ("circuit not a number", _set("station.circuit.preamp_gain_V_per_A", "1e8 V/A"),
     "station.circuit.preamp_gain_V_per_A", "is not a number"),
    ("circuit NaN", _text("excitation_divider: 0.0001", "excitation_divider: .nan"),
     "station.circuit.excitation_divider", "is not finite"),
    ("virtual gate on an unknown gate", _set("station.virtual_gates.split.gate_middle", 1.0),
     "station.virtual_gates.split.gate_middle", "'gate_middle' is not one of the station's gates"),
    ("virtual gate coefficient zero", _set("station.virtual_gates.split.gate_left", 0),
     "station.virtual_gates.split.gate_left", "coefficient 0: leave the gate out"),
    ("virtual gate coefficient NaN", _set("station.virtual_gates.asym.gate_right", float("nan")),
     "station.virtual_gates.asym.gate_right", "nan is not finite"),
    ("virtual gate named like a gate", _set("station.virtual_gates.gate_left", {"gate_right": 1.0}),
     "station.virtual_gates.gate_left", "is already a physical output"),
    ("virtual gate empty", _set("station.virtual_gates.split", {}), "station.virtual_gates.split", "empty"),
    ("section not a mapping", _set("station.gates", ["gate_left"]), "station.gates",
     "expected a mapping (key: value lines), got list"),
    ("no station section", _raw("spec: '1.1'\n"), "station", "the file has no 'station:' section"),
    ("file not a mapping", _raw("- gate\n- lockin\n"), "<top>", "the file is not a YAML mapping"),
    ("YAML syntax error", _text("name: test station", "name: [test station"), "<yaml>", "not valid YAML"),
    ("python object tag", _text("name: test station", "name: !!python/object/apply:os.system ['echo hi']"),
     "<yaml>", "refused tag"),
    ("key given twice", _text("  gates:\n", "  gates: {}\n  gates:\n"), "<yaml>", "key 'gates' given twice"),
]


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _write(tmp_path, case_id, edit) -> str:
    if getattr(edit, "on_text", False):
        text = edit(_dump(VALID))
    else:
        data = copy.deepcopy(VALID)
        edit(data)
        text = _dump(data)
    path = tmp_path / (case_id.replace(" ", "_") + ".yaml")
    path.write_text(text)
    return path


@pytest.fixture
def nothing_opens(monkeypatch):
    """Fail the test if anything tries to open an instrument."""
    import pyvisa
    import pyvisa.highlevel

    from qpclab.instruments import connect as connect_module
    from qpclab.instruments import registry
    from qpclab.instruments.sim import backend
    from qpclab.procedures import executor

    def refuse(*a, **k):
        raise AssertionError(f"an instrument was opened: {a} {k}")

    monkeypatch.setattr(pyvisa, "ResourceManager", refuse)
    monkeypatch.setattr(pyvisa.highlevel, "ResourceManager", refuse)
    monkeypatch.setattr(backend.SimVisaLibrary, "_init", refuse)
    monkeypatch.setattr(registry, "adapter_factory", refuse)
    monkeypatch.setattr(connect_module, "adapter_factory", refuse)
    monkeypatch.setattr(executor, "connect", refuse)


def test_valid_station_loads_every_section(tmp_path, nothing_opens):
    path = tmp_path / "valid.yaml"
    path.write_text(_dump(VALID))
    st = load_station(path)
    assert sorted(st.gates) == ["gate_left", "gate_right"] and st.bias.compliance_A == 1e-6
    assert st.gates["gate_right"].end == -0.1 and st.gates["gate_left"].end == 0.0  # end defaults to safe
    assert st.instruments["dac"].role == "source" and st.instruments["supply"].role == "magnet"
    assert st.magnet.limits_T == (-9.0, 9.0) and st.thermometer.channel == 6
    assert st.noise_analyser == "analyser" and st.lockin == "lockin"
    assert st.virtual_gates["asym"].coefficients == {"gate_left": 0.5, "gate_right": -0.5}
    assert st.circuit.preamp_gain_V_per_A == 1e8 and st.circuit.excitation_divider == 1e-4
    assert st.as_dict()["gates"]["gate_left"]["limits"] == [-2.0, 0.3]


def test_numbers_written_as_yaml_1_1_strings_are_read():
    # YAML 1.1 reads "1e-3" (no dot) as text; the station accepts it as the number it means
    from qpclab.instruments.station import parse_station

    data = copy.deepcopy(VALID)
    data["station"]["gates"]["gate_left"]["step"] = "1e-3"
    assert parse_station(data, "x.yaml").gates["gate_left"].step == 1e-3


def test_packaged_stations_load():
    st = load_station()  # what `qpclab demo` uses
    assert st.path == default_station_path() and "gate" in st.gates and st.lockin
    qdac = default_station_path().with_name("qdac_lab.yaml")
    if qdac.exists():
        assert {"gate_left", "gate_right"} <= set(load_station(qdac).gates)


@pytest.mark.parametrize("case_id, edit, key, problem", CASES, ids=[c[0] for c in CASES])
def test_broken_station_file_gets_a_clear_error_before_anything_opens(tmp_path, nothing_opens, case_id, edit, key,
                                                                       problem):
    path = _write(tmp_path, case_id, edit)
    with pytest.raises(StationError) as info:
        load_station(path)
    err = info.value
    assert err.key == key, str(err)
    assert problem in err.problem, str(err)
    assert str(err).startswith(f"{path.resolve() if err.path != str(path) else path}: {key}: ")
    assert str(path.name) in str(err)
    # a run given this station stops at the station, before connecting
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    proc = Staircase()
    proc.station_file = str(path)
    with pytest.raises(StationError):
        run_procedure(proc, tmp_path / "never.csv", progress=False)
    assert not (tmp_path / "never.csv").exists()


def test_every_kind_of_broken_file_has_its_own_message(tmp_path, nothing_opens):
    assert len(CASES) >= 20
    messages = {}
    for case_id, edit, _, _ in CASES:
        with pytest.raises(StationError) as info:
            load_station(_write(tmp_path, case_id, edit))
        messages[case_id] = f"{info.value.key}: {info.value.problem}"
    assert len(set(messages.values())) == len(CASES), messages


def test_missing_and_unreadable_files(tmp_path, nothing_opens):
    with pytest.raises(StationError, match=r"nope\.yaml: <file>: no such file"):
        load_station(tmp_path / "nope.yaml")
    with pytest.raises(StationError, match="<file>: cannot be read"):
        load_station(tmp_path)  # a directory


def test_python_tag_is_refused_and_never_runs(tmp_path, nothing_opens, monkeypatch):
    import os

    ran = []
    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    path = _write(tmp_path, "tag", _text("name: test station", "name: !!python/object/apply:os.system ['echo hi']"))
    with pytest.raises(StationError, match="refused tag.*python/object/apply:os.system"):
        load_station(path)
    assert ran == []


def test_yaml_errors_name_the_line(tmp_path):
    path = _write(tmp_path, "twice", _text("  gates:\n", "  gates: {}\n  gates:\n"))
    text = path.read_text().splitlines()
    second = [i for i, line in enumerate(text, 1) if line.startswith("  gates:")][1]
    with pytest.raises(StationError, match=rf"first on line {second - 1}\).*line {second}\b"):
        load_station(path)


def test_output_check_refuses_non_finite_and_out_of_range_values():
    st = load_station()
    gate = st.gates["gate"]
    gate.check(-1.0)
    for bad in (0.31, -2.01, math.nan, math.inf):
        with pytest.raises(ValueError, match="gate"):
            gate.check(bad)
