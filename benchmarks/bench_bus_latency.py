"""A per-point Keithley 2400 + SR830 loop on a lab with GPIB bus timing costs what the bus timing predicts.

Per point the loop writes the gate level to the Keithley 2400 and queries X and Y from the SR830 (``SNAP?1,2``):
three GPIB operations. It runs on two labs that differ only in ``simulation.bus_timing``: bench_lab.yaml
(instantaneous) and gpib_lab.yaml (typical GPIB timing). The extra time the GPIB lab takes is compared with what
the timing predicts for the operations and bytes the loop exchanged: ``sum(per_operation_s + per_byte_s * bytes)``.
Interleaved runs, median of five: the ratio measured / predicted is the figure (1 = the latency is what it costs).
"""

from __future__ import annotations

import statistics
import time

import pyvisa

from common import BENCH_LAB, GATE, HERE, LOCKIN, Row

GPIB_LAB = HERE / "gpib_lab.yaml"


def _loop(lab_path, n: int) -> tuple[float, int, int]:
    """(seconds for n points, operations, bytes transferred) of the per-point loop on a lab."""
    from qpclab.instruments.sim.backend import SimVisaLibrary

    SimVisaLibrary(str(lab_path)).reset()
    rm = pyvisa.ResourceManager(f"{lab_path}@qpcsim")
    gate = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    li = rm.open_resource(LOCKIN, read_termination="\n", write_termination="\n")
    gate.write(":SOUR:FUNC VOLT;:SOUR:VOLT -1.4;:OUTP ON")
    li.write("OFLT0;OFSL3;SENS25;SLVL0.1")
    ops = n_bytes = 0
    t0 = time.perf_counter()
    for k in range(n):
        level = f":SOUR:VOLT {-1.4 + 1.2 * k / (n - 1):.6f}"
        gate.write(level)
        reply = li.query("SNAP?1,2")
        ops += 3
        n_bytes += len(level) + 1 + len("SNAP?1,2") + 1 + len(reply) + 1  # terminations included
    dt = time.perf_counter() - t0
    gate.close()
    li.close()
    return dt, ops, n_bytes


def run(n: int = 300, repeats: int = 5) -> list[Row]:
    from qpclab.instruments.sim.bus_timing import TYPICAL

    gpib = TYPICAL["GPIB"]
    measured, predicted = [], []
    for _ in range(repeats):
        fast, _, _ = _loop(BENCH_LAB, n)
        slow, ops, n_bytes = _loop(GPIB_LAB, n)
        measured.append((slow - fast) / n)
        predicted.append((ops * gpib.per_operation_s + n_bytes * gpib.per_byte_s) / n)
    m, p = statistics.median(measured), statistics.median(predicted)
    ratio = m / p
    return [Row("GPIB bus timing: K2400 write + SR830 SNAP? per point", f"{m * 1e3:.3f} ms extra",
                f"predicted {p * 1e3:.3f} ms", ratio, "0.9-1.1", 0.9 <= ratio <= 1.1)]


if __name__ == "__main__":
    from common import HEADER

    print(HEADER)
    for row in run():
        print(row.markdown())
