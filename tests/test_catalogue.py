"""The run catalogue, NetCDF export and batch analysis (issue 19).

Witnesses: run files written here by hand in the documented format (so every expected value is known before the
code under test sees it), real runs of the simulated lab in two concurrent processes, pandas reading the CSVs
on its own, and the true parameters of simulated QPCs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from qpclab.analysis.export import export_netcdf, open_netcdf
from qpclab.analysis.io import load_run
from qpclab.cli import main
from qpclab.instruments.station import default_station_path
from qpclab.procedures import PROCEDURES, procedure_class
from qpclab.procedures.catalogue import Catalogue

# ---- run files written by hand, in the format the writer documents ----------------------------------------------

STARTED = datetime(2026, 12, 1, 10, 0, 0).astimezone()


def _write(path: Path, procedure: str, df: pd.DataFrame, *, parameters=None, run_id="", sample="", cooldown="",
           started: datetime = STARTED, status: str | None = "finished") -> Path:
    station = {"path": "by-hand.yaml", "station": {"name": "fridge 2", "sample": sample, "cooldown": cooldown,
                                                    "circuit": {"excitation_divider": 1e-4}}}
    plan = {"format": 1, "procedure": procedure, "parameters": parameters or {}, "points": len(df), "lines": 1}
    head = [f"#Procedure: <{PROCEDURES[procedure].class_path}>", "#Plan: " + json.dumps(plan), "#Parameters:",
            "#\tLock-in sine output: 0.1 V", "#Metadata:", f"#\tRun ID: {run_id}" if run_id else "#\tNotes: none",
            "#\tStation: " + json.dumps(station), f"#\tStarted: {started.strftime('%Y-%m-%dT%H:%M:%S%z')}",
            "#Data:"]
    tail = f"#Status: {status} at {started.strftime('%Y-%m-%dT%H:%M:%S%z')}, {len(df)} points\n" if status else ""
    path.write_text("\n".join(head) + "\n" + df.to_csv(index=False) + tail, encoding="utf-8")
    return path


def _rows(procedure: str, n: int, rng) -> pd.DataFrame:
    columns = procedure_class(procedure).DATA_COLUMNS
    return pd.DataFrame({c: rng.normal(size=n) for c in columns})


def _catalogue_state(cat: Catalogue) -> list[tuple]:
    return sorted((e.id, str(e.path), e.procedure, e.station, e.sample, e.cooldown, e.started, e.ended, e.status,
                   e.points, json.dumps(e.parameters, sort_keys=True), tuple(e.tags), tuple(e.notes),
                   tuple(sorted(e.results.items()))) for e in cat.query())


def _delete_database(cat: Catalogue) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(cat.path) + suffix).unlink(missing_ok=True)


# ---- the catalogue ---------------------------------------------------------------------------------------------


def test_two_concurrent_runs_and_a_rebuild_from_the_files_give_the_same_catalogue(tmp_path):
    lab = yaml.safe_load(default_station_path().read_text())
    data = tmp_path / "data"
    runs = {}
    for sample, cooldown in (("A", "CD1"), ("B", "CD2")):
        lab["station"].update(sample=sample, cooldown=cooldown)
        station = tmp_path / f"lab-{sample}.yaml"
        station.write_text(yaml.safe_dump(lab, sort_keys=False))
        runs[sample] = (station, data / f"run-{sample}.csv", cooldown)
    env = {**os.environ, "QPCLAB_CATALOGUE": str(tmp_path / "cat" / "runs.sqlite")}
    procs = [subprocess.Popen([sys.executable, "-m", "qpclab", "run", "staircase", "--station", str(station),
                               "--data", str(path), "--start", "-1.3", "--stop", "-1.1", "--step", "0.002",
                               "--time-constant", "1e-4", "--quiet"], env=env, stderr=subprocess.PIPE, text=True)
             for station, path, _ in runs.values()]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    cat = Catalogue(tmp_path / "cat" / "runs.sqlite")
    entries = {e.sample: e for e in cat.query()}
    assert sorted(entries) == ["A", "B"]
    for sample, (_, path, cooldown) in runs.items():
        e = entries[sample]
        header = [ln for ln in path.read_text().splitlines() if ln.startswith("#\tRun ID: ")]
        assert header == [f"#\tRun ID: {e.id}"] and len(e.id) == 10
        assert (e.procedure, e.cooldown, e.status, e.path) == ("staircase", cooldown, "finished", path.resolve())
        assert e.points == len(pd.read_csv(path, comment="#")) == 101
        assert e.parameters["step"] == 0.002 and e.started <= e.ended <= time.time()
    assert cat.known_folders() == [data.resolve()]
    before = _catalogue_state(cat)

    _delete_database(cat)  # the database lost: `qpclab runs --rebuild` finds every run again from the files
    assert main(["runs", "--rebuild", "--catalogue", str(cat.path)]) == 0
    assert _catalogue_state(cat) == before
    assert cat.rebuild([data]) == 2 and _catalogue_state(cat) == before


def test_filters_tags_notes_and_results_survive_a_rebuild(tmp_path, capsys):
    rng = np.random.default_rng(1)
    day = lambda d: datetime(2026, 12, d, 12, 0, 0).astimezone()  # noqa: E731
    made = [  # (id, procedure, sample, day, status)
        ("aaaa000001", "staircase", "A", 1, "finished"), ("aaaa000002", "staircase", "B", 2, "aborted"),
        ("bbbb000003", "shot-noise", "B", 3, "finished"), ("bbbb000004", "shot-noise", "B", 4, "failed"),
        ("cccc000005", "hall-sweep", "A", 5, None)]
    for run_id, proc, sample, d, status in made:
        _write(tmp_path / f"{run_id}.csv", proc, _rows(proc, 7, rng), run_id=run_id, sample=sample,
               cooldown="CD1", started=day(d), status=status)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")  # not a run: ignored
    cat = Catalogue(tmp_path / "runs.sqlite")
    assert cat.rebuild([tmp_path]) == 5

    def ids(**query):
        return [e.id for e in cat.query(**query)]

    assert ids() == [m[0] for m in made]  # oldest first
    assert ids(procedure="shot-noise") == ["bbbb000003", "bbbb000004"]
    assert ids(sample="B", status="finished") == ["bbbb000003"]
    assert ids(status="incomplete") == ["cccc000005"]  # no #Status: line
    assert ids(since=day(2).timestamp(), until=day(4).timestamp()) == ["aaaa000002", "bbbb000003"]
    cat.tag("aaaa000001", ["good", "CD1-best"])
    assert main(["tag", "bbbb000003", "good", "--catalogue", str(cat.path)]) == 0
    cat.tag("aaaa000001", ["CD1-best"], remove=True)
    assert main(["note", "bbbb000003", "gate 2 jumped", "at 21:10", "--catalogue", str(cat.path)]) == 0
    cat.store_results([(cat.get("bbbb000003"), {"T_e": (0.045, 0.001, "K"), "F": (0.5, 0.01, "")}),
                       (cat.get("bbbb000004"), {"T_e": (0.15, 0.002, "K")})])
    assert ids(tag="good") == ["aaaa000001", "bbbb000003"]
    assert ids(conditions=["T_e<0.1"]) == ["bbbb000003"]
    assert ids(conditions=["T_e>=0.045", "F<1"]) == ["bbbb000003"]
    assert ids(conditions=["T_e>0.1"]) == ["bbbb000004"]
    with pytest.raises(ValueError, match="give more digits"):
        cat.get("aaaa")
    before = _catalogue_state(cat)
    assert cat.get("bbbb000003").notes[0][1] == "gate 2 jumped at 21:10"

    _delete_database(cat)
    assert cat.rebuild([tmp_path]) == 5
    assert _catalogue_state(cat) == before  # tags, notes and results came back from the .notes.jsonl files

    capsys.readouterr()
    assert main(["runs", "--catalogue", str(cat.path), "sample=B", "T_e<0.1", "tag=good"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("bbbb000003")
    assert main(["runs", "--catalogue", str(cat.path), "since=2026-12-04"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()] == ["bbbb000004", "cccc000005"]
    assert main(["runs", "--catalogue", str(cat.path), "T_e~0.1"]) == 2
    assert "not a condition" in capsys.readouterr().err


# ---- NetCDF ----------------------------------------------------------------------------------------------------

MAP_PARAMETERS = {  # fast gate -1.3..-1.2 V in 0.01 V (11 points) x a slow axis of 4 values
    "gate-gate-map": {"gate2_start": -1.0, "gate2_stop": -0.7, "gate2_step": 0.1},
    "bias-map": {"bias_start": -0.3, "bias_stop": 0.3, "bias_step": 0.2},
    "field-map": {"field_start": 0.0, "field_stop": 1.5, "field_step": 0.5},
    "temperature-map": {"temperature_start": 0.05, "temperature_stop": 0.2, "temperature_step": 0.05},
}


def _units(column: str) -> str:
    return column[column.rindex("(") + 1:-1] if column.endswith(")") else ("1" if "/" in column else "")


@pytest.mark.parametrize("procedure", list(PROCEDURES))
def test_netcdf_round_trip_of_every_procedure(tmp_path, procedure):
    rng = np.random.default_rng(7)
    if procedure in MAP_PARAMETERS:
        slow_col = procedure_class(procedure).SLOW_COLUMN
        p = MAP_PARAMETERS[procedure]
        prefix = next(iter(p))[:-len("_start")]
        fast = np.linspace(-1.3, -1.2, 11)
        slow = np.linspace(p[f"{prefix}_start"], p[f"{prefix}_stop"], 4)
        rows = []
        for k, s in enumerate(slow):  # snake: odd lines swept backwards, as measured
            for g in (fast[::-1] if k % 2 else fast):
                rows.append({"Gate (V)": g + 1e-7 * rng.normal(), slow_col: s, "Line": k})
        df = _rows(procedure, len(rows), rng)
        for c in ("Gate (V)", slow_col, "Line"):
            df[c] = [r[c] for r in rows]
        parameters = {"start": -1.3, "stop": -1.2, "step": 0.01, "alternate": True, **p}
    else:
        df, parameters = _rows(procedure, 23, rng), {}
    path = _write(tmp_path / "run.csv", procedure, df, parameters=parameters, run_id="0123456789", sample="B7",
                  cooldown="CD3")
    out = export_netcdf(path)
    ds = open_netcdf(out)
    csv = pd.read_csv(path, comment="#")

    assert (ds.attrs["procedure"], ds.attrs["run_id"], ds.attrs["sample"], ds.attrs["cooldown"]) == \
        (procedure, "0123456789", "B7", "CD3")
    assert json.loads(ds.attrs["station"])["station"]["name"] == "fridge 2"
    assert json.loads(ds.attrs["plan"])["parameters"] == parameters
    assert json.loads(ds.attrs["parameters"]) == {"Lock-in sine output": "0.1 V"}
    by_column = {ds[v].attrs["column"]: ds[v] for v in ds.variables if v not in ds.dims}
    assert sorted(by_column) == sorted(csv.columns)
    for column, var in by_column.items():
        assert var.attrs["units"] == _units(column)
    if procedure in MAP_PARAMETERS:
        assert ds.attrs["gridded"] == 1
        assert ds["Gate"].attrs["units"] == "V"
        slow_name = [d for d in ds.dims if d != "Gate"][0]
        assert dict(ds.sizes) == {slow_name: 4, "Gate": 11}
        np.testing.assert_allclose(ds["Gate"].to_numpy(), fast, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ds[slow_name].to_numpy(), slow, rtol=0, atol=1e-12)
        for column, var in by_column.items():
            grid = csv[column].to_numpy().reshape(4, 11).copy()
            grid[1::2] = grid[1::2, ::-1].copy()  # the snake put back in grid order, here by hand
            assert var.dims == (slow_name, "Gate")
            np.testing.assert_array_equal(var.to_numpy(), grid)
    else:  # a list of points: nothing padded
        assert ds.attrs["gridded"] == 0 and dict(ds.sizes) == {"point": 23}
        for column, var in by_column.items():
            np.testing.assert_array_equal(var.to_numpy(), csv[column].to_numpy())


def test_aborted_map_keeps_its_lines_and_a_real_run_exports_by_its_id(tmp_path, capsys):
    from qpclab.procedures.runner import run_procedure

    proc = procedure_class("bias-map")()
    proc.set_values(start=-1.3, stop=-1.2, step=0.01, bias_start=-0.5, bias_stop=0.5, bias_step=0.5,
                    time_constant=0.001)
    cat = tmp_path / "runs.sqlite"
    data = tmp_path / "bias.csv"
    seen = []  # what the catalogue says while the run goes
    assert run_procedure(proc, data, progress=False, catalogue=cat,
                         on_point=lambda row: seen or seen.extend(Catalogue(cat).query())).status == "finished"
    assert [(e.status, e.path) for e in seen] == [("running", data.resolve())]
    run_id = Catalogue(cat).query()[0].id
    assert run_id == seen[0].id
    assert main(["export", run_id[:6], "--to", "netcdf", "--catalogue", str(cat)]) == 0
    ds = open_netcdf(data.with_suffix(".nc"))
    assert ds.attrs["run_id"] == run_id and dict(ds.sizes) == {"Bias": 3, "Gate": 11}
    csv = pd.read_csv(data, comment="#")
    grid = csv["G/G0"].to_numpy().reshape(3, 11).copy()
    grid[1] = grid[1, ::-1].copy()
    np.testing.assert_array_equal(ds["G_G0"].to_numpy(), grid)
    assert np.all(np.abs(ds["Gate_read"].to_numpy() - ds["Gate"].to_numpy()) < 1e-5)  # the read-back gate

    # stopped after 2 lines and 3 points: the lines reached, NaN where the third was not measured
    cut = tmp_path / "cut.csv"
    text = data.read_text().split("\n")
    first_row = next(k for k, ln in enumerate(text) if ln.startswith("Gate (V)")) + 1
    cut.write_text("\n".join(text[:first_row + 25]) + "\n")
    part = load_run(cut).to_xarray()
    assert dict(part.sizes) == {"Bias": 3, "Gate": 11}
    g = part["G_G0"].to_numpy()
    assert np.isnan(g[2, 3:]).all() and not np.isnan(g[:2]).any()
    np.testing.assert_array_equal(g[2, :3], csv["G/G0"].to_numpy()[22:25])


# ---- batch analysis --------------------------------------------------------------------------------------------


def test_batch_analysis_of_200_runs_is_the_same_serially_on_two_processes_and_on_dask(tmp_path, capsys,
                                                                                     monkeypatch):
    from qpclab.analysis.batch import analyse_runs
    from qpclab.analysis.synthetic import random_qpc, simulate_shot_noise, simulate_staircase, write_run

    truth, pinch = {}, {}
    for seed in range(100):
        p = random_qpc(seed)
        stair = write_run(tmp_path / f"stair-{seed:03d}.csv", simulate_staircase(p, n_points=120, seed=seed))
        pinch[stair.resolve()] = (p.v_pinch, p.hw_y_eV / p.lever_eV_per_V)
        noise = write_run(tmp_path / f"noise-{seed:03d}.csv", simulate_shot_noise(p, p.step_center_V(0), n_bias=21,
                                                                                    seed=seed), procedure="shot-noise")
        truth[noise.resolve()] = p.temperature_K
    cat = Catalogue(tmp_path / "runs.sqlite")
    assert cat.rebuild([tmp_path]) == 200
    entries = cat.query()

    def numbers(outcomes):
        assert not [o.error for o in outcomes if o.error]
        return [json.dumps(o.numbers, sort_keys=True) for o in outcomes]  # NaN == NaN as text

    serial = numbers(analyse_runs(cat, entries, workers=1))
    assert numbers(analyse_runs(cat, entries, workers=2)) == serial
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert numbers(analyse_runs(cat, entries, scheduler=cluster.scheduler_address)) == serial

    # the physics: at the middle of the first riser the Fano factor is 1 - T = 1/2, T_e the QPC's temperature
    stored = {e.path: e.results for e in cat.query(procedure="shot-noise")}
    assert len(stored) == 100
    for path, results in stored.items():
        assert abs(results["F"][0] - 0.5) < 0.05
        assert abs(results["T_e"][0] / truth[path] - 1) < 0.1
    cold = {e.path for e in cat.query(conditions=["T_e<0.05"])}
    assert {p for p, t in truth.items() if t < 0.045} <= cold
    assert not {p for p, t in truth.items() if t > 0.055} & cold
    for e in cat.query(procedure="staircase"):  # the pinch-off within a twentieth of the riser spacing
        v_pinch, spacing = pinch[e.path]
        assert abs(e.results["V_pinch"][0] - v_pinch) < 0.05 * spacing

    capsys.readouterr()
    assert main(["analyse", "--batch", "procedure=staircase", "--catalogue", str(cat.path)]) == 0
    assert "100 of 100 run(s) analysed" in capsys.readouterr().out
    monkeypatch.setenv("QPCLAB_CATALOGUE", str(cat.path))
    one = cat.query(procedure="shot-noise")[0]
    assert main(["analyse", one.id, "--out", str(tmp_path / "fig"), "--no-pdf"]) == 0
    assert f"qpclab analysis of {one.path}" in capsys.readouterr().out
    assert main(["analyse", "ffffffffff"]) == 2
    assert "is no file, and no run 'ffffffffff'" in capsys.readouterr().err


def test_a_catalogue_that_cannot_be_written_never_stops_a_run(tmp_path, caplog):
    from qpclab.procedures.runner import run_procedure

    proc = procedure_class("staircase")()
    proc.set_values(start=-1.3, stop=-1.28, step=0.002, time_constant=0.001)
    blocked = tmp_path / "not-a-database"
    blocked.mkdir()  # a folder where the database file should be
    result = run_procedure(proc, tmp_path / "stair.csv", progress=False, catalogue=blocked)
    assert result.status == "finished" and len(pd.read_csv(tmp_path / "stair.csv", comment="#")) == 11
    assert "not catalogued (the run goes on" in caplog.text and "qpclab runs --rebuild fixes it" in caplog.text
