"""Run every benchmark and print one markdown table (also written to benchmarks/results.md).

    python benchmarks/run.py            # everything (the 1e6-point memory run takes several minutes)
    python benchmarks/run.py --quick    # memory run with 1e5 points, shorter timings

Every figure is a ratio against a baseline measured in the same run, on the same machine, interleaved where
possible: these machines are shared and noisy, absolute times are not comparable between runs.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import HEADER, Row  # noqa: E402


def _section(name: str, fn) -> list[Row]:
    print(f"running {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        rows = fn()
    except Exception:  # noqa: BLE001 - one failing benchmark must not hide the others
        traceback.print_exc()
        rows = [Row(name, "error", "-", float("nan"), "-", False)]
    print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows


def _live_plot_rows() -> list[Row]:
    """The live-plot benchmark's (name, qpclab s, pymeasure s, pymeasure/qpclab) rows as table rows: the ratio
    here is qpclab / pymeasure; the bar is a full refresh well under pymeasure's 200 ms refresh period."""
    bench = importlib.import_module("bench_live_plot")
    rows = []
    for name, ours, stock, _ in bench.run():
        full = "update + render" in name
        ok = ours < 0.1 if full else ours <= stock
        rows.append(Row(f"live plot, {name}", f"{ours * 1e3:.2f} ms", f"pymeasure {stock * 1e3:.1f} ms",
                        ours / stock, "< 100 ms per refresh" if full else "faster than pymeasure", ok))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs (memory benchmark at 1e5 points)")
    ap.add_argument("--out", default=str(HERE / "results.md"), help="markdown file to write")
    args = ap.parse_args(argv)

    rows: list[Row] = []
    overhead = importlib.import_module("bench_overhead")
    rows += _section("overhead", overhead.run)
    rows += _section("settle efficiency", lambda: [overhead.settle_efficiency()])
    rows += _section("query rate", importlib.import_module("bench_query_rate").run)
    rows += _section("bus latency", importlib.import_module("bench_bus_latency").run)
    rows += _section("buffered sweeps", lambda: importlib.import_module("bench_buffered").run(quick=args.quick))
    rows += _section("live plot", _live_plot_rows)
    try:
        rows += _section("analysis", importlib.import_module("bench_analysis").run)
    except ImportError as exc:
        print(f"skipping analysis: {exc}", file=sys.stderr)
    rows += _section("catalogue", lambda: importlib.import_module("bench_catalogue").run(quick=args.quick))
    memory = importlib.import_module("bench_memory")
    rows += _section("memory", lambda: memory.run(large=100_000 if args.quick else 1_000_000))

    table = "\n".join([HEADER] + [r.markdown() for r in rows])
    stamp = time.strftime("%Y-%m-%d %H:%M")
    text = (f"# qpclab benchmarks\n\n{stamp}, {platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}\n\n{table}\n")
    Path(args.out).write_text(text)
    print(table)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
