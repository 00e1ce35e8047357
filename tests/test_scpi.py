"""The command grammar of the simulated instruments: SCPI short/long forms, optional nodes, the path rule."""

import pytest

from qpclab.instruments.sim.scpi import (
    CommandTable, Command, scpi_pattern, split_scpi_message, split_sr_message, sr_pattern,
)


@pytest.mark.parametrize("header", [
    ":SOUR:VOLT", ":SOURCE:VOLTAGE", ":VOLT", ":VOLTAGE:LEVEL", ":SOUR:VOLT:LEV:IMM:AMPL", ":SOURCE1:VOLT",
    ":sour:volt".upper(),
])
def test_scpi_pattern_accepts_short_long_and_optional_forms(header):
    rx = scpi_pattern("[:SOURce[1]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    assert rx.match(header) and rx.match(header + "?")


@pytest.mark.parametrize("header", [":SOUR:VOLTA", ":SOU:VOLT", ":SOURCE:CURR", ":SOUR:VOLT:RANG", ":SOURCE2:VOLT"])
def test_scpi_pattern_rejects_what_the_manual_does_not_allow(header):
    assert not scpi_pattern("[:SOURce[1]]:VOLTage[:LEVel][:IMMediate][:AMPLitude]").match(header)


def test_numeric_suffix_is_captured():
    m = scpi_pattern(":OUTPut#[:STATe]").match(":OUTP3?")
    assert m.groups() == ("3", "?")


def test_compound_message_follows_the_scpi_path_rule():
    parts = split_scpi_message(":SOUR:VOLT 1;CURR 2;:SENS:FUNC 'VOLT';*RST;:FORM:ELEM VOLT, CURR")
    assert parts == [("SOUR:VOLT", ["1"]), ("SOUR:CURR", ["2"]), ("SENS:FUNC", ["VOLT"]), ("*RST", []),
                     ("FORM:ELEM", ["VOLT", "CURR"])]


def test_sr_messages_without_spaces_and_with_trailing_semicolons():
    assert split_sr_message("OUTP?1") == [("OUTP?", ["1"])]
    assert split_sr_message("DDEF?1;") == [("DDEF?", ["1"])]
    assert split_sr_message("SLVL0.100") == [("SLVL", ["0.100"])]
    assert split_sr_message("SNAP? 1,2 ; SENS 10") == [("SNAP?", ["1", "2"]), ("SENS", ["10"])]
    assert sr_pattern("OUTP").match("OUTP?").group(1) == "?"


def test_table_lookup_is_cached_and_reports_queries():
    calls = []
    table = CommandTable([Command("[:SOURce]:VOLTage", query=lambda a: calls.append(a))])
    hit = table.lookup(":SOURCE:VOLT?")
    assert hit is not None and hit[2] is True
    assert table.lookup(":SOURCE:VOLT?") is hit
    assert table.lookup(":NOPE") is None
