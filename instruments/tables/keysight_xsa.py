"""Keysight X-series signal analyser (N9010A EXA / N9020A MXA) constants shared by qpclab's adapter and the twin."""

from __future__ import annotations

__all__ = ["NOISE_BW_PER_RBW", "INPUT_OHM"]

#: noise bandwidth / resolution bandwidth of the Gaussian RBW filter
NOISE_BW_PER_RBW = 1.056
#: the RF input's hardware impedance (ohm): what power readings refer to, whatever :CORR:IMP says
INPUT_OHM = 50.0
