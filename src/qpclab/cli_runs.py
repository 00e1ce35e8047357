"""The ``qpclab`` commands on the run catalogue.

    qpclab runs [QUERY...] [--rebuild [FOLDER...]]   list runs (oldest first); --rebuild: from the files first
    qpclab tag RUN TAG... [--remove]                  tag a run (RUN: its ID, the start of it, or its file)
    qpclab note RUN TEXT...                           add a note to a run
    qpclab export RUN --to netcdf [--out FILE]        the run as NetCDF-4 (h5netcdf), maps as 2D arrays
    qpclab analyse RUN [report options]               as for a file: numbers and figures
    qpclab analyse --batch QUERY [--workers N | --scheduler ADDRESS]   fit many runs, results into the catalogue

QUERY: ``field=value`` terms (procedure, sample, cooldown, status, tag, since, until: dates such as 2026-12-04)
and conditions on analysis results (``'T_e<0.1'``, ``'F>=0.3'``), all of which must hold, e.g.
``qpclab runs procedure=shot-noise sample=B 'T_e<0.1'``. Every command takes ``--catalogue PATH`` (default
``$QPCLAB_CATALOGUE``, else ``~/.local/share/qpclab/runs.sqlite``).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

__all__ = ["add_commands", "analyse_main"]


def _catalogue(args):
    from .procedures.catalogue import Catalogue

    return Catalogue(args.catalogue)


def _run_path(args) -> Path:
    """RUN as a file: an existing file as given, else the catalogue's file of that run ID."""
    path = Path(args.run)
    return path if path.is_file() else _catalogue(args).get(args.run).path


def _runs(args) -> int:
    from .procedures.catalogue import parse_query

    catalogue = _catalogue(args)
    query = parse_query(args.query)  # bad terms are refused before the catalogue is touched
    if args.rebuild is not None:
        folders = args.rebuild or catalogue.known_folders() or [Path("data")]
        n = catalogue.rebuild(folders)
        print(f"catalogue {catalogue.path} rebuilt from {', '.join(map(str, folders))}: {n} runs")
    entries = catalogue.query(**query, limit=args.limit)
    for entry in entries:
        print(entry.line())
        if args.long:
            for name, (value, stderr, unit) in sorted(entry.results.items()):
                print(f"    {name} = {value:.6g} ± {stderr:.2g} {unit}")
            for _, text in entry.notes:
                print(f"    note: {text}")
    print(f"{len(entries)} run(s)", file=sys.stderr)
    return 0


def _tag(args) -> int:
    entry = _catalogue(args).tag(args.run, args.tags, remove=args.remove)
    print(f"{entry.id}: tags {', '.join(entry.tags) or '(none)'}")
    return 0


def _note(args) -> int:
    entry = _catalogue(args).note(args.run, " ".join(args.text))
    print(f"{entry.id}: {len(entry.notes)} note(s)")
    return 0


def _export(args) -> int:
    from .analysis.export import export_netcdf

    out = export_netcdf(_run_path(args), args.out)
    print(f"netcdf: {out.resolve()}")
    return 0


def _guarded(func):
    """A catalogue that cannot be read or written: one line, exit code 2."""

    def run(args) -> int:
        try:
            return func(args)
        except sqlite3.Error as exc:
            print(f"qpclab {args.command}: catalogue {_catalogue(args).path}: {exc}", file=sys.stderr)
            return 2

    return run


def add_commands(sub) -> None:
    """The catalogue's subcommands on ``qpclab``'s subparsers."""
    def parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--catalogue", default=None, help="catalogue database (default: $QPCLAB_CATALOGUE or "
                                                         "~/.local/share/qpclab/runs.sqlite)")
        return p

    r = parser("runs", "list the catalogued runs matching a query (field=value terms, conditions on results)")
    r.add_argument("query", nargs="*", metavar="QUERY", help="procedure=NAME sample=S cooldown=C status=finished "
                   "tag=T since=DATE until=DATE 'T_e<0.1' ...")
    r.add_argument("--rebuild", nargs="*", metavar="FOLDER", default=None,
                   help="first rebuild the catalogue from the run files under FOLDER(s) (default: every folder "
                        "that ever received a run)")
    r.add_argument("--long", action="store_true", help="with results and notes")
    r.add_argument("--limit", type=int, default=None, help="at most this many runs")
    r.set_defaults(func=_guarded(_runs))

    t = parser("tag", "tag a run (or --remove the tags)")
    t.add_argument("run", metavar="RUN", help="run ID (or its first digits) or file")
    t.add_argument("tags", nargs="+", metavar="TAG")
    t.add_argument("--remove", action="store_true", help="remove these tags")
    t.set_defaults(func=_guarded(_tag))

    n = parser("note", "add a note to a run")
    n.add_argument("run", metavar="RUN", help="run ID (or its first digits) or file")
    n.add_argument("text", nargs="+", metavar="TEXT")
    n.set_defaults(func=_guarded(_note))

    e = parser("export", "write a run as NetCDF-4 (maps as 2D arrays on their planned grid)")
    e.add_argument("run", metavar="RUN", help="run ID (or its first digits) or file")
    e.add_argument("--to", choices=["netcdf"], default="netcdf", help="format (netcdf)")
    e.add_argument("--out", default=None, help="output file (default: the run's file with .nc)")
    e.set_defaults(func=_guarded(_export))


def _batch(argv: list[str]) -> int:
    from .analysis.batch import analyse_runs
    from .procedures.catalogue import Catalogue, parse_query

    p = argparse.ArgumentParser(prog="qpclab analyse --batch", description="Fit every catalogued run matching "
                                "QUERY (qpclab runs QUERY lists them) and store the results in the catalogue.")
    p.add_argument("--batch", required=True, metavar="QUERY", help="e.g. 'procedure=staircase sample=B'")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a dask.distributed scheduler "
                   "(tcp://host:8786) instead of local processes")
    p.add_argument("--catalogue", default=None, help="catalogue database")
    args = p.parse_args(argv)
    try:
        catalogue = Catalogue(args.catalogue)
        entries = catalogue.query(**parse_query([args.batch]))
        outcomes = analyse_runs(catalogue, entries, workers=args.workers, scheduler=args.scheduler)
    except (ValueError, OSError, sqlite3.Error) as exc:
        print(f"qpclab analyse --batch: error: {exc}", file=sys.stderr)
        return 2
    failed = [o for o in outcomes if o.error]
    for o in failed:
        print(f"  not analysed: {o.path}: {o.error}", file=sys.stderr)
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} run(s) analysed, results in {catalogue.path}")
    return 1 if failed else 0


def analyse_main(argv: list[str]) -> int:
    """``qpclab analyse``: a file or a run ID (the report), or ``--batch QUERY``."""
    from .analysis.report import main as report_main

    if any(a == "--batch" or a.startswith("--batch=") for a in argv):
        return _batch(argv)
    from .analysis.report import build_parser

    if "-h" in argv or "--help" in argv:
        print("qpclab analyse RUN: RUN is a run file or a catalogued run's ID (or its first digits); "
              "qpclab analyse --batch QUERY --help: fit many runs\n")
    given = build_parser().parse_args(argv).file  # (--help and bad options end here, as for a file)
    if not Path(given).exists():
        from .procedures.catalogue import Catalogue

        try:
            path = Catalogue().get(given).path
        except (ValueError, sqlite3.Error) as exc:
            print(f"qpclab analyse: error: {given} is no file, and {exc}", file=sys.stderr)
            return 2
        k = len(argv) - 1 - argv[::-1].index(given)
        argv = argv[:k] + [str(path)] + argv[k + 1:]
    return report_main(argv)
