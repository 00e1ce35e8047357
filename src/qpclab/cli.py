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


def _build_procedure(cls, args: argparse.Namespace, station_file: str):
    """Instantiate and set parameters, each through its declared range (errors name the option)."""
    proc = cls()
    values = {attr: getattr(args, f"p_{attr}") for attr in proc.parameter_objects()
              if getattr(args, f"p_{attr}", None) is not None}
    proc.set_values(station_file=station_file, **values)
    return proc


def _station(text: str | None) -> str:
    """A station file's absolute path ("" for none): a path or a packaged lab's name (qpc, qpc_lab.yaml...)."""
    from .sim_configs import station_path

    return str(station_path(text)) if text else ""


def _pick_lab(cls, args: argparse.Namespace) -> str:
    """The first packaged lab that has what the procedure needs (with the options given), said on the terminal."""
    from .instruments.station import load_station
    from .sim_configs import packaged_labs

    reasons = []
    for name, path in packaged_labs().items():
        proc = _build_procedure(cls, args, str(path))
        try:
            proc.check(load_station(path))
        except ValueError as exc:
            reasons.append(f"{name}: {exc}")
            continue
        if name != "qpc":
            print(f"qpclab: no --station given: using the packaged lab {name!r} ({path.name}), which has what "
                  f"{args.procedure} needs")
        return str(path)
    raise ValueError(f"no packaged lab has what {args.procedure} needs: " + "; ".join(reasons))


# ---- commands -------------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    from .analysis.figures import staircase_figure
    from .procedures.runner import new_data_path, run_procedure
    from .procedures.staircase import Staircase

    proc = Staircase()
    proc.set_values(start=args.start, stop=args.stop, step=args.step, station_file=_station(args.station))
    data_path = new_data_path(Path(args.out), "staircase")
    print(f"qpclab demo: simulated GaAs QPC at 50 mK (0.7 structure, charge noise, finite excitation), gate "
          f"{proc.start:g} V -> {proc.stop:g} V in {proc.step * 1e3:g} mV steps (station: {proc.station_file})")
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
    from .procedures.base import GateSweepProcedure
    from .procedures.runner import new_data_path, prepare, run_procedure

    cls = procedure_class(args.procedure)
    proc = _build_procedure(cls, args, _station(args.station) if args.station else _pick_lab(cls, args))
    station, plan, report = prepare(proc)
    if args.dry_run:
        print(f"dry run of {args.procedure} on station {station.name!r}: nothing is opened, nothing moves")
        print(report.text())
    if isinstance(proc, GateSweepProcedure) and proc.mode_note:
        print(f"sweep mode: {proc.mode_note}")
    if args.dry_run:
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
    return run_window(args.procedure, station_file=_station(args.station))


def _analyse(args: argparse.Namespace) -> int:
    from .analysis.report import main as analyse_main

    return analyse_main(args.rest)


def _labs(args: argparse.Namespace) -> int:
    from .instruments.station import load_station
    from .procedures import PROCEDURES, procedure_class
    from .sim_configs import packaged_labs

    for name, path in packaged_labs().items():
        station = load_station(path)
        runs = []
        for proc_name in PROCEDURES:
            try:
                procedure_class(proc_name)().check(station)
            except ValueError:
                continue
            runs.append(proc_name)
        print(f"{name} ({path.name}): {station.name}")
        for inst in station.instruments.values():
            print(f"    {inst.name:14s} {inst.driver:14s} {inst.address:34s} {inst.role}")
        gates = ", ".join(station.gates) + (", bias" if station.bias else "")
        print(f"    gates: {gates}; runs: {', '.join(runs)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from .procedures import PROCEDURES, procedure_class

    for name in PROCEDURES:
        doc = (procedure_class(name).__doc__ or "").strip().splitlines()[0]
        print(f"{name:16s} {doc}")
    return 0


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qpclab", description="Quantum point contact experiments at a dilution fridge.")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="run a simulated staircase (no hardware, no display) and save CSV + PNG",
                       description="Run a conductance staircase on the simulated lab and write the data (CSV with "
                                   "a metadata header) and a PNG figure of G/G0 against gate voltage.")
    d.add_argument("--out", default="qpclab-demo", help="output folder (default: ./qpclab-demo)")
    d.add_argument("--station", default="realistic", help="station file or packaged lab (default: realistic, the "
                                                               "packaged lab with a realistic QPC)")
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
    after_run = argv[argv.index("run") + 1:] if "run" in argv else []
    chosen = next((a for a in after_run if a in PROCEDURES), None)
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
    lb = sub.add_parser("labs", help="list the packaged simulated labs, their instruments and what they can run")
    lb.set_defaults(func=_labs)
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
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - one line for the user; --debug shows the traceback
        if args.debug:
            raise
        return _error(args.command, exc)


def _error(command: str, exc: Exception) -> int:
    """One line on stderr naming what went wrong (a dry run lists every value beyond a limit, one per line);
    exit code 2 for what the user can fix, 1 for a run that failed."""
    from .instruments.roles import InstrumentError
    from .procedures.writer import RunWriteError

    if isinstance(exc, InstrumentError):  # the run stopped, gates safe, data kept: say what failed and where
        text, code = f"instrument error: {exc}", 1
    elif isinstance(exc, RunWriteError):  # the run stopped like an abort, gates safe, every whole row kept
        text, code = f"the data file could not be written, run stopped: {exc}", 1
    elif isinstance(exc, (ValueError, OSError)):
        text, code = f"error: {exc}", 2
    else:
        text, code = f"{type(exc).__name__}: {exc} (qpclab --debug {command} ... shows the traceback)", 1
    print(f"qpclab {command}: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
