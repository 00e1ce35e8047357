"""The IEEE 488.2 common commands and status model, one for every twin of the lab.

Every driver the registry knows gets its twin, and each twin is driven through its own message handling
(``twin.handle``, what the VISA session calls): the same enable registers, the same read-and-clear event register,
the same summary bits 5 and 6 of the status byte, the same ``*CLS``. Where the manuals differ, the difference is
stated here as the manual's fact, not taken from the twin: the SRS instruments have no operation-complete bit
(their bit 0 is input queue overflow) and accept a bit argument (``*ESE i,x``, ``*ESR? i``); the AMI 430's ``*RST``
is a power cycle that clears the status.
"""

from __future__ import annotations

import pytest

from qpclab.instruments.registry import DRIVERS, twin_class
from qpclab.instruments.sim.lab import SimulatedLab
from qpclab.instruments.sim.twin import ScpiStatusTwin

from conftest import SIM_CONFIGS, ManualClock

#: Stanford Research instruments: standard event bit 0 is INP (input queue overflow), no OPC bit; bit arguments
SRS = {"sr830", "sr860", "sr865", "sr785"}
#: instruments whose *RST is a power cycle (AMI 430 manual: "equivalent to cycling the power"; *PSC 1 default)
RESET_CLEARS_STATUS = {"ami430"}
#: an unknown header in each grammar: a command error, bit 5 of the standard event register on every instrument
UNKNOWN = {"scpi": ":NOT:A:COMMAND 1", "sr": "NOTACMD 1"}
#: the model's methods; no twin may have its own copy of them
MODEL = ("status_byte", "clear_status", "common_commands", "read_clear", "bits_query", "bits_written")


@pytest.fixture(scope="module")
def lab():
    """One lab (magnet and thermometry lab file) on a manual clock; every registered twin is built on it."""
    lab = SimulatedLab(SIM_CONFIGS / "field_lab.yaml", clock=ManualClock())
    lab.reset()
    return lab


def _twin(lab, driver: str) -> ScpiStatusTwin:
    twin = twin_class(driver)(lab, f"status_{driver}")
    assert isinstance(twin, ScpiStatusTwin)
    return twin


def _ask(twin, message: str) -> int:
    (reply,) = twin.handle(message)
    return int(reply)


def _command_error(lab, twin) -> None:
    assert twin.handle(UNKNOWN[twin.grammar]) == []
    assert lab.unknown_commands and lab.unknown_commands[-1][0] == twin.name
    lab.unknown_commands.clear()  # on purpose here


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_twin_answers_the_common_commands_through_the_one_status_model(lab, driver):
    twin = _twin(lab, driver)
    for name in MODEL:
        assert getattr(type(twin), name) is getattr(ScpiStatusTwin, name), f"{driver} has its own {name}"
    idn = twin.handle("*IDN?")[0].upper()
    assert any(model.upper() in idn for model in DRIVERS[driver].models)
    assert _ask(twin, "*ESR?") == 0

    twin.handle("*ESE 48")                      # command and execution errors into the event summary
    twin.handle("*SRE 32")                      # the event summary into the master summary
    assert (_ask(twin, "*ESE?"), _ask(twin, "*SRE?")) == (48, 32)
    assert _ask(twin, "*STB?") & 0b110_0000 == 0
    _command_error(lab, twin)
    assert _ask(twin, "*STB?") & 0b110_0000 == 0b110_0000  # ESB (bit 5) and MSS (bit 6)
    assert _ask(twin, "*ESR?") & 0b10_0000          # command error
    assert _ask(twin, "*ESR?") == 0                 # reading cleared it
    assert _ask(twin, "*STB?") & 0b110_0000 == 0

    _command_error(lab, twin)
    twin.handle("*CLS")
    assert _ask(twin, "*ESR?") == 0
    assert (_ask(twin, "*ESE?"), _ask(twin, "*SRE?")) == (48, 32)  # *CLS keeps the enables

    _command_error(lab, twin)
    twin.handle("*RST")
    kept = driver not in RESET_CLEARS_STATUS
    assert (_ask(twin, "*ESE?"), _ask(twin, "*SRE?")) == ((48, 32) if kept else (0, 0))
    assert bool(_ask(twin, "*ESR?") & 0b10_0000) == kept

    twin.handle("*OPC")
    assert _ask(twin, "*ESR?") == (0 if driver in SRS else 1)  # operation complete, where the manual has it
    assert twin.handle("*OPC?") == ["1"]


@pytest.mark.parametrize("driver", sorted(SRS))
def test_srs_status_registers_take_a_bit_argument(lab, driver):
    twin = _twin(lab, driver)
    twin.handle("*ESE 32")
    twin.handle("*ESE 4,1")                     # set bit 4 only
    assert _ask(twin, "*ESE?") == 48 and _ask(twin, "*ESE? 4") == 1 and _ask(twin, "*ESE? 3") == 0
    twin.handle("*ESE 5,0")                     # clear bit 5 only
    assert _ask(twin, "*ESE?") == 16
    twin.handle("*SRE 5,1")
    assert _ask(twin, "*SRE?") == 32
    _command_error(lab, twin)
    assert _ask(twin, "*STB? 5") == 0           # bit 5 of *ESR is no longer enabled
    twin.handle("*ESE 5,1")
    assert _ask(twin, "*STB? 5") == 1 and _ask(twin, "*STB? 6") == 1
    assert _ask(twin, "*ESR? 5") == 1           # reads bit 5 and clears only it
    assert _ask(twin, "*ESR? 5") == 0
    assert _ask(twin, "*STB? 5") == 0
