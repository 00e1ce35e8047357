"""SR830 tables (SR830 manual, chapter 5): sensitivity ``SENS i`` and time constant ``OFLT i`` by index, and the
data buffer's sample rates ``SRAT i``."""

from __future__ import annotations

__all__ = ["SENSITIVITIES_V", "TIME_CONSTANTS_S", "SAMPLE_RATES_HZ", "SRAT_TRIGGER", "BUFFER_POINTS"]

#: SENS index -> full scale (V rms)
SENSITIVITIES_V = (2e-9, 5e-9, 1e-8, 2e-8, 5e-8, 1e-7, 2e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4,
                   2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
#: OFLT index -> time constant (s)
TIME_CONSTANTS_S = (10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1.0, 3.0, 10.0,
                    30.0, 100.0, 300.0, 1e3, 3e3, 10e3, 30e3)
#: SRAT index -> sample rate (Hz): 62.5 mHz ... 512 Hz in factors of 2
SAMPLE_RATES_HZ = tuple(2.0 ** (i - 4) for i in range(14))
#: SRAT 14: one sample per trigger at the rear-panel TRIG IN (or the TRIG command)
SRAT_TRIGGER = 14
#: points each of the two channel buffers holds
BUFFER_POINTS = 16383
