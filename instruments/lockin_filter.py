"""The lock-in output filter: n identical RC stages (6 dB/octave each), as in the SR830/SR86x.

One place for its mathematics: the simulated lock-ins evolve their outputs with :func:`advance`, the lock-in role
waits :func:`settle_time` before it reads, and the noise of a reading follows :func:`enbw_Hz`.
"""

from __future__ import annotations

import math

__all__ = ["SLOPES_DB", "order_for_slope", "remaining_fraction", "settle_time", "enbw_Hz", "advance"]

SLOPES_DB = (6, 12, 18, 24)


def order_for_slope(slope_db: int) -> int:
    """Number of RC stages for a roll-off of 6, 12, 18 or 24 dB/octave."""
    if slope_db not in SLOPES_DB:
        raise ValueError(f"filter slope {slope_db!r} dB/oct is not one of {SLOPES_DB}")
    return slope_db // 6


def remaining_fraction(t_over_tau: float, order: int) -> float:
    """Fraction of a step not yet seen at the output, a time ``t = x tau`` after the step, from a settled state.

    For n cascaded stages: exp(-x) * sum_{k<n} x^k / k!.
    """
    x = max(0.0, t_over_tau)
    term, total = 1.0, 1.0
    for k in range(1, order):
        term *= x / k
        total += term
    return math.exp(-x) * total


def settle_time(tau_s: float, order: int, tolerance: float = 1e-3) -> float:
    """Time (s) after a step until the output is within ``tolerance`` (fraction of the step) of its final value.

    For 1e-2 this gives the familiar 4.6, 6.6, 8.4, 10 time constants for 6-24 dB/oct.
    """
    if not 0 < tolerance < 1:
        raise ValueError("tolerance must be between 0 and 1")
    lo, hi = 0.0, 1.0
    while remaining_fraction(hi, order) > tolerance:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if remaining_fraction(mid, order) > tolerance:
            lo = mid
        else:
            hi = mid
    return hi * tau_s


_ENBW = {1: 1 / 4, 2: 1 / 8, 3: 3 / 32, 4: 5 / 64}


def enbw_Hz(tau_s: float, order: int) -> float:
    """Equivalent noise bandwidth (Hz) of the output filter: 1/4, 1/8, 3/32, 5/64 over tau for 6-24 dB/oct."""
    return _ENBW[order] / tau_s


def advance(stages: list, target, t_over_tau: float) -> list:
    """Evolve the stage outputs for a time ``x tau`` with a constant input ``target`` (exact, any x >= 0).

    Deviation of stage k from the input: d_k(x) = exp(-x) sum_{j<=k} d_j(0) x^(k-j)/(k-j)!.
    Works with float or complex values (X and Y filtered together as X + iY).
    """
    x = t_over_tau
    if x <= 0:
        return list(stages)
    if x > 60:
        return [target] * len(stages)
    e = math.exp(-x)
    d0 = [s - target for s in stages]
    out = []
    for k in range(len(stages)):
        acc = 0.0
        term = 1.0
        # j runs from k down to 0: power (k - j)
        for p in range(0, k + 1):
            if p:
                term *= x / p
            acc += d0[k - p] * term
        out.append(target + e * acc)
    return out
