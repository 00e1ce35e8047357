"""SR785 FFT tables (SR785 manual, FFT group): resolution lines ``FLIN i``, base frequencies ``FBAS i`` and the
spans base / 2^n."""

from __future__ import annotations

__all__ = ["LINES", "BASES_HZ", "N_SPANS", "MIN_SPAN_HZ", "MAX_SPAN_HZ"]

#: FLIN index -> resolution lines
LINES = (100, 200, 400, 800)
#: FBAS index -> base frequency (Hz)
BASES_HZ = (100e3, 102.4e3)
#: spans are base / 2^n, n = 0 .. N_SPANS - 1 (102.4 kHz down to 195.3 mHz)
N_SPANS = 20
MAX_SPAN_HZ = max(BASES_HZ)
MIN_SPAN_HZ = min(BASES_HZ) / 2 ** (N_SPANS - 1)
