"""The ``qpclab`` command.

    qpclab demo [--out DIR]      simulated staircase, no hardware, no display: CSV + PNG in DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from .analysis.figures import staircase_figure
    from .procedures.runner import run_procedure
    from .procedures.staircase import Staircase

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data_path = out / f"staircase-{stamp}.csv"
    n = 1
    while data_path.exists():
        data_path = out / f"staircase-{stamp}-{n}.csv"
        n += 1
    proc = Staircase()
    if args.station:
        proc.station_file = str(Path(args.station).resolve())
    proc.start, proc.stop, proc.step = args.start, args.stop, args.step
    print(f"qpclab demo: simulated GaAs QPC at 50 mK, gate {proc.start:g} V -> {proc.stop:g} V "
          f"in {proc.step * 1e3:g} mV steps (station: {proc.station_file or 'packaged sim_configs/qpc_lab.yaml'})")
    result = run_procedure(proc, data_path, progress=not args.quiet)
    df = pd.read_csv(data_path, comment="#")
    png = staircase_figure(df["Gate (V)"], df["G/G0"], data_path.with_suffix(".png"),
                           title="Simulated QPC staircase (qpclab demo)")
    print(f"{result.points} points, {result.status}, {result.seconds:.1f} s")
    print(f"data:   {data_path.resolve()}")
    print(f"figure: {png.resolve()}")
    return 0 if result.status == "finished" else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qpclab", description="Quantum point contact experiments at a dilution fridge.")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="run a simulated staircase (no hardware, no display) and save CSV + PNG",
                       description="Run a conductance staircase on the simulated lab and write the data (CSV with "
                                   "a metadata header) and a PNG figure of G/G0 against gate voltage.")
    d.add_argument("--out", default="qpclab-demo", help="output folder (default: ./qpclab-demo)")
    d.add_argument("--station", default=None, help="station file (default: the packaged simulated lab)")
    d.add_argument("--start", type=float, default=-1.4, help="gate start, V (default -1.4)")
    d.add_argument("--stop", type=float, default=0.0, help="gate stop, V (default 0.0)")
    d.add_argument("--step", type=float, default=0.002, help="gate step, V (default 0.002)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        print(f"qpclab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
