"""Stanford Research SR865 / SR865A lock-in amplifiers.

pymeasure's ``SR860`` driver speaks the SR86x command set but truncates the reference frequency (and the
frequency presets) at the SR860's 500 kHz. The SR865 goes to 2 MHz and the SR865A to 4 MHz (SR86x manual,
specifications; same limits in QCoDeS's SR865/SR865A drivers). Everything else is the SR860's command set, so these
classes only re-declare the frequency controls with the right range; out-of-range values are refused here
(``strict_range``) rather than silently truncated, so a typo never moves the reference somewhere unexpected.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.srs import SR860
from pymeasure.instruments.validators import strict_range

__all__ = ["SR865", "SR865A"]

_MIN_FREQUENCY_HZ = 1e-3


def _frequency_control(get: str, set_: str, doc: str, high: float):
    return Instrument.control(get, set_, doc, validator=strict_range, values=[_MIN_FREQUENCY_HZ, high])


class SR865(SR860):
    """SR865: the SR860 command set with the reference from 1 mHz to 2 MHz."""

    MAX_FREQUENCY_HZ = 2e6

    frequency = _frequency_control(
        "FREQ?", "FREQ %0.6e", """Control the reference frequency (float in Hz, 1 mHz to 2 MHz).""", 2e6)
    internalfrequency = _frequency_control(
        "FREQINT?", "FREQINT %0.6e", """Control the internal reference frequency (float in Hz, 1 mHz to 2 MHz).""",
        2e6)
    frequencypreset1 = _frequency_control("PSTF? 0", "PSTF 0, %0.6e", """Control frequency preset F1 (Hz).""", 2e6)
    frequencypreset2 = _frequency_control("PSTF? 1", "PSTF 1, %0.6e", """Control frequency preset F2 (Hz).""", 2e6)
    frequencypreset3 = _frequency_control("PSTF? 2", "PSTF 2, %0.6e", """Control frequency preset F3 (Hz).""", 2e6)
    frequencypreset4 = _frequency_control("PSTF? 3", "PSTF 3, %0.6e", """Control frequency preset F4 (Hz).""", 2e6)

    def __init__(self, adapter, name="Stanford Research Systems SR865 Lock-in amplifier", **kwargs):
        super().__init__(adapter, name, **kwargs)


class SR865A(SR865):
    """SR865A: the SR860 command set with the reference from 1 mHz to 4 MHz."""

    MAX_FREQUENCY_HZ = 4e6

    frequency = _frequency_control(
        "FREQ?", "FREQ %0.6e", """Control the reference frequency (float in Hz, 1 mHz to 4 MHz).""", 4e6)
    internalfrequency = _frequency_control(
        "FREQINT?", "FREQINT %0.6e", """Control the internal reference frequency (float in Hz, 1 mHz to 4 MHz).""",
        4e6)
    frequencypreset1 = _frequency_control("PSTF? 0", "PSTF 0, %0.6e", """Control frequency preset F1 (Hz).""", 4e6)
    frequencypreset2 = _frequency_control("PSTF? 1", "PSTF 1, %0.6e", """Control frequency preset F2 (Hz).""", 4e6)
    frequencypreset3 = _frequency_control("PSTF? 2", "PSTF 2, %0.6e", """Control frequency preset F3 (Hz).""", 4e6)
    frequencypreset4 = _frequency_control("PSTF? 3", "PSTF 3, %0.6e", """Control frequency preset F4 (Hz).""", 4e6)

    def __init__(self, adapter, name="Stanford Research Systems SR865A Lock-in amplifier", **kwargs):
        super().__init__(adapter, name, **kwargs)
