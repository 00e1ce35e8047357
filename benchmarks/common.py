"""Shared helpers for the benchmarks: the benchmark lab, timing, markdown rows."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH_LAB = HERE / "bench_lab.yaml"
GATE, BIAS, LOCKIN = "GPIB0::24::INSTR", "GPIB0::25::INSTR", "GPIB0::8::INSTR"


def library() -> str:
    return f"{BENCH_LAB}@qpcsim"


def reset_lab() -> None:
    from qpclab.instruments.sim.backend import SimVisaLibrary

    SimVisaLibrary(str(BENCH_LAB)).reset()


@dataclass
class Row:
    benchmark: str
    measured: str  #: what qpclab achieved, with units
    baseline: str  #: what it is compared with, with units
    ratio: float  #: measured / baseline (or the efficiency itself)
    target: str  #: the issue's bar
    ok: bool

    def markdown(self) -> str:
        return (f"| {self.benchmark} | {self.measured} | {self.baseline} | {self.ratio:.3f} | {self.target} | "
                f"{'yes' if self.ok else 'NO'} |")


HEADER = ("| benchmark | qpclab | baseline (same run) | ratio | target | met |\n"
          "| --- | --- | --- | --- | --- | --- |")


def median_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
