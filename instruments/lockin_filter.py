"""The lock-in output filter: n identical RC stages (6 dB/octave each), as in the SR830/SR86x.

One place for its mathematics: the simulated lock-ins evolve their outputs with :func:`advance`, the lock-in role
waits :func:`settle_time` before it reads, and the noise of a reading follows :func:`enbw_Hz`.
"""

from __future__ import annotations

import math

__all__ = ["SLOPES_DB", "order_for_slope", "remaining_fraction", "settle_time", "enbw_Hz", "advance", "advance_ramp"]

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
    The simulated lock-ins call this for every reading: the usual 1-4 stages are written out, with the very
    operations (and their order) of the general loop, so that both give identical results to the last bit.
    """
    x = t_over_tau
    if x <= 0:
        return list(stages)
    if x > 60:
        return [target] * len(stages)
    e = math.exp(-x)
    n = len(stages)
    # the series terms x^p / p!, built as term *= x / p
    if n == 4:
        s0, s1, s2, s3 = stages
        d0, d1, d2, d3 = s0 - target, s1 - target, s2 - target, s3 - target
        c1 = 1.0 * (x / 1)
        c2 = c1 * (x / 2)
        c3 = c2 * (x / 3)
        return [target + e * (0.0 + d0 * 1.0),
                target + e * (0.0 + d1 * 1.0 + d0 * c1),
                target + e * (0.0 + d2 * 1.0 + d1 * c1 + d0 * c2),
                target + e * (0.0 + d3 * 1.0 + d2 * c1 + d1 * c2 + d0 * c3)]
    if n == 2:
        s0, s1 = stages
        d0, d1 = s0 - target, s1 - target
        c1 = 1.0 * (x / 1)
        return [target + e * (0.0 + d0 * 1.0),
                target + e * (0.0 + d1 * 1.0 + d0 * c1)]
    if n == 1:
        return [target + e * (0.0 + (stages[0] - target) * 1.0)]
    if n == 3:
        s0, s1, s2 = stages
        d0, d1, d2 = s0 - target, s1 - target, s2 - target
        c1 = 1.0 * (x / 1)
        c2 = c1 * (x / 2)
        return [target + e * (0.0 + d0 * 1.0),
                target + e * (0.0 + d1 * 1.0 + d0 * c1),
                target + e * (0.0 + d2 * 1.0 + d1 * c1 + d0 * c2)]
    d0 = [s - target for s in stages]
    terms = [1.0]
    term = 1.0
    for p in range(1, n):
        term *= x / p
        terms.append(term)
    out = []
    for k in range(n):
        acc = 0.0
        # j runs from k down to 0: power (k - j)
        for p in range(0, k + 1):
            acc += d0[k - p] * terms[p]
        out.append(target + e * acc)
    return out


def advance_ramp(stages: list, start, end, t_over_tau: float) -> list:
    """Evolve the stage outputs for a time ``x tau`` while the input moves linearly from ``start`` to ``end``.

    With the input u(t) = start + m t (m the slope per time constant), stage k (k = 1..n) has the particular
    solution u(t - k tau): it follows the ramp k time constants late. The deviation from it decays as a free
    cascade, which is :func:`advance` towards 0; so the result is exact for any x, like :func:`advance`.
    """
    x = t_over_tau
    if x <= 0:
        return list(stages)
    m = (end - start) / x
    late = [k * m for k in range(1, len(stages) + 1)]  # how far stage k lags behind the input
    free = advance([s - (start - d) for s, d in zip(stages, late)], 0.0 * m, x)
    return [f + (end - d) for f, d in zip(free, late)]
