"""Hostile or mistaken station files are refused at load, naming file and key, in bounded memory.

Each case edits the default lab file as a user could (one line, or an added section) and loads it; the memory a
load takes is measured with tracemalloc (allocations, not time: no wall-clock assertion).
"""

from __future__ import annotations

import tracemalloc

import pytest

from qpclab.instruments.station import MAX_FILE_BYTES, StationError, load_station

GATE_LINE = "gate: {instrument: gate_smu, limits: [-2.0, 0.3], step: 0.002, rate: 2.0, safe: 0.0}"
#: the memory a refused load may take: a few times the file's own size, nowhere near an expansion
MEMORY_BOUND_B = 20 * MAX_FILE_BYTES

ALIAS_BOMB = """\
  notes:
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def edited(tmp_path, lab_path, old: str | None = None, new: str = "", append: str = "") -> str:
    text = lab_path.read_text()
    if old is not None:
        assert old in text
        text = text.replace(old, new)
    if append:  # a key added to the station section, after its circuit
        text = text.replace("\nsimulation:", "\n" + append + "\nsimulation:")
    path = tmp_path / "station.yaml"
    path.write_text(text)
    return str(path)


def refused(path: str) -> StationError:
    tracemalloc.start()
    try:
        with pytest.raises(StationError) as exc:
            load_station(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND_B
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)
    return exc.value


def test_a_step_finer_than_the_keithley_2400_can_make_is_refused_naming_its_resolution(tmp_path, lab_path):
    err = refused(edited(tmp_path, lab_path, GATE_LINE, GATE_LINE.replace("step: 0.002", "step: 7.0e-6")))
    assert err.key == "station.gates.gate.step"
    # the 2400's 2 V range programs in 50 uV steps (its specification): -2 V is on it
    assert "keithley2400's resolution allows: 5e-05 V at -2 V" in err.problem


def test_a_step_the_instrument_can_make_is_accepted(tmp_path, lab_path):
    station = load_station(edited(tmp_path, lab_path, GATE_LINE, GATE_LINE.replace("step: 0.002", "step: 1.0e-4")))
    assert station.gates["gate"].step == 1e-4


def test_an_alias_bomb_in_the_notes_is_refused(tmp_path, lab_path):
    err = refused(edited(tmp_path, lab_path, append=ALIAS_BOMB))
    assert err.key.startswith("station.notes")
    assert "aliases" in err.problem


def test_deep_nesting_is_refused_without_recursion(tmp_path, lab_path):
    deep = "  notes: " + "[" * 5000 + "]" * 5000
    err = refused(edited(tmp_path, lab_path, append=deep))
    assert err.key == "station.notes" and "nested deeper than" in err.problem


def test_a_file_beyond_the_size_limit_is_refused_unread(tmp_path, lab_path):
    padding = "# " + "x" * 78 + "\n"
    path = tmp_path / "huge.yaml"
    path.write_text(lab_path.read_text() + padding * (50 * 2**20 // len(padding)))  # 50 MB
    err = refused(str(path))
    assert err.key == "<file>" and "bytes" in err.problem


@pytest.mark.parametrize("old, new, key", [
    ("rate: 2.0", "rate: 1.0e-300", "station.gates.gate.rate"),
    ("step: 0.002", "step: 1.0e-300", "station.gates.gate.step"),
    ("step: 0.002", "step: 5.0", "station.gates.gate.step"),  # larger than the span of the limits
    ("limits: [-2.0, 0.3]", "limits: [-1.0e+300, 0.3]", "station.gates.gate.limits[0]"),
])
def test_numbers_that_make_ramps_absurd_are_refused_naming_the_key(tmp_path, lab_path, old, new, key):
    err = refused(edited(tmp_path, lab_path, GATE_LINE, GATE_LINE.replace(old, new)))
    assert err.key == key


def test_an_absurd_timeout_or_compliance_is_refused(tmp_path, lab_path):
    err = refused(edited(tmp_path, lab_path, 'gate_smu: {driver: keithley2400, address: "GPIB0::24::INSTR"}',
                         'gate_smu: {driver: keithley2400, address: "GPIB0::24::INSTR", timeout_s: 1.0e+300}'))
    assert err.key == "station.instruments.gate_smu.timeout_s"
    err = refused(edited(tmp_path, lab_path, "compliance_A: 1.0e-3", "compliance_A: 1.0e+30"))
    assert err.key == "station.bias.compliance_A"
