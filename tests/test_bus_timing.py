"""Bus timing of the simulated lab (simulation.bus_timing): parsing, the interface of a resource, the time each VISA
write and read costs on the lab clock (a manual clock here: no wall-clock assertions), zero in every existing lab."""

import pytest
import pyvisa
import yaml

from qpclab.instruments.sim.backend import SimVisaLibrary
from qpclab.instruments.sim.bus_timing import TYPICAL, BusTiming, interface_of, parse_bus_timing
from qpclab.instruments.sim.lab import SimulatedLab

from conftest import ROOT, SIM_CONFIGS, ManualClock

GATE, LOCKIN = "GPIB0::24::INSTR", "GPIB0::8::INSTR"
PER_OP, PER_BYTE = 1.0e-3, 1.0e-5


def test_parse_bus_timing():
    assert all(t == BusTiming() for t in parse_bus_timing(None).values())
    assert parse_bus_timing("typical") == TYPICAL
    mixed = parse_bus_timing({"GPIB": "typical", "TCPIP": {"per_operation_s": 2e-4}})
    assert mixed["GPIB"] == TYPICAL["GPIB"] and mixed["TCPIP"] == BusTiming(2e-4, 0.0)
    assert mixed["USB"].is_zero and mixed["ASRL"].is_zero
    assert BusTiming(1e-3, 2e-6).cost_s(10) == pytest.approx(1e-3 + 2e-5, rel=1e-15)
    # the typical serial figure is 10 bits per character at 9600 baud
    assert TYPICAL["ASRL"].per_byte_s == pytest.approx(1.0 / 960.0, rel=1e-12)
    for bad, word in (({"PXI": "typical"}, "PXI"), ({"GPIB": {"per_op": 1}}, "GPIB"),
                      ({"GPIB": {"per_byte_s": -1}}, "per_byte_s"), ({"USB": {"per_operation_s": "x"}}, "USB"),
                      ("fast", "typical")):
        with pytest.raises(ValueError, match=word):
            parse_bus_timing(bad)


def test_interface_of_a_resource_name():
    assert interface_of("GPIB0::8::INSTR") == "GPIB"
    assert interface_of("TCPIP0::192.168.1.5::inst0::INSTR") == "TCPIP"
    assert interface_of("TCPIP::10.0.0.2::5025::SOCKET") == "TCPIP"
    assert interface_of("USB0::0x0957::0x1796::MY123::INSTR") == "USB"
    assert interface_of("ASRL1::INSTR") == "ASRL"
    with pytest.raises(ValueError, match="PXI0"):
        interface_of("PXI0::1::INSTR")


def test_every_existing_lab_is_instantaneous():
    labs = sorted(SIM_CONFIGS.glob("*_lab.yaml")) + [ROOT / "benchmarks" / "bench_lab.yaml"]
    assert len(labs) >= 7
    for path in labs:
        lab = SimulatedLab(path)
        assert all(lab.bus_timing_of(inst.address) is None for inst in lab.station.instruments.values()), path
    gpib = SimulatedLab(ROOT / "benchmarks" / "gpib_lab.yaml")
    assert gpib.bus_timing_of(LOCKIN) == TYPICAL["GPIB"]


@pytest.fixture
def timed_library(tmp_path):
    """The default lab with GPIB timing of 1 ms per operation and 10 us per byte, on a manual clock."""
    data = yaml.safe_load((SIM_CONFIGS / "qpc_lab.yaml").read_text())
    data["simulation"]["bus_timing"] = {"GPIB": {"per_operation_s": PER_OP, "per_byte_s": PER_BYTE}}
    path = tmp_path / "timed_lab.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    lib = SimVisaLibrary(str(path))
    clock = ManualClock()
    lib.lab.clock = clock
    lib.reset()
    yield lib, clock
    lib.lab.assert_no_unknown_commands()


def test_each_write_and_read_costs_its_time_on_the_lab_clock(timed_library):
    lib, clock = timed_library
    rm = pyvisa.ResourceManager(f"{lib.library_path}@qpcsim")
    gate = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    li = rm.open_resource(LOCKIN, read_termination="\n", write_termination="\n")
    t0 = clock()
    gate.write(":SOUR:VOLT 0.1")  # one operation, 15 bytes with the termination
    assert clock() - t0 == pytest.approx(PER_OP + 15 * PER_BYTE, abs=1e-12)
    t0 = clock()
    reply = li.query("SNAP?1,2")  # write (9 bytes) and read (the reply and its termination)
    assert clock() - t0 == pytest.approx(2 * PER_OP + (9 + len(reply) + 1) * PER_BYTE, abs=1e-12)


def test_a_message_written_in_pieces_is_one_operation(timed_library):
    lib, clock = timed_library
    device = lib.devices[GATE]
    t0 = clock()
    device.write(b":SOUR:VOLT 0.2")  # as a serial session writes: the data, then the termination
    device.write(b"\n")
    assert clock() - t0 == pytest.approx(PER_OP + 15 * PER_BYTE, abs=1e-12)
    assert lib.lab.twins[GATE].handle(":SOUR:VOLT?") == ["+2.000000E-01"]  # the whole message arrived
