"""Buffered against stepped gate-gate maps on a lab with realistic bus latency: the fraction of the physical bound
each reaches.

A map's physical bound is its settling: ``points x settling time per point`` (the lock-in's settling to the
procedure's tolerance, from its time constant and slope). The figure of a mode is that bound over the wall time
it took: 1 is a map that costs nothing but its settling. Both modes run the same 101 x 101 gate-gate map at a 1 ms
time constant (24 dB/oct) on buffered_lab.yaml (QDAC-II on LAN, SR830 on GPIB, typical bus timing), one after the
other in the same run. The wall time is the steady state between the first row written and the last (connecting
and the first ramp from the safe value are the same for both modes and not part of the map); the whole run's
figure is given beside it. ``--quick``: a 21 x 21 map.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import HERE, Row

BUFFERED_LAB = HERE / "buffered_lab.yaml"
TIME_CONSTANT_S, SLOPE_DB, TOLERANCE = 1e-3, 24, 1e-3


def _map(mode: str, n: int, folder: Path) -> tuple[float, float, int]:
    """(steady-state seconds between the first and the last row, whole run s, points in the steady span)."""
    from qpclab.instruments.sim.backend import SimVisaLibrary
    from qpclab.procedures.maps import GateGateMap
    from qpclab.procedures.runner import run_procedure

    SimVisaLibrary(str(BUFFERED_LAB)).reset()
    proc = GateGateMap()
    step = 0.002
    proc.set_values(station_file=str(BUFFERED_LAB), gate="gate_left", gate2="gate_right", start=-1.3,
                    stop=-1.3 + step * (n - 1), step=step, gate2_start=-1.3, gate2_stop=-1.3 + step * (n - 1),
                    gate2_step=step, time_constant=TIME_CONSTANT_S, filter_slope=SLOPE_DB,
                    settle_tolerance=TOLERANCE, mode=mode)
    stamps: list[float] = []
    t0 = time.perf_counter()
    result = run_procedure(proc, folder / f"{mode}.csv", progress=False, on_point=lambda row: stamps.append(
        time.perf_counter()), catalogue=folder / "catalogue.sqlite")
    whole = time.perf_counter() - t0
    if result.status != "finished" or len(stamps) != n * n:
        raise RuntimeError(f"{mode} map: {result.status}, {len(stamps)} of {n * n} points")
    # buffered rows come a line at a time: the span from line 0's rows to the last line's covers n - 1 lines
    first = n - 1 if mode == "buffered" else 0
    return stamps[-1] - stamps[first], whole, n * n - 1 - first


def run(quick: bool = False) -> list[Row]:
    from qpclab.instruments.lockin_filter import order_for_slope, settle_time

    n = 21 if quick else 101
    settle = settle_time(TIME_CONSTANT_S, order_for_slope(SLOPE_DB), TOLERANCE)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        figures = {}
        for mode in ("buffered", "stepped"):
            span, whole, points = _map(mode, n, Path(tmp))
            figures[mode] = (points * settle / span, n * n * settle / whole)
        buffered, stepped = figures["buffered"], figures["stepped"]
        rows.append(Row(f"buffered {n} x {n} gate-gate map, 1 ms, GPIB: physical bound / wall time",
                        f"{buffered[0]:.3f} (whole run {buffered[1]:.3f})",
                        f"stepped {stepped[0]:.3f} (whole run {stepped[1]:.3f})", buffered[0], ">= 0.9",
                        buffered[0] >= 0.9))
    return rows


if __name__ == "__main__":
    from common import HEADER

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a 21 x 21 map")
    args = ap.parse_args()
    print(HEADER)
    for row in run(quick=args.quick):
        print(row.markdown())
    sys.exit(0)
