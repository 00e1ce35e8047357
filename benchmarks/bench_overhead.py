"""Software overhead per point of a stepped staircase, and settle-limited efficiency.

Per-point time excludes fixed costs (connecting, creating files and databases): the floor and qpclab are timed
from per-point time stamps taken after each read (qpclab's own "Time (s)" column), first point to last; QCoDeS's
do1d is timed as the difference between a 2N-point and an N-point run divided by N. The settling wait (the same
for all three) is then subtracted to leave the software overhead. Each figure is the median of five runs,
interleaved so that load on the (shared) machine hits all alike.

- floor: the same instrument traffic done with bare pyvisa calls on the same simulated lab: per point one gate
  write, one lock-in message reading X, Y and the overload status (``SNAP?1,2;LIAS?``, two replies), and each
  Keithley's compliance flag (``:SENS:CURR:PROT:TRIP?``, gate and bias source), as qpclab sends (it reads the
  overload status and the compliance of every source every point, so that no overloaded reading and no point
  taken while a gate leaks is ever recorded);
- qpclab: the Staircase procedure through the headless runner (safe gate, settle, read, convert, CSV line);
- QCoDeS: do1d with QCoDeS's own Keithley2400 and SR830 drivers on the same simulated lab (optional).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pyvisa

from common import BENCH_LAB, BIAS, GATE, LOCKIN, Row, library, reset_lab

TAU = 1e-5  # s: SR830 OFLT 0
SLOPE = 24


def _settle() -> float:
    from qpclab.instruments.lockin_filter import order_for_slope, settle_time

    return settle_time(TAU, order_for_slope(SLOPE), 1e-3)


def _values(n: int) -> list[float]:
    return [-1.4 + 1.2 * k / (n - 1) for k in range(n)]


def floor_sweep(n: int) -> float:
    reset_lab()
    rm = pyvisa.ResourceManager(library())
    gate = rm.open_resource(GATE, read_termination="\n", write_termination="\n")
    bias = rm.open_resource(BIAS, read_termination="\n", write_termination="\n")
    li = rm.open_resource(LOCKIN, read_termination="\n", write_termination="\n")
    gate.write(":SOUR:FUNC VOLT;:SOUR:VOLT -1.4;:OUTP ON")
    li.write("OFLT0;OFSL3;SENS25;SLVL0.1")
    settle = _settle()
    stamps = []
    for v in _values(n):
        gate.write(f":SOUR:VOLT {v:g}")
        _sleep(settle)
        li.write("SNAP?1,2;LIAS?")
        x, y = (float(s) for s in li.read().split(","))
        overloaded = int(li.read()) & 0b101
        tripped = [int(source.query(":SENS:CURR:PROT:TRIP?")) for source in (gate, bias)]
        if overloaded or any(tripped):  # the decision qpclab makes on the same replies
            raise RuntimeError(f"the floor's run overloaded ({overloaded}) or tripped ({tripped}) at {v:g} V")
        stamps.append(time.monotonic())  # where qpclab stamps its points: after the read
    return (stamps[-1] - stamps[0]) / (n - 1)  # as for qpclab: from the first point's stamp to the last


def _sleep(seconds: float) -> None:
    """The floor waits as precisely as qpclab does (sleep, then spin for the last 2 ms)."""
    end = time.perf_counter() + seconds
    while True:
        remaining = end - time.perf_counter()
        if remaining <= 0:
            return
        if remaining > 0.002:
            time.sleep(min(remaining - 0.0015, 0.05))


def qpclab_sweep(n: int) -> float:
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    reset_lab()
    p = Staircase()
    p.station_file = str(BENCH_LAB)
    p.start, p.stop, p.step = -1.4, -0.2, 1.2 / (n - 1)
    p.time_constant, p.filter_slope = TAU, SLOPE
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.csv"
        run_procedure(p, path, progress=False)
        import pandas as pd

        t = pd.read_csv(path, comment="#")["Time (s)"].to_numpy()
        return (t[-1] - t[0]) / (len(t) - 1)


def qcodes_sweep(n: int) -> float | None:
    try:
        import qcodes as qc
        from qcodes.dataset import do1d, initialise_or_create_database_at, load_or_create_experiment
        from qcodes.instrument_drivers.Keithley import Keithley2400
        from qcodes.instrument_drivers.stanford_research import SR830
    except ImportError:
        return None
    reset_lab()
    qc.Instrument.close_all()
    with tempfile.TemporaryDirectory() as tmp:
        initialise_or_create_database_at(str(Path(tmp) / "bench.db"))
        load_or_create_experiment("bench", "sim")
        k = Keithley2400("k2400", GATE, visalib=library())
        li = SR830("sr830", LOCKIN, visalib=library())
        k.output("on")
        li.time_constant(TAU)
        li.filter_slope(SLOPE)
        li.sensitivity(0.5)
        t0 = time.perf_counter()
        do1d(k.volt, -1.4, -0.2, n, _settle(), li.X, do_plot=False, show_progress=False)
        dt = time.perf_counter() - t0
        qc.Instrument.close_all()
        return dt


def _qcodes_per_point(n: int) -> float | None:
    a = qcodes_sweep(n)
    return None if a is None else (qcodes_sweep(2 * n) - a) / n


def run(n: int = 1000, repeats: int = 5) -> list[Row]:
    import statistics

    settle = _settle()
    floors, ours, qcs = [], [], []
    for _ in range(repeats):
        floors.append(floor_sweep(n))
        ours.append(qpclab_sweep(n))
        qcs.append(_qcodes_per_point(n))
    floor = statistics.median(floors) - settle
    mine = statistics.median(ours) - settle
    rows = [Row("overhead per point vs bare pyvisa floor", f"{mine * 1e6:.0f} us",
                f"floor {floor * 1e6:.0f} us", mine / floor, "<= 1.3", mine / floor <= 1.3)]
    if qcs[0] is not None:
        q = statistics.median(qcs) - settle
        rows.append(Row("overhead per point vs QCoDeS do1d", f"{mine * 1e6:.0f} us", f"do1d {q * 1e6:.0f} us",
                        mine / q, "<= 0.5", mine / q <= 0.5))
    return rows


def settle_efficiency(n: int = 200, tau: float = 0.01) -> Row:
    """N x settle-wait / total time of an N-point staircase at a finite time constant (the physical limit = 1)."""
    from qpclab.instruments.lockin_filter import order_for_slope, settle_time
    from qpclab.procedures.runner import run_procedure
    from qpclab.procedures.staircase import Staircase

    reset_lab()
    p = Staircase()
    p.station_file = str(BENCH_LAB)
    p.start, p.stop, p.step = -1.4, -0.2, 1.2 / (n - 1)
    p.time_constant, p.filter_slope = tau, SLOPE
    wait = settle_time(tau, order_for_slope(SLOPE), p.settle_tolerance)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.csv"
        run_procedure(p, path, progress=False)
        import pandas as pd

        t = pd.read_csv(path, comment="#")["Time (s)"].to_numpy()
    total = t[-1] - t[0] + t[0]  # first point's own settle is included in t[0]
    eff = n * wait / total
    return Row(f"settle-limited efficiency, {n} points at tau = {tau * 1e3:g} ms ({SLOPE} dB/oct)",
               f"{total:.2f} s", f"{n} x {wait * 1e3:.1f} ms = {n * wait:.2f} s", eff, ">= 0.97", eff >= 0.97)


if __name__ == "__main__":
    from common import HEADER

    print(HEADER)
    for row in run():
        print(row.markdown())
    print(settle_efficiency().markdown())
