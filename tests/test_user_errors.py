"""Every error a user can cause at the command line ends in one line naming the file, option or value, exit code
2, no traceback (``--debug`` shows it); nothing opens, nothing moves."""

from __future__ import annotations

import pytest

from qpclab.cli import main


@pytest.fixture
def files(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    notrun = tmp_path / "notes.csv"
    notrun.write_text("some,numbers\n1,2\n")
    from qpclab.analysis.synthetic import random_qpc, simulate_staircase, write_run

    run = write_run(tmp_path / "run.csv", simulate_staircase(random_qpc(3), x_noise_V=1e-4))
    return {"BLOCKED": str(blocker / "sub"), "NOTRUN": str(notrun), "DIR": str(tmp_path), "RUN": str(run)}


CASES = [
    (["run", "staircase", "--out", "BLOCKED"], "a-file"),
    (["run", "staircase", "--data", "BLOCKED/run.csv"], "a-file"),
    (["demo", "--out", "BLOCKED"], "a-file"),
    (["analyse", "RUN", "--out", "BLOCKED"], "a-file"),
    (["analyse", "NOTRUN"], "notes.csv"),
    (["analyse", "DIR"], "is a folder"),
    (["resume", "NOTRUN"], "not a qpclab run file"),
    (["resume", "DIR/missing.csv"], "no such run file"),
    (["run", "staircase", "--time-constant", "-1"], "--time-constant"),
    (["run", "staircase", "--step", "1e-320"], "--step"),
    (["run", "staircase", "--start", "inf"], "--start"),
    (["run", "staircase", "--station", "nowhere.yaml"], "nowhere.yaml"),
    (["run", "bias-map", "--bias-stop", "5"], "outside its limits"),
]


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_user_error_is_one_line_with_exit_code_2(argv, names, files, capsys, sim_library):
    argv = [files.get(a.split("/")[0], a.split("/")[0]) + ("/" + a.split("/", 1)[1] if "/" in a else "")
            if a.split("/")[0] in files else a for a in argv]
    before = {k: list(v) for k, v in sim_library.lab.history.items()}
    code = main(argv + (["--quiet"] if argv[0] in ("run", "resume", "demo") else []))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert names in err and "Traceback" not in err
    assert len(err.splitlines()) == 1 or "planned value(s) would break a limit" in err
    assert {k: list(v) for k, v in sim_library.lab.history.items()} == before


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(ValueError, match="--time-constant"):
        main(["--debug", "run", "staircase", "--time-constant", "-1", "--quiet"])


@pytest.mark.parametrize("argv", [["demo", "--out", "OUT", "--step", "0.05", "--quiet"],
                                  ["run", "staircase", "--step", "0.05", "--time-constant", "1e-4", "--quiet",
                                   "--out", "OUT"]])
def test_a_plain_install_prints_no_warning(argv, tmp_path):
    """A plain `pip install .` has neither pyzmq nor IPython (the test extras bring them): hide them as a plain
    install would lack them, and nothing but qpclab's own lines reaches the terminal."""
    import subprocess
    import sys

    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    code = ("import sys; sys.modules['zmq'] = None; sys.modules['IPython'] = None\n"
            f"from qpclab.cli import main; sys.exit(main({argv!r}))")
    import os

    # its own lock folder: runs killed by other tests leave stale locks, which qpclab rightly reports
    env = {**os.environ, "QPCLAB_LOCK_DIR": str(tmp_path / "locks")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "" and "warn" not in done.stdout.lower()


def test_lever_arm_in_mev_per_v_is_refused_and_the_report_prints_ev_per_v(tmp_path, capsys):
    from qpclab.analysis.synthetic import random_qpc, simulate_staircase, write_run

    p = random_qpc(21)
    path = write_run(tmp_path / "stair.csv", simulate_staircase(p, x_noise_V=1e-4))
    assert main(["analyse", str(path), "--lever", "20", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--lever 20.0 eV/V is outside (0, 1] eV/V" in err and len(err.strip().splitlines()) == 1
    main(["analyse", str(path), "--lever", str(p.lever_eV_per_V), "--temperature", str(p.temperature_K), "--out",
          str(tmp_path)])
    out = capsys.readouterr().out
    lever_line = next(line for line in out.splitlines() if "lever arm" in line)
    assert lever_line.rstrip().endswith("eV/V") and "meV/V" not in out


def test_run_without_a_station_picks_the_packaged_lab_that_has_what_it_needs(capsys):
    """No --station: the first packaged lab with what the procedure needs, said on the terminal (dry run: nothing
    is opened)."""
    for name, lab in (("field-map", "fast_field"), ("temperature-map", "fast_field"), ("shot-noise", "noise"),
                      ("hall-sweep", "fast_hall"), ("gate-gate-map", "qdac")):  # the first packaged lab that fits
        assert main(["run", name, "--dry-run"]) == 0
        assert f"using the packaged lab {lab!r}" in capsys.readouterr().out
    assert main(["run", "staircase", "--dry-run"]) == 0
    assert "using the packaged lab" not in capsys.readouterr().out  # the default lab, qpc, fits: nothing to say
