"""A run's header records what the instruments hold after set-up (read back), and changes during the run as
comment lines."""

import json

from qpclab.analysis.io import load_run
from qpclab.cli import main


def test_header_records_what_the_lockin_holds_and_auto_ranging(tmp_path, sim_library):
    data = tmp_path / "run.csv"
    # 0.7 ms is not an SR830 time constant (1 ms is); 50 mV full scale overloads on the 3rd plateau (X ~ 0.19 V)
    assert main(["run", "staircase", "--start", "-1.0", "--stop", "-0.9", "--step", "0.01", "--time-constant",
                 "0.0007", "--sensitivity", "0.05", "--data", str(data), "--quiet"]) == 0
    run = load_run(data)
    snapshot = run.metadata["Instrument snapshot"]
    lockin = snapshot["lockin"] if isinstance(snapshot, dict) else json.loads(snapshot)["lockin"]
    assert lockin["time_constant_s"] == 0.001  # what the instrument holds, not the 0.7 ms asked for
    assert run.parameters["Lock-in time constant"] == "0.0007 s"  # the request, as asked
    text = data.read_text()
    ranging = [line for line in text.splitlines() if line.startswith("#Auto-range:")]
    assert ranging and "sensitivity now 0.1 V" in ranging[0]  # the SR830's next range above 50 mV
    assert lockin["sensitivity_V"] == 0.05  # the snapshot is taken after the set-up, before the run auto-ranged
