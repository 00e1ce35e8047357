"""Peak memory of a 1e6-point run against a 1e4-point run (each in its own process).

The peak is the child's own high-water mark (``VmHWM`` in /proc/self/status, Linux): ``ru_maxrss`` is not, since
Linux carries the parent's resident size at the fork over the exec, and run.py's process is large by the time the
memory benchmark runs (it measured 767 MiB for both runs).

The run is the Staircase procedure on the benchmark lab through the headless runner, at the shortest lock-in
time constant: everything a long night does (safe gate, settle, read, convert, CSV line, progress) a million
times. Bounded memory means the ratio stays near 1.
"""

from __future__ import annotations

import subprocess
import sys

from common import BENCH_LAB, Row

CHILD = r"""
import resource, sys, tempfile
from pathlib import Path
from qpclab.procedures.runner import run_procedure
from qpclab.procedures.staircase import Staircase
n = int(sys.argv[1])
p = Staircase()
p.station_file = sys.argv[2]
p.start, p.stop = -1.4, -0.2
p.step = (p.stop - p.start) / (n - 1)
p.time_constant = 1e-5
p.settle_tolerance = 0.5
with tempfile.TemporaryDirectory() as tmp:
    r = run_procedure(p, Path(tmp) / "run.csv", progress=False)
try:
    with open("/proc/self/status") as fh:
        peak_kiB = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
except OSError:  # not Linux: the rusage figure (fine when the parent is small)
    peak_kiB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(r.points, peak_kiB / 1024.0)
"""


def peak_MiB(n: int) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(BENCH_LAB)], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), float(out[1])


def run(small: int = 10_000, large: int = 1_000_000) -> list[Row]:
    n_small, m_small = peak_MiB(small)
    n_large, m_large = peak_MiB(large)
    ratio = m_large / m_small
    return [Row(f"peak memory, {n_large:,}-point run", f"{m_large:.0f} MiB", f"{n_small:,} points: {m_small:.0f} MiB",
                ratio, "bounded (<= 1.25)", ratio <= 1.25)]


if __name__ == "__main__":
    from common import HEADER

    large = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(HEADER)
    for row in run(large=large):
        print(row.markdown())
