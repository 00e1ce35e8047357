"""Keysight X-series signal analysers (N9010A EXA, N9020A MXA): Spectrum Analyzer mode, Swept SA measurement.

SCPI from the X-Series "Spectrum Analyzer Mode User's & Programmer's Reference":

- ``[:SENSe]:FREQuency:CENTer|SPAN|STARt|STOP <freq>``; ``[:SENSe]:BANDwidth[:RESolution] <freq>`` (RBW) and its
  ``:AUTO``; ``[:SENSe]:BANDwidth:VIDeo``; ``[:SENSe]:SWEep:POINts`` (1-40001); ``[:SENSe]:SWEep:TIME``;
- ``[:SENSe]:AVERage:COUNt <n>`` (1-10000), ``[:SENSe]:AVERage[:STATe]`` (trace 1 averaging on/off, kept for
  backwards compatibility; ``:TRACe1:TYPE AVERage`` is the same), ``[:SENSe]:AVERage:TYPE RMS|LOG|SCALar``;
- ``:INITiate:CONTinuous OFF`` + ``:INITiate[:IMMediate]`` for one averaged measurement; ``*OPC`` then ``*ESR?``
  bit 0 (or ``*OPC?``) when it is done;
- ``:CALCulate:MARKer1:FUNCtion NOISe|BPOWer|BDENsity|OFF``, ``:CALCulate:MARKer1:FUNCtion:BAND:SPAN``,
  ``:CALCulate:MARKer1:X``, ``:CALCulate:MARKer1:Y?`` (noise marker: dBm/Hz with ``:UNIT:POWer DBM``);
- ``:TRACe[:DATA]? TRACE1`` (ASCII, comma separated, ``:FORMat[:TRACe][:DATA] ASCii``);
- ``[:SENSe]:CORRection:IMPedance[:INPut][:MAGNitude] 50|75`` (the input impedance the power refers to);
- ``:SYSTem:ERRor[:NEXT]?``: out-of-range values are refused with -222 "Data out of range".

Short forms are sent (``:FREQ:CENT``), as Keysight's examples do.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.generic_types import SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

__all__ = ["KeysightXSA"]

_BOOL = {False: 0, True: 1}


class KeysightXSA(SCPIMixin, Instrument):
    """Keysight N9010A/N9020A X-series signal analyser (Swept SA), declarative pymeasure driver."""

    center_frequency = Instrument.control(
        ":FREQ:CENT?", ":FREQ:CENT %.10g", """Control the centre frequency (float in Hz).""",
        validator=strict_range, values=[0.0, 50e9])
    span = Instrument.control(
        ":FREQ:SPAN?", ":FREQ:SPAN %.10g", """Control the frequency span (float in Hz, 0 = zero span).""",
        validator=strict_range, values=[0.0, 50e9])
    start_frequency = Instrument.control(
        ":FREQ:STAR?", ":FREQ:STAR %.10g", """Control the start frequency (float in Hz).""",
        validator=strict_range, values=[0.0, 50e9])
    stop_frequency = Instrument.control(
        ":FREQ:STOP?", ":FREQ:STOP %.10g", """Control the stop frequency (float in Hz).""",
        validator=strict_range, values=[0.0, 50e9])
    resolution_bandwidth = Instrument.control(
        ":BAND?", ":BAND %.10g", """Control the resolution bandwidth (float in Hz, 1 Hz to 8 MHz); switches
        RBW auto off.""", validator=strict_range, values=[1.0, 8e6])
    resolution_bandwidth_auto = Instrument.control(
        ":BAND:AUTO?", ":BAND:AUTO %d", """Control RBW coupling to the span (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    video_bandwidth = Instrument.control(
        ":BAND:VID?", ":BAND:VID %.10g", """Control the video bandwidth (float in Hz).""",
        validator=strict_range, values=[1.0, 50e6])
    sweep_points = Instrument.control(
        ":SWE:POIN?", ":SWE:POIN %d", """Control the number of trace points (int, 1 to 40001).""",
        validator=strict_range, values=[1, 40001], cast=int)
    sweep_time = Instrument.control(
        ":SWE:TIME?", ":SWE:TIME %.6g", """Control the sweep time (float in s); setting it switches auto off.""",
        validator=strict_range, values=[1e-6, 4000.0])
    average_count = Instrument.control(
        ":AVER:COUN?", ":AVER:COUN %d", """Control the average/hold number N (int, 1 to 10000).""",
        validator=strict_range, values=[1, 10000], cast=int)
    averaging_enabled = Instrument.control(
        ":AVER:STAT?", ":AVER:STAT %d", """Control trace averaging (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    average_type = Instrument.control(
        ":AVER:TYPE?", ":AVER:TYPE %s", """Control the average type (str: rms (power), log (log-power/video),
        voltage).""", validator=strict_discrete_set, values={"rms": "RMS", "log": "LOG", "voltage": "SCAL"},
        map_values=True)
    continuous = Instrument.control(
        ":INIT:CONT?", ":INIT:CONT %d", """Control continuous (True) or single (False) sweep.""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    detector = Instrument.control(
        ":DET:TRAC?", ":DET:TRAC %s", """Control the trace 1 detector (str: AVER, NORM, POS, SAMP, NEG).""",
        validator=strict_discrete_set, values=["AVER", "NORM", "POS", "SAMP", "NEG"], cast=str)
    power_unit = Instrument.control(
        ":UNIT:POW?", ":UNIT:POW %s", """Control the amplitude unit (str: DBM, W or V).""",
        validator=strict_discrete_set, values=["DBM", "W", "V"], cast=str)
    input_impedance = Instrument.control(
        ":CORR:IMP?", ":CORR:IMP %d", """Control the input impedance the power refers to (int ohm: 50 or 75).""",
        validator=strict_discrete_set, values=[50, 75], cast=lambda v: int(float(v)))
    marker1_function = Instrument.control(
        ":CALC:MARK1:FUNC?", ":CALC:MARK1:FUNC %s", """Control marker 1's function (str: noise, band power,
        band density, off).""",
        validator=strict_discrete_set,
        values={"noise": "NOIS", "band power": "BPOW", "band density": "BDEN", "off": "OFF"}, map_values=True)
    marker1_band_span = Instrument.control(
        ":CALC:MARK1:FUNC:BAND:SPAN?", ":CALC:MARK1:FUNC:BAND:SPAN %.10g",
        """Control the band span of marker 1's band function (float in Hz).""",
        validator=strict_range, values=[0.0, 50e9])
    marker1_frequency = Instrument.control(
        ":CALC:MARK1:X?", ":CALC:MARK1:X %.10g", """Control marker 1's frequency (float in Hz).""",
        validator=strict_range, values=[0.0, 50e9])
    marker1_value = Instrument.measurement(
        ":CALC:MARK1:Y?", """Get marker 1's read-out (float; dBm/Hz for the noise marker in dBm units).""")
    operation_condition = Instrument.measurement(
        ":STAT:OPER:COND?", """Get the operation status condition (int; bit 3 sweeping, bit 4 measuring).""",
        cast=int)

    def __init__(self, adapter, name="Keysight X-series signal analyser", **kwargs):
        super().__init__(adapter, name, **kwargs)

    def start_measurement(self) -> None:
        """Start one (averaged) measurement and arm the operation-complete bit: ``:INIT:IMM;*OPC``."""
        self.write(":INIT:IMM;*OPC")

    def event_status(self) -> int:
        """Read and clear the standard event status register (``*ESR?``): bit 0 operation complete, bit 4
        execution error, bit 5 command error."""
        return int(self.ask("*ESR?"))

    def trace_data(self) -> list[float]:
        """Trace 1 in the present amplitude unit (``:TRAC:DATA? TRACE1``)."""
        return [float(v) for v in self.values(":TRAC:DATA? TRACE1")]

    def next_error(self) -> tuple[int, str]:
        """One entry of the error queue (``:SYST:ERR?``): (code, message); (0, 'No error') when empty."""
        reply = self.ask(":SYST:ERR?").strip()
        code, _, msg = reply.partition(",")
        return int(code), msg.strip().strip('"')
