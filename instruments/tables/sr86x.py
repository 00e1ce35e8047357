"""SR860 / SR865 / SR865A tables (SR86x manual, chapter 4): sensitivity ``SCAL i`` and time constant ``OFLT i`` by
index, the input ranges ``IRNG i``, and the capture buffer's limits."""

from __future__ import annotations

__all__ = ["SENSITIVITIES_V", "TIME_CONSTANTS_S", "INPUT_RANGES_V", "CAPTURE_RATE_MAX_HZ", "CAPTURE_CONFIGS",
           "CAPTURE_LENGTH_KB", "CAPTUREGET_MAX_KB"]

#: SCAL index -> full scale (V rms), voltage input
SENSITIVITIES_V = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5, 2e-5, 1e-5,
                   5e-6, 2e-6, 1e-6, 5e-7, 2e-7, 1e-7, 5e-8, 2e-8, 1e-8, 5e-9, 2e-9, 1e-9)
#: OFLT index -> time constant (s)
TIME_CONSTANTS_S = (1e-6, 3e-6, 10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3, 1.0,
                    3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 10e3, 30e3)
#: IRNG index -> input range (V peak)
INPUT_RANGES_V = (1.0, 0.3, 0.1, 0.03, 0.01)
#: the capture's top rate (Hz); CAPTURERATE n divides it by 2^n
CAPTURE_RATE_MAX_HZ = 1.25e6
#: CAPTURECFG index -> the quantities each capture sample holds
CAPTURE_CONFIGS = (("X",), ("X", "Y"), ("R", "T"), ("X", "Y", "R", "T"))
#: CAPTURELEN range (kB)
CAPTURE_LENGTH_KB = (1, 4096)
#: the most one CAPTUREGET? returns (kB)
CAPTUREGET_MAX_KB = 64
