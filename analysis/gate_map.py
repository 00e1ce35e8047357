"""Gate x gate maps: the riser lines and the ratio of the two gates' lever arms.

Both gates move the barrier top of the constriction, ``alpha_1 (V_1 - V_p1) + alpha_2 (V_2 - V_p2)``; riser n sits
where that offset is ``n hbar omega_y``, a straight line in the (V_2, V_1) plane::

    V_1 = c_n - (alpha_2 / alpha_1) V_2

so every riser has the slope ``-alpha_2 / alpha_1`` (how much gate 2 acts on the channel, relative to gate 1: the
cross-coupling a virtual gate compensates), and neighbouring lines lie ``hbar omega_y / alpha_1`` apart along V_1.
Each riser's centre in a row is where G crosses ``n + 1/2`` G0 (the saddle-point step is symmetric about it, at any
temperature), found by linear interpolation between the points around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .io import AnalysisError, Value, require_columns
from .steps import level_crossings

__all__ = ["RiserLine", "GateMapFit", "fit_riser_lines"]


@dataclass
class RiserLine:
    riser: int  #: n: the line where G crosses n + 1/2 G0
    slope: Value  #: dV_1 / dV_2 along the line
    gate2_V: float  #: the middle of the map's gate-2 range
    gate_V: Value  #: V_1 of the line at ``gate2_V``
    n_rows: int

    def gate_at(self, gate2_V: float) -> float:
        """V_1 of the line at ``gate2_V`` (V)."""
        return self.gate_V.value + self.slope.value * (gate2_V - self.gate2_V)


@dataclass
class GateMapFit:
    lines: list[RiserLine]
    lever_ratio: Value  #: alpha_2 / alpha_1 = -slope, weighted over the lines
    line_spacing_V: Value | None  #: distance between neighbouring lines along V_1 (hbar omega_y / alpha_1)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = ["Gate x gate map (riser lines V_gate = c_n + slope V_gate2, at G = n + 1/2 G0):",
                 f"  lever-arm ratio alpha_2/alpha_1 = {self.lever_ratio.format()} (minus the slope)"]
        if self.line_spacing_V is not None:
            lines.append(f"  line spacing along the gate  = {self.line_spacing_V.format(1e3, 'mV')} "
                         "(hbar omega_y / alpha_1)")
        for r in self.lines:
            lines.append(f"  riser {r.riser}: slope {r.slope.format()}, at gate 2 = {r.gate2_V:.4g} V: gate = "
                         f"{r.gate_V.format(1e3, 'mV')} ({r.n_rows} rows)")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[Value, Value]:
    (slope, icpt), cov = np.polyfit(x, y, 1, cov="unscaled")  # x from the middle row: icpt is V_1 there
    res = y - (slope * x + icpt)
    s2 = float(res @ res) / max(1, x.size - 2)
    return Value(float(slope), math.sqrt(cov[0, 0] * s2), ""), Value(float(icpt), math.sqrt(cov[1, 1] * s2), "V")


def fit_riser_lines(df: pd.DataFrame, *, gate: str = "Gate (V)", gate2: str = "Gate 2 (V)", g: str = "G/G0",
                    min_rows: int = 3) -> GateMapFit:
    """The riser lines of a gate x gate map (columns of the gate-gate-map procedure, G in G0 with the series
    resistance taken out) and the lever-arm ratio from their slope.

    Raises:
        AnalysisError: missing columns, fewer than ``min_rows`` rows that cross a riser once.
    """
    require_columns(df, [gate, gate2, g], "gate map")
    keys = np.round(df[gate2].to_numpy(float), 12)
    rows = np.unique(keys[np.isfinite(keys)])
    top = float(np.nanmax(df[g].to_numpy(float)))
    found: dict[int, list[tuple[float, float]]] = {}
    for row in rows:
        sub = df[keys == row]
        ok = np.isfinite(sub[gate].to_numpy(float)) & np.isfinite(sub[g].to_numpy(float))
        x, y = sub[gate].to_numpy(float)[ok], sub[g].to_numpy(float)[ok]
        for n in range(int(math.floor(top - 0.5)) + 1):
            cross = list(level_crossings(x, y, n + 0.5))
            if len(cross) == 1:  # a trace that crosses a level more than once is noisy there: not a riser centre
                found.setdefault(n, []).append((row, cross[0]))
    lines = []
    notes = []
    mid = 0.5 * float(rows[0] + rows[-1])
    for n, pts in sorted(found.items()):
        if len(pts) < min_rows:
            notes.append(f"riser {n}: crossed in {len(pts)} row(s) only (need {min_rows}): no line")
            continue
        x2, x1 = (np.array(v) for v in zip(*pts))
        slope, at_mid = _line(x2 - mid, x1)
        lines.append(RiserLine(riser=n, slope=slope, gate2_V=mid, gate_V=at_mid, n_rows=len(pts)))
    if not lines:
        raise AnalysisError(f"gate map: no riser crosses G = n + 1/2 G0 in {min_rows} rows or more (pinched off, "
                            "flat, or too few rows of gate 2)")
    s = np.array([r.slope.value for r in lines])
    w = 1.0 / np.maximum(np.array([r.slope.stderr for r in lines]), 1e-12) ** 2
    mean = float(np.sum(w * s) / np.sum(w))
    ratio = Value(-mean, math.sqrt(1.0 / float(np.sum(w))), "")
    spacing = None
    if len(lines) > 1:
        # the lines are parallel: their distance along V_1 in the middle of the map, first to last line found
        first, last = lines[0], lines[-1]
        steps = last.riser - first.riser
        err = math.hypot(first.gate_V.stderr, last.gate_V.stderr) / steps
        spacing = Value((last.gate_V.value - first.gate_V.value) / steps, err, "V")
    return GateMapFit(lines=lines, lever_ratio=ratio, line_spacing_V=spacing, notes=notes)
