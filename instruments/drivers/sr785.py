"""Stanford Research SR785 dynamic signal analyser: the FFT measurements a noise set-up needs.

Command syntax from the SR785 manual, chapter 5 (Remote Programming): a four-letter mnemonic, the display ``d``
as first parameter (0 = DispA, 1 = DispB, 2 = both; queries take 0 or 1), values in the command's default unit
(Hz for frequencies). Settings are written to both displays (``d = 2``) and read back from DispA.

- Frequency: ``FSPN`` span, ``FCTR`` centre, ``FSTR`` start, ``FEND?`` end, ``FLIN`` resolution (100/200/400/800
  lines), ``FBAS`` base frequency (100 kHz / 102.4 kHz).
- Average: ``FAVG`` on/off, ``FAVM`` mode (none, vector, RMS, peak hold), ``FAVT`` type (linear/fixed length,
  exponential/continuous), ``FAVN`` number of averages (2-32767), ``FOVL`` overlap (%), ``FREJ`` overload reject,
  ``FWIN`` window.
- Display: ``MEAS`` measurement (0 = FFT 1), ``VIEW`` (0 log magnitude ... 2 magnitude squared), ``UNPK`` peak units
  (off, pk, rms, pp), ``UNDB`` dB on/off, ``PSDU`` PSD units on/off, ``UNIT?`` the units string.
- Measurement: ``STRT`` start (restarts the average), ``PAUS``, ``CONT``; ``NAVG?`` averages done; ``DSPS? i``
  display status bit i (bit 1 AVGA: linear average complete on DispA), reading clears it.
- Data: ``DSPN? d`` number of bins, ``DSPY? d`` all bins (ASCII, comma separated), ``DSPY? d, j`` bin j,
  ``DBIN? d, j`` frequency of bin j, ``MBIN d, j`` marker to bin j, ``MRKX? d`` / ``MRKY? d`` marker read-out.
- Input channel 1: ``I1RG`` range (dBV, -50 to +34; the query answers ``value,unit-index``), ``A1RG`` auto range.
- Errors: ``*ESR?`` bit 4 execution error (parameter out of range), bit 5 command error.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from ..tables.sr785 import BASES_HZ, LINES, MAX_SPAN_HZ, MIN_SPAN_HZ

__all__ = ["SR785"]

_BOOL = {False: 0, True: 1}


def _both(cmd: str, fmt: str) -> str:
    return f"{cmd} 2,{fmt}"


class SR785(Instrument):
    """SR785 dynamic signal analyser (FFT group), declarative pymeasure driver."""

    WINDOWS = {"uniform": 0, "flattop": 1, "hanning": 2, "bmh": 3, "kaiser": 4, "force/exponential": 5,
               "user": 6, "[-T/2,T/2]": 7, "[0,T/2]": 8, "[-T/4,T/4]": 9}
    AVERAGE_MODES = {"none": 0, "vector": 1, "rms": 2, "peak hold": 3}
    AVERAGE_TYPES = {"linear": 0, "exponential": 1}
    VIEWS = {"log magnitude": 0, "linear magnitude": 1, "magnitude squared": 2, "real": 3, "imaginary": 4,
             "phase": 5, "unwrapped phase": 6, "nyquist": 7, "nichols": 8}
    PEAK_UNITS = {"off": 0, "pk": 1, "rms": 2, "pp": 3}

    span = Instrument.control(
        "FSPN? 0", _both("FSPN", "%g"),
        """Control the FFT frequency span (float in Hz, up to 102.4 kHz; the analyser uses base/2^n spans).""",
        validator=strict_range, values=[round(MIN_SPAN_HZ, 4), MAX_SPAN_HZ])  # 0.1907 Hz as the panel shows it
    center_frequency = Instrument.control(
        "FCTR? 0", _both("FCTR", "%g"), """Control the centre frequency (float in Hz, 0 to 102.4 kHz).""",
        validator=strict_range, values=[0.0, MAX_SPAN_HZ])
    start_frequency = Instrument.control(
        "FSTR? 0", _both("FSTR", "%g"), """Control the start frequency (float in Hz).""",
        validator=strict_range, values=[0.0, MAX_SPAN_HZ])
    end_frequency = Instrument.measurement("FEND? 0", """Get the end frequency (float in Hz).""")
    resolution_lines = Instrument.control(
        "FLIN? 0", _both("FLIN", "%d"), """Control the FFT resolution (int: 100, 200, 400 or 800 lines).""",
        validator=strict_discrete_set, values={n: i for i, n in enumerate(LINES)}, map_values=True)
    base_frequency = Instrument.control(
        "FBAS? 0", _both("FBAS", "%d"), """Control the base frequency (float in Hz: 100e3 or 102.4e3).""",
        validator=strict_discrete_set, values={f: i for i, f in enumerate(BASES_HZ)}, map_values=True)
    averaging_enabled = Instrument.control(
        "FAVG? 0", _both("FAVG", "%d"), """Control whether averages are computed (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    average_mode = Instrument.control(
        "FAVM? 0", _both("FAVM", "%d"), """Control the averaging mode (str: none, vector, rms, peak hold).""",
        validator=strict_discrete_set, values=AVERAGE_MODES, map_values=True)
    average_type = Instrument.control(
        "FAVT? 0", _both("FAVT", "%d"), """Control the averaging type (str: linear (fixed length) or
        exponential (continuous)).""",
        validator=strict_discrete_set, values=AVERAGE_TYPES, map_values=True)
    averages = Instrument.control(
        "FAVN? 0", _both("FAVN", "%d"), """Control the number of averages (int, 2 to 32767).""",
        validator=strict_range, values=[2, 32767], cast=int)
    overlap = Instrument.control(
        "FOVL? 0", _both("FOVL", "%g"), """Control the time-record overlap (float in percent, 0 to 99.8).""",
        validator=strict_range, values=[0.0, 99.8])
    overload_reject = Instrument.control(
        "FREJ? 0", _both("FREJ", "%d"), """Control whether overloaded records are left out of the average (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    window = Instrument.control(
        "FWIN? 0", _both("FWIN", "%d"), """Control the FFT window (str, e.g. hanning, uniform, flattop).""",
        validator=strict_discrete_set, values=WINDOWS, map_values=True)
    measurement_type = Instrument.control(
        "MEAS? 0", _both("MEAS", "%d"), """Control the measurement of both displays (int, 0 = FFT 1).""",
        validator=strict_discrete_set, values=[0, 1], cast=int)
    view = Instrument.control(
        "VIEW? 0", _both("VIEW", "%d"), """Control the view of both displays (str, e.g. log magnitude).""",
        validator=strict_discrete_set, values=VIEWS, map_values=True)
    peak_units = Instrument.control(
        "UNPK? 0", _both("UNPK", "%d"), """Control the peak units of both displays (str: off, pk, rms, pp).""",
        validator=strict_discrete_set, values=PEAK_UNITS, map_values=True)
    db_units = Instrument.control(
        "UNDB? 0", _both("UNDB", "%d"), """Control dB units on both displays (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    psd_units = Instrument.control(
        "PSDU? 0", _both("PSDU", "%d"), """Control PSD units (per root hertz) on both displays (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)
    units = Instrument.measurement("UNIT? 0", """Get the units string of DispA (str).""", cast=str)
    averages_done = Instrument.measurement("NAVG? 0", """Get the number of averages done on DispA (int).""",
                                           cast=int)
    display_length = Instrument.measurement("DSPN? 0", """Get the number of bins of DispA (int).""", cast=int)
    input_range_dBV = Instrument.control(
        "I1RG?", "I1RG %d", """Control the channel 1 input range (int in dBV peak, -50 to 34, 2 dB steps);
        setting it switches auto range off.""",
        validator=strict_range, values=[-50, 34], get_process_list=lambda v: int(v[0]))
    auto_range = Instrument.control(
        "A1RG?", "A1RG %d", """Control channel 1 input auto range (bool).""",
        validator=strict_discrete_set, values=_BOOL, map_values=True)

    def __init__(self, adapter, name="Stanford Research Systems SR785 Dynamic Signal Analyzer", **kwargs):
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    # ---- measurement control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start (restart) the measurement and its average (STRT)."""
        self.write("STRT")

    def pause(self) -> None:
        self.write("PAUS")

    def resume(self) -> None:
        self.write("CONT")

    def display_status_bit(self, bit: int) -> bool:
        """Read (and clear) one bit of the display status word (DSPS? i)."""
        if not 0 <= int(bit) <= 15:
            raise ValueError(f"SR785 display status bit {bit!r} is not 0-15")
        return bool(int(self.ask(f"DSPS? {int(bit)}")))

    def average_complete(self, display: int = 0) -> bool:
        """True once the linear average of ``display`` is complete (AVGA bit 1 / AVGB bit 9); clears the bit."""
        return self.display_status_bit(1 if display == 0 else 9)

    # ---- data ----------------------------------------------------------------------------------------------
    def read_display(self, display: int = 0) -> list[float]:
        """All bins of a display, in its view and units (DSPY? d)."""
        return [float(v) for v in self.values(f"DSPY? {self._display(display)}")]

    def read_bin(self, display: int, bin_index: int) -> float:
        return float(self.ask(f"DSPY? {self._display(display)},{int(bin_index)}"))

    def bin_frequency(self, display: int, bin_index: int) -> float:
        """Frequency (Hz) of a bin (DBIN? d, j)."""
        return float(self.ask(f"DBIN? {self._display(display)},{int(bin_index)}"))

    def set_marker_bin(self, display: int, bin_index: int) -> None:
        self.write(f"MBIN {self._display(display)},{int(bin_index)}")

    def marker(self, display: int = 0) -> tuple[float, float]:
        """(frequency in Hz, value in display units) at the marker (MRKX?/MRKY?)."""
        d = self._display(display)
        return float(self.ask(f"MRKX? {d}")), float(self.ask(f"MRKY? {d}"))

    def standard_event_status(self) -> int:
        """Read and clear the standard event status register (*ESR?): bit 4 execution, bit 5 command error."""
        return int(self.ask("*ESR?"))

    @staticmethod
    def _display(display: int) -> int:
        if display not in (0, 1):
            raise ValueError(f"SR785 display {display!r} is not 0 (A) or 1 (B)")
        return int(display)
