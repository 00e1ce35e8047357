"""Where to put a gate, given what a pinch-off sweep measured: the decisions of ``qpclab run tune``.

A sweep goes from an open gate voltage down towards pinch-off; the points are (gate V, G/G0) pairs in any order.

* :func:`pinched_off`: the last readings are all below the pinch-off level.
* :func:`target_bracket`: the first two neighbouring points, counted from the pinched-off end, between which G rises
  through the target: the riser the gate is tuned on (with disorder a plateau may ripple through a target near its
  value further up; the first riser above pinch-off is the one a noise measurement wants).
* :func:`next_probe`: a gate voltage inside a bracket where G is expected to reach the target: a step of a staircase
  is a logistic in gate voltage (Buttiker's saddle: the zero-temperature step is a Fermi function), so its logit is
  linear in the gate voltage between two points on the same riser; kept off the bracket's ends so every probe
  shrinks it.
* :func:`fit_probe`: the same from a saddle-point fit of the sweep (the model's gate voltage for the target).
* :func:`riser_centres` and :func:`plateau_middle`: the middle of plateau N (G near N G0) is halfway between the
  centres of the risers below and above it, each the maximum of the transconductance dG/dV.

:class:`TuneResult` is what a tune reports (its file's ``#Tune:`` comment lines, read back by
:func:`read_tune_result`). :class:`TuneRefused` is the refusal of a device that cannot be tuned as asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import brentq

from .io import AnalysisError
from .plateaus import peak_positions
from .saddle_fit import SaddleFit, saddle_model_G0
from .steps import plateau_middles, sorted_trace

__all__ = ["TuneRefused", "TuneResult", "pinched_off", "target_bracket", "next_probe", "fit_probe", "riser_centres",
           "plateau_middle", "read_tune_result", "comment_lines", "TUNE_COMMENT"]

#: the comment name of a tune's result lines in its run file (``#Tune: gate = -1.2034 V``)
TUNE_COMMENT = "Tune"


class TuneRefused(ValueError):
    """The device cannot be tuned as asked (no pinch-off within the limits, a target out of reach, ...); the message
    says why in one line. The station is brought to its safe values."""


def pinched_off(g: Sequence[float], level: float, count: int = 2) -> bool:
    """Whether the last ``count`` readings (G0) are all below ``level``: one reading below may be noise."""
    return len(g) >= count and all(v < level for v in g[-count:])


def _sorted(xs: Sequence[float], ys: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def target_bracket(xs: Sequence[float], ys: Sequence[float], target: float) -> tuple[float, float, float, float] | None:
    """(a, G(a), b, G(b)), a < b neighbouring gate voltages with G(a) < target <= G(b): the first rise through the
    target counted from the low (pinched-off) end; None if G never reaches the target."""
    x, y = _sorted(xs, ys)
    rise = np.flatnonzero((y[:-1] < target) & (y[1:] >= target))
    if rise.size == 0:
        return None
    i = int(rise[0])
    return float(x[i]), float(y[i]), float(x[i + 1]), float(y[i + 1])


def next_probe(a: float, ga: float, b: float, gb: float, target: float) -> float:
    """A gate voltage in (a, b) where G is expected to reach ``target``, G(a) < target <= G(b): logit-linear on the
    riser from plateau floor(target) to the next when both ends lie on it, linear otherwise; at least a tenth of
    the bracket from either end."""
    k = math.floor(target)
    fa, fb, ft = ga - k, gb - k, target - k
    if 0.02 < fa < 0.98 and 0.02 < fb < 0.98 and fb != fa:
        la, lb, lt = (math.log(f / (1.0 - f)) for f in (fa, fb, ft))
        t = (lt - la) / (lb - la)
    else:
        t = (target - ga) / (gb - ga) if gb != ga else 0.5
    return a + min(max(t, 0.1), 0.9) * (b - a)


def fit_probe(fit: SaddleFit | None, a: float, b: float, target: float) -> float | None:
    """The gate voltage in (a, b) where the fitted saddle-point staircase reaches ``target``; None without a fit or
    when the fit does not reach the target inside the bracket (it describes other risers better than this one)."""
    if fit is None:
        return None
    vp, spacing, width = fit.v_pinch.value, fit.spacing_V.value, fit.width_V.value
    n_modes = int(max(1, math.ceil((b - vp) / spacing) + 2))

    def excess(v: float) -> float:
        return float(saddle_model_G0(np.array([v]), vp, spacing, width, 1.0, 0.0, n_modes)[0]) - target

    ea, eb = excess(a), excess(b)
    if not (ea < 0 < eb):
        return None
    v = brentq(excess, a, b, xtol=1e-7)
    return min(max(v, a + 0.05 * (b - a)), b - 0.05 * (b - a))


def riser_centres(xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """The centres of the risers (V, ascending) between the measured points: maxima of the transconductance (finite
    differences between neighbouring points), at least a quarter of the steepest, on the open side of pinch-off."""
    if len(xs) < 4:
        return np.array([])
    x, y = sorted_trace(xs, ys)  # a gate value read more than once: the mean of its readings
    if x.size < 4:
        return np.array([])
    mid, slope = 0.5 * (x[1:] + x[:-1]), np.diff(y) / np.diff(x)
    peaks = peak_positions(mid, slope, min_height_fraction=0.25)
    return np.sort(peaks[np.interp(peaks, x, y) > 0.2])


def plateau_middle(xs: Sequence[float], ys: Sequence[float], n: int) -> float:
    """The gate voltage in the middle of plateau ``n`` (G near n G0, n >= 1): halfway between the centres of riser
    n - 1 (below it) and riser n (above it), counted from pinch-off. TuneRefused if the sweep did not reach riser n."""
    centres = riser_centres(xs, ys)
    if centres.size < n + 1:
        raise TuneRefused(f"plateau {n} is not complete in the sweep: {centres.size} riser(s) found above pinch-off, "
                          f"plateau {n} needs {n + 1} (start the sweep at a more open gate voltage)")
    return float(plateau_middles(centres)[n - 1])


@dataclass
class TuneResult:
    """What a tune reached: the gate voltage (V), the conductance checked there (mean and standard deviation of
    ``readings`` readings, G0), what was asked (``goal``: "G = 0.5 G0" or "middle of plateau 2"), the points
    measured."""

    gate_V: float
    g_G0: float
    g_sd_G0: float
    readings: int
    goal: str
    points: int

    def lines(self) -> list[str]:
        """The ``#Tune:`` comment lines of the run file (and the report)."""
        return [f"goal = {self.goal}",
                f"gate = {self.gate_V!r} V",
                f"G = {self.g_G0:.5f} G0 (sd {self.g_sd_G0:.2g} G0 of {self.readings} readings)",
                f"points = {self.points}"]

    def summary(self) -> str:
        """One line for the terminal."""
        return (f"tuned to {self.goal}: gate {self.gate_V:.6g} V, G = {self.g_G0:.4f} G0 (mean of {self.readings} "
                f"readings, sd {self.g_sd_G0:.2g} G0), {self.points} points")


def comment_lines(path: str | Path, name: str) -> list[str]:
    """The texts of a run file's comment lines ``#<name>: <text>`` (a tune's ``Tune`` and ``Saddle fit`` lines)."""
    prefix = f"#{name}: "
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line[len(prefix):].strip() for line in f if line.startswith(prefix)]


def read_tune_result(path: str | Path) -> dict[str, str]:
    """The ``#Tune:`` lines of a run file as {name: text} (goal, gate, G, points); AnalysisError if there are none
    (a tune that was refused or stopped: its ``#Status:`` line says why)."""
    found = dict(line.partition(" = ")[::2] for line in comment_lines(path, TUNE_COMMENT))
    if not found:
        raise AnalysisError(f"{path}: no tune result (the run was refused or stopped: see its #Status: line)")
    return found
