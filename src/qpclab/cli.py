"""The ``qpclab`` command.

    qpclab demo [--out DIR]                          simulated staircase, no hardware, no display: CSV + PNG
    qpclab run PROCEDURE [--station FILE] [options]  a measurement, headless, with progress and time left
    qpclab run PROCEDURE --dry-run                   check every planned value against the limits; move nothing
    qpclab resume FILE                               continue an interrupted run into the same file
    qpclab gui [--station FILE] [--procedure NAME]   the live window
    qpclab analyse FILE [--out DIR]                  numbers and figures from a run
    qpclab procedures                                list the procedures

Without ``--station`` the packaged simulated station (sim_configs/qpc_lab.yaml) is used.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

# ---- parameters of a procedure as command-line options --------------------------------------------------------


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true/false")


def _add_procedure_options(parser: argparse.ArgumentParser, cls) -> None:
    from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, ListParameter

    from .procedures.base import option_name

    proc = cls()
    group = parser.add_argument_group(f"{cls.__name__} parameters (SI units)")
    params = proc.parameter_objects()
    for attr in cls.parameter_order():
        param = params[attr]
        if attr == "station_file":
            continue
        units = f" [{param.units}]" if getattr(param, "units", None) else ""
        help_text = f"{param.name}{units} (default: {param.default})"
        kwargs = {"dest": f"p_{attr}", "default": None, "help": help_text, "metavar": "VALUE"}
        if isinstance(param, BooleanParameter):
            kwargs["type"] = _bool
        elif isinstance(param, IntegerParameter):
            kwargs["type"] = int
        elif isinstance(param, FloatParameter):
            kwargs["type"] = float
        elif isinstance(param, ListParameter):
            kwargs["choices"] = list(param.choices)
            kwargs.pop("metavar")
        group.add_argument(option_name(attr), **kwargs)


def _build_procedure(cls, args: argparse.Namespace):
    """Instantiate and set parameters, each through its declared range (errors name the option)."""
    proc = cls()
    values = {attr: getattr(args, f"p_{attr}") for attr in proc.parameter_objects()
              if getattr(args, f"p_{attr}", None) is not None}
    if getattr(args, "station", None):
        values["station_file"] = str(Path(args.station).resolve())
    proc.set_values(**values)
    return proc


# ---- commands -------------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from .analysis.figures import staircase_figure
    from .procedures.runner import new_data_path, run_procedure
    from .procedures.staircase import Staircase

    proc = Staircase()
    proc.set_values(start=args.start, stop=args.stop, step=args.step,
                    **({"station_file": str(Path(args.station).resolve())} if args.station else {}))
    data_path = new_data_path(Path(args.out), "staircase")
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


def _run(args: argparse.Namespace) -> int:
    from .procedures import procedure_class
    from .procedures.runner import new_data_path, prepare, run_procedure

    cls = procedure_class(args.procedure)
    proc = _build_procedure(cls, args)
    station, plan, report = prepare(proc)
    if args.dry_run:
        print(f"dry run of {args.procedure} on station {station.name!r}: nothing is opened, nothing moves")
        print(report.text())
        return 0
    data_path = Path(args.data) if args.data else new_data_path(Path(args.out), args.procedure)
    print(f"qpclab run {args.procedure}: station {station.name!r} ({station.path}); {plan.n_points} points, "
          f"about {report.estimate_s:.0f} s")
    result = run_procedure(proc, data_path, progress=not args.quiet)
    print(f"{result.points} points, {result.status}, {result.seconds:.1f} s")
    print(f"data: {data_path.resolve()}")
    return 0 if result.status == "finished" else 1


def _resume(args: argparse.Namespace) -> int:
    from .procedures.runner import resume_run

    result = resume_run(args.file, progress=not args.quiet)
    print(f"{result.points} more points, {result.status}, {result.seconds:.1f} s")
    print(f"data: {Path(args.file).resolve()}")
    return 0 if result.status == "finished" else 1


def _gui(args: argparse.Namespace) -> int:
    try:
        from .gui import run_window
    except ImportError as exc:  # pragma: no cover - pyqtgraph/PyQt6 missing
        print(f"qpclab gui: the live window needs the gui extra (pip install 'qpclab[gui]'): {exc}", file=sys.stderr)
        return 2
    station = str(Path(args.station).resolve()) if args.station else ""
    return run_window(args.procedure, station_file=station)


def _analyse(args: argparse.Namespace) -> int:
    from .analysis.report import main as analyse_main

    return analyse_main(args.rest)


def _list(args: argparse.Namespace) -> int:
    from .procedures import PROCEDURES, procedure_class

    for name in PROCEDURES:
        doc = (procedure_class(name).__doc__ or "").strip().splitlines()[0]
        print(f"{name:16s} {doc}")
    return 0


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
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

    from .procedures import PROCEDURES, procedure_class

    r = sub.add_parser("run", help="run a measurement headless with a progress bar and the time left",
                       description="Run a procedure headless. Every point is written to the CSV as it is measured; "
                                   "Ctrl-C stops after the current point and brings the gates to their safe values.")
    r.add_argument("procedure", choices=list(PROCEDURES), metavar="PROCEDURE",
                   help="one of: " + ", ".join(PROCEDURES))
    r.add_argument("--station", default=None, help="station file (default: the packaged simulated lab)")
    r.add_argument("--out", default="data", help="output folder (default: ./data)")
    r.add_argument("--data", default=None, help="data file path (default: OUT/PROCEDURE-DATE-TIME.csv)")
    r.add_argument("--dry-run", action="store_true", help="check all planned values against the limits, list "
                                                            "what would happen, move nothing")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    # the procedure's own parameters become options once the procedure is named
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in PROCEDURES), None) if argv and argv[0] in ("run", "-v", "--verbose") else None
    if chosen is not None:
        _add_procedure_options(r, procedure_class(chosen))
    r.set_defaults(func=_run)

    rs = sub.add_parser("resume", help="continue an interrupted run into the same file",
                        description="Continue a run that was killed (no '#Status:' last line) from the procedure and "
                                    "parameters in its header, appending to the same file; points already on disk "
                                    "are not measured again.")
    rs.add_argument("file", help="the interrupted run's CSV file")
    rs.add_argument("--quiet", action="store_true", help="no progress bar")
    rs.set_defaults(func=_resume)

    g = sub.add_parser("gui", help="open the live window (pyqtgraph)")
    g.add_argument("--station", default=None, help="station file (default: the packaged simulated lab)")
    g.add_argument("--procedure", default="staircase", choices=list(PROCEDURES), help="procedure (default staircase)")
    g.set_defaults(func=_gui)

    a = sub.add_parser("analyse", help="print a report of the numbers in a run and write its figures",
                       add_help=False, description="qpclab analyse FILE [--out DIR] [--lever eV/V] "
                       "[--temperature K] [--hw-x eV] [--station FILE|default] [--no-pdf]; "
                       "see qpclab analyse --help")
    a.add_argument("rest", nargs=argparse.REMAINDER, help="FILE and options (qpclab analyse --help)")
    a.set_defaults(func=_analyse)

    ls = sub.add_parser("procedures", help="list the procedures")
    ls.set_defaults(func=_list)
    from .cli_runs import add_commands

    add_commands(sub)  # runs, tag, note, export: the run catalogue
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["analyse"]:  # its options belong to the analysis report (argparse REMAINDER cannot take --help)
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        from .cli_runs import analyse_main

        return analyse_main(argv[1:])
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from .instruments.roles import InstrumentError
    from .procedures.writer import RunWriteError

    try:
        return args.func(args)
    except InstrumentError as exc:  # the run stopped, gates safe, data kept: say what failed and where
        print(f"qpclab {args.command}: instrument error: {exc}", file=sys.stderr)
        return 1
    except RunWriteError as exc:  # the run stopped like an abort, gates safe, every whole row kept
        print(f"qpclab {args.command}: the data file could not be written, run stopped: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"qpclab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
