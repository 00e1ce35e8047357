"""The run catalogue: every run's ID, procedure, station, sample, cooldown, times, status, file, parameters,
analysis results, tags and notes, in one SQLite database (the standard library's sqlite3, WAL mode).

The run files stay the durable record. A run's ID, station (with its ``sample`` and ``cooldown``), start, status
and plan are in its CSV header; its tags, notes and batch-analysis results are appended, one JSON object a line,
to ``<run>.notes.jsonl`` beside it (the CSV itself is never reopened once written). :meth:`Catalogue.rebuild`
reads all of that back, so deleting the database loses nothing.

Where the database is: ``$QPCLAB_CATALOGUE`` if set, else ``$XDG_DATA_HOME/qpclab/runs.sqlite`` (default
``~/.local/share/qpclab/runs.sqlite``): one catalogue per user, whatever folder a run is written to (runs go to
``./data`` of wherever qpclab was started, so a catalogue beside each data folder would split one cooldown's runs
over several). Every folder that received a run is listed in ``runs.sqlite.folders`` beside it, which is what
``qpclab runs --rebuild`` scans when no folder is named.

Concurrent writers (two runs, the window, a notebook) are safe: each operation opens its own connection, writes in
one ``BEGIN IMMEDIATE`` transaction and waits up to 30 s for another writer; WAL lets readers go on meanwhile.
A catalogue that cannot be written never stops a measurement: the runner waits at most 5 s for it, logs a
warning and the run goes on.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..analysis.io import parse_header
from .writer import ENCODING, complete_rows, run_status

log = logging.getLogger(__name__)

__all__ = ["Catalogue", "RunEntry", "Condition", "parse_query", "default_path", "new_run_id", "read_entry",
           "notes_path", "record_start", "record_end", "ENV"]

#: the environment variable naming the catalogue database
ENV = "QPCLAB_CATALOGUE"
#: a run that is being measured (set by the runner; a file without a ``#Status:`` line reads back as "incomplete")
RUNNING = "running"
INCOMPLETE = "incomplete"
#: how long a run waits for the catalogue (s) before going on without it
RUNNER_TIMEOUT_S = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, procedure TEXT, station TEXT, sample TEXT, cooldown TEXT,
    started REAL, ended REAL, status TEXT, points INTEGER, path TEXT UNIQUE, parameters TEXT);
CREATE TABLE IF NOT EXISTS tags (run_id TEXT, tag TEXT, PRIMARY KEY (run_id, tag));
CREATE TABLE IF NOT EXISTS notes (run_id TEXT, time REAL, text TEXT);
CREATE TABLE IF NOT EXISTS results (run_id TEXT, name TEXT, value REAL, stderr REAL, unit TEXT,
    PRIMARY KEY (run_id, name));
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE INDEX IF NOT EXISTS results_name ON results (name, value);
"""


def default_path() -> Path:
    """``$QPCLAB_CATALOGUE``, else ``$XDG_DATA_HOME/qpclab/runs.sqlite`` (``~/.local/share/qpclab/runs.sqlite``)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "qpclab" / "runs.sqlite"


def new_run_id() -> str:
    """A new run ID: 10 hex digits, random (two machines, two catalogues: still unique)."""
    return uuid.uuid4().hex[:10]


def _file_id(path: Path) -> str:
    """The ID of a file written before runs had one: from its absolute path, the same at every rebuild."""
    return "f" + uuid.uuid5(uuid.NAMESPACE_URL, str(path.resolve())).hex[:9]


def notes_path(run_path: str | os.PathLike) -> Path:
    """The run's tags, notes and results: ``<run>.notes.jsonl`` beside ``<run>.csv``."""
    return Path(run_path).with_suffix(".notes.jsonl")


@dataclass
class RunEntry:
    """One run in the catalogue. Times are Unix seconds (None if unknown); ``results``: name -> (value, stderr,
    unit) in SI units; ``notes``: (time, text)."""

    id: str
    path: Path
    procedure: str = ""
    station: str = ""
    sample: str = ""
    cooldown: str = ""
    started: float | None = None
    ended: float | None = None
    status: str = INCOMPLETE
    points: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)
    results: dict[str, tuple[float, float, str]] = field(default_factory=dict)

    def line(self) -> str:
        """One line of ``qpclab runs``."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started)) if self.started else "-"
        tags = f" [{', '.join(self.tags)}]" if self.tags else ""
        return (f"{self.id:10s}  {when:16s}  {self.procedure:15s}  {self.sample or '-':10s}  "
                f"{self.cooldown or '-':8s}  {self.status:10s} {self.points:7d}  {self.path}{tags}")


# ---- reading a run file ----------------------------------------------------------------------------------------


def _timestamp(text: str) -> float | None:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def _status_line(path: Path) -> str | None:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 8192))
        tail = fh.read().decode(ENCODING, errors="replace")
    return next((ln for ln in reversed(tail.splitlines()) if ln.startswith("#Status:")), None)


def read_entry(path: str | os.PathLike) -> RunEntry | None:
    """The catalogue entry of a run file, from its header, its ``#Status:`` line and its ``.notes.jsonl``; None
    for a file that is not a qpclab run (no ``#Plan:`` line: spectra, exports, other CSVs)."""
    path = Path(path).resolve()
    header = []
    with open(path, "r", encoding=ENCODING, errors="replace") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            header.append(line)
    procedure, _, metadata = parse_header(header)
    plan = metadata.get("Plan")
    if not plan:
        return None
    station = metadata.get("Station")
    inner = station.get("station", {}) if isinstance(station, dict) else {}
    inner = inner if isinstance(inner, dict) else {}
    status = run_status(path)
    ended, points = None, None
    if status is not None:
        text = (_status_line(path) or "").rpartition(" at ")[2]  # "<time>, <n> points"
        when, _, count = text.partition(", ")
        ended = _timestamp(when)
        points = int(count.split()[0]) if count.split() and count.split()[0].isdigit() else None
    entry = RunEntry(id=str(metadata.get("Run ID") or _file_id(path)), path=path,
                     procedure=str(plan.get("procedure") or procedure), station=str(inner.get("name", "")),
                     sample=str(inner.get("sample", "")), cooldown=str(inner.get("cooldown", "")),
                     started=_timestamp(str(metadata.get("Started", ""))), ended=ended,
                     status=status or INCOMPLETE,
                     points=points if points is not None else complete_rows(path),
                     parameters=dict(plan.get("parameters") or {}))
    _apply_notes(entry)
    return entry


def _apply_notes(entry: RunEntry) -> None:
    """Tags, notes and results from the run's ``.notes.jsonl``, in the order they were written."""
    side = notes_path(entry.path)
    if not side.exists():
        return
    for raw in side.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue  # a half-written last line (a crash while appending): the others stand
        if not isinstance(item, dict):
            continue
        if "tag" in item and item["tag"] not in entry.tags:
            entry.tags.append(str(item["tag"]))
        elif "untag" in item and item["untag"] in entry.tags:
            entry.tags.remove(item["untag"])
        elif "note" in item:
            entry.notes.append((float(item.get("time", 0.0)), str(item["note"])))
        elif isinstance(item.get("results"), dict):
            entry.results = {str(k): (_float(v[0]), _float(v[1]), str(v[2])) for k, v in item["results"].items()}


def _append_note(run_path: Path, item: Mapping[str, Any]) -> None:
    """One line appended to the run's ``.notes.jsonl`` (one write of a whole line, then fsync)."""
    line = json.dumps({"time": time.time(), **item}, ensure_ascii=False) + "\n"
    fd = os.open(notes_path(run_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- conditions on results --------------------------------------------------------------------------------------

_CONDITION = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|==|!=|<|>|=)\s*([-+0-9.eE]+|nan|inf)\s*$")


@dataclass(frozen=True)
class Condition:
    """A condition on an analysis result, ``NAME OP NUMBER`` (``T_e<0.1``, ``fano>=0.2``; SI units)."""

    name: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _CONDITION.match(text)
        if m is None:
            raise ValueError(f"{text!r} is not a condition NAME OP NUMBER (e.g. 'T_e<0.1'; OP one of "
                             "<, <=, >, >=, =, !=)")
        try:
            value = float(m.group(3))
        except ValueError:
            raise ValueError(f"{text!r}: {m.group(3)!r} is not a number") from None
        return cls(m.group(1), "=" if m.group(2) == "==" else m.group(2), value)


_FIELDS = ("procedure", "sample", "cooldown", "status", "tag", "since", "until")


def _date(key: str, text: str) -> float:
    """Unix seconds of ``2026-12-04`` or ``2026-12-04T21:30`` (local time unless an offset is given)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{key}={text}: not a date (2026-12-04 or 2026-12-04T21:30)") from None
    return when.timestamp()


def parse_query(terms: Iterable[str]) -> dict[str, Any]:
    """:meth:`Catalogue.query` arguments from ``field=value`` terms (procedure, sample, cooldown, status, tag,
    since, until: dates) and conditions on results (``T_e<0.1``); terms may be given in one string."""
    query: dict[str, Any] = {"conditions": []}
    for term in (t for text in terms for t in str(text).split()):
        key, sep, value = term.partition("=")
        if sep and key in _FIELDS and not value.startswith("="):
            query[key] = _date(key, value) if key in ("since", "until") else value
        else:
            query["conditions"].append(Condition.parse(term))
    return query


# ---- the database ------------------------------------------------------------------------------------------------


class Catalogue:
    """The catalogue database at ``path`` (default :func:`default_path`); created on first use."""

    def __init__(self, path: str | os.PathLike | None = None, timeout_s: float = 30.0):
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.timeout_s = timeout_s  #: how long to wait for another writer

    @property
    def folders_path(self) -> Path:
        return self.path.with_name(self.path.name + ".folders")

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    def _write(self, work) -> None:
        """Run ``work(conn)`` in one write transaction (waits for another writer up to ``timeout_s``)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    # ---- entries ----------------------------------------------------------------------------------------------
    def put(self, entry: RunEntry) -> None:
        """Add or replace one run's entry (with its tags, notes and results)."""
        self._write(lambda conn: _insert(conn, [entry], replace=True))
        self._remember_folder(entry.path.parent)

    def index(self, path: str | os.PathLike) -> RunEntry | None:
        """(Re)read one run file into the catalogue; a file that is gone (or is no run) leaves it."""
        path = Path(path).resolve()
        entry = read_entry(path) if path.is_file() else None
        if entry is None:
            self._write(lambda conn: _delete(conn, "path = ?", (str(path),)))
            return None
        self.put(entry)
        return entry

    def rebuild(self, folders: Iterable[str | os.PathLike] | None = None) -> int:
        """Empty the catalogue and fill it from every run file under ``folders`` (recursively; default: every
        folder that ever received a run, from ``runs.sqlite.folders``). Returns the number of runs."""
        folders = [Path(f).resolve() for f in (folders if folders is not None else self.known_folders())]
        entries, seen = [], set()
        for folder in folders:
            for csv in sorted(folder.rglob("*.csv")) if folder.is_dir() else ():
                if csv in seen:
                    continue
                seen.add(csv)
                try:
                    entry = read_entry(csv)
                except (OSError, UnicodeError) as exc:
                    log.warning("%s: not catalogued: %s", csv, exc)
                    continue
                if entry is not None:
                    entries.append(entry)

        def work(conn):
            for table in ("runs", "tags", "notes", "results"):
                conn.execute(f"DELETE FROM {table}")
            _insert(conn, entries, replace=False)

        self._write(work)
        for folder in {e.path.parent for e in entries} | {f for f in folders if f.is_dir()}:
            self._remember_folder(folder)
        return len(entries)

    def known_folders(self) -> list[Path]:
        if not self.folders_path.exists():
            return []
        lines = self.folders_path.read_text(encoding="utf-8").splitlines()
        return [Path(f) for f in dict.fromkeys(ln.strip() for ln in lines if ln.strip())]

    def _remember_folder(self, folder: Path) -> None:
        folder = folder.resolve()
        if folder not in self.known_folders():
            with open(self.folders_path, "a", encoding="utf-8") as fh:
                fh.write(f"{folder}\n")

    # ---- annotations (written to the run's .notes.jsonl first: the file is the record) ----------------------
    def tag(self, run: str, tags: Iterable[str], remove: bool = False) -> RunEntry:
        entry = self.get(run)
        for tag in tags:
            _append_note(entry.path, {"untag" if remove else "tag": str(tag)})
        return self.index(entry.path) or entry

    def note(self, run: str, text: str) -> RunEntry:
        entry = self.get(run)
        _append_note(entry.path, {"note": " ".join(str(text).split())})
        return self.index(entry.path) or entry

    def store_results(self, results: Iterable[tuple[RunEntry, Mapping[str, tuple[float, float, str]]]]) -> None:
        """Runs' analysis results (name -> (value, stderr, unit)), each replacing that run's earlier ones: appended
        to every run's ``.notes.jsonl``, then written to the database in one transaction."""
        stored = []
        for entry, numbers in results:
            record = {str(k): [_num(v[0]), _num(v[1]), str(v[2])] for k, v in numbers.items()}
            _append_note(entry.path, {"results": record})
            stored.append((entry.id, record))

        def work(conn):
            conn.executemany("DELETE FROM results WHERE run_id = ?", [(i,) for i, _ in stored])
            conn.executemany("INSERT INTO results VALUES (?,?,?,?,?)",
                             [(i, k, v, e, u) for i, record in stored for k, (v, e, u) in record.items()])

        self._write(work)

    # ---- queries -----------------------------------------------------------------------------------------------
    def get(self, run: str) -> RunEntry:
        """A run by its ID, or an unambiguous start of it, or its file path."""
        found = self.query(id_prefix=run) if not Path(run).is_file() else self.query(path=Path(run))
        if not found:
            raise ValueError(f"no run {run!r} in the catalogue {self.path} (qpclab runs --rebuild FOLDER if the "
                             "runs are there but the catalogue lost them)")
        if len(found) > 1:
            raise ValueError(f"{run!r} is the start of {len(found)} run IDs ({', '.join(e.id for e in found[:5])}"
                             f"{', ...' if len(found) > 5 else ''}): give more digits")
        return found[0]

    def query(self, *, procedure: str | None = None, sample: str | None = None, cooldown: str | None = None,
              status: str | None = None, since: float | None = None, until: float | None = None,
              tag: str | None = None, conditions: Iterable[Condition | str] = (), id_prefix: str | None = None,
              path: Path | None = None, limit: int | None = None) -> list[RunEntry]:
        """The runs matching every filter given, oldest first. ``since``/``until``: Unix seconds (start time);
        ``conditions``: on analysis results (a run without that result does not match)."""
        where, args = [], []
        for column, value in (("procedure", procedure), ("sample", sample), ("cooldown", cooldown),
                              ("status", status)):
            if value is not None:
                where.append(f"r.{column} = ?")
                args.append(value)
        if since is not None:
            where.append("r.started >= ?")
            args.append(since)
        if until is not None:
            where.append("r.started < ?")
            args.append(until)
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag = ?)")
            args.append(tag)
        for cond in conditions:
            cond = Condition.parse(cond) if isinstance(cond, str) else cond
            where.append(f"EXISTS (SELECT 1 FROM results x WHERE x.run_id = r.id AND x.name = ? "
                         f"AND x.value {cond.op} ?)")
            args += [cond.name, cond.value]
        if id_prefix is not None:
            where.append("substr(r.id, 1, ?) = ?")
            args += [len(id_prefix), id_prefix]
        if path is not None:
            where.append("r.path = ?")
            args.append(str(Path(path).resolve()))
        sql = ("SELECT r.id, r.path, r.procedure, r.station, r.sample, r.cooldown, r.started, r.ended, r.status, "
               "r.points, r.parameters FROM runs r" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY r.started, r.id" + (f" LIMIT {int(limit)}" if limit else ""))
        conn = self._connect()
        try:
            rows = conn.execute(sql, args).fetchall()
            entries = {row[0]: RunEntry(row[0], Path(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                                        row[9], json.loads(row[10] or "{}")) for row in rows}
            if entries:
                _attach(conn, entries)
        finally:
            conn.close()
        return list(entries.values())


def _num(x) -> float | None:
    """A number for JSON and SQL: NaN and infinities as None (null)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _float(x) -> float:
    return math.nan if x is None else float(x)


def _insert(conn: sqlite3.Connection, entries: list[RunEntry], replace: bool) -> None:
    for e in entries:
        if replace:
            _delete(conn, "id = ? OR path = ?", (e.id, str(e.path)))
        conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (e.id, e.procedure, e.station, e.sample, e.cooldown, e.started, e.ended, e.status, e.points,
                      str(e.path), json.dumps(e.parameters, allow_nan=True)))
        conn.executemany("INSERT INTO tags VALUES (?,?)", [(e.id, t) for t in e.tags])
        conn.executemany("INSERT INTO notes VALUES (?,?,?)", [(e.id, t, text) for t, text in e.notes])
        conn.executemany("INSERT INTO results VALUES (?,?,?,?,?)",
                         [(e.id, k, v, s, u) for k, (v, s, u) in e.results.items()])


def _delete(conn: sqlite3.Connection, where: str, args: tuple) -> None:
    ids = [r[0] for r in conn.execute(f"SELECT id FROM runs WHERE {where}", args)]
    for table, key in (("tags", "run_id"), ("notes", "run_id"), ("results", "run_id"), ("runs", "id")):
        conn.executemany(f"DELETE FROM {table} WHERE {key} = ?", [(i,) for i in ids])


def _attach(conn: sqlite3.Connection, entries: dict[str, RunEntry]) -> None:
    """Tags, notes and results of the listed runs (one query each, whatever the number of runs)."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM wanted")
    conn.executemany("INSERT INTO wanted VALUES (?)", [(i,) for i in entries])
    for run_id, tag in conn.execute("SELECT run_id, tag FROM tags JOIN wanted ON id = run_id ORDER BY tag"):
        entries[run_id].tags.append(tag)
    for run_id, t, text in conn.execute("SELECT run_id, time, text FROM notes JOIN wanted ON id = run_id "
                                        "ORDER BY time"):
        entries[run_id].notes.append((t, text))
    for run_id, name, v, s, u in conn.execute("SELECT run_id, name, value, stderr, unit FROM results "
                                              "JOIN wanted ON id = run_id"):
        entries[run_id].results[name] = (_float(v), _float(s), u)


# ---- the runner's hooks ---------------------------------------------------------------------------------------


def record_start(entry: RunEntry, catalogue: str | os.PathLike | None = None) -> None:
    """The entry of a run that starts (status "running"); a catalogue that cannot be written only warns."""
    try:
        Catalogue(catalogue, timeout_s=RUNNER_TIMEOUT_S).put(entry)
    except (sqlite3.Error, OSError) as exc:
        log.warning("run %s not catalogued (the run goes on, its file is the record): %s", entry.id, exc)


def record_end(path: str | os.PathLike, catalogue: str | os.PathLike | None = None) -> None:
    """The entry of a run that ended, re-read from its file (what a rebuild would give); never raises for the
    catalogue."""
    try:
        Catalogue(catalogue, timeout_s=RUNNER_TIMEOUT_S).index(path)
    except (sqlite3.Error, OSError, ValueError) as exc:
        log.warning("%s: catalogue entry not updated (qpclab runs --rebuild fixes it): %s", path, exc)
