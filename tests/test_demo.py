"""`qpclab demo` end to end: the installed command writes a CSV (pandas reads it, metadata header) and a PNG,
and the CSV shows the staircase: at least five plateaus, each within 1% of an integer multiple of G0."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _qpclab_command():
    exe = Path(sys.executable).with_name("qpclab")
    return [str(exe)] if exe.exists() else [shutil.which("qpclab") or "qpclab"]


def test_demo_writes_csv_and_png_with_five_integer_plateaus(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(_qpclab_command() + ["demo", "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    csvs = list(out.glob("*.csv"))
    pngs = list(out.glob("*.png"))
    assert len(csvs) == 1 and len(pngs) == 1
    assert str(csvs[0].resolve()) in proc.stdout and str(pngs[0].resolve()) in proc.stdout
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = [line for line in csvs[0].read_text().splitlines() if line.startswith("#")]
    assert any("Procedure" in h for h in header) and any("Station" in h for h in header)
    assert any("realistic_lab.yaml" in h for h in header)  # the demo shows the realistic device
    df = pd.read_csv(csvs[0], comment="#")
    # G in G0 recomputed here from the raw lock-in reading and the station's circuit (not the column the run wrote)
    from qpclab.instruments.station import load_station
    from qpclab.sim_configs import station_path

    circuit = load_station(station_path("realistic")).circuit
    excitation = 0.1  # the demo's lock-in sine output, V rms
    g = circuit.conductance_G0(df["X (V)"].to_numpy(), excitation)
    plateaus = 0
    for n in range(1, 13):
        near = np.abs(g - n) < 0.01 * n
        # a plateau: at least 8 consecutive points within 1% of n
        run = best = 0
        for flag in near:
            run = run + 1 if flag else 0
            best = max(best, run)
        plateaus += best >= 8
    assert plateaus >= 5
