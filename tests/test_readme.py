"""The README's Python examples (the API, a measurement of one's own) run as written, on the simulated lab."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"<!-- test: python -->\n```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_both_examples():
    assert len(BLOCKS) == 2 and "qpclab.run(" in BLOCKS[0] and "register(" in BLOCKS[1]
    assert len(BLOCKS[1].strip().splitlines()) <= 30


@pytest.mark.parametrize("code", BLOCKS, ids=["python-api", "own-measurement"])
def test_readme_example_runs(code, tmp_path, monkeypatch, sim_library, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    assert "finished" in out and "Traceback" not in out
    from qpclab.procedures import PROCEDURES

    PROCEDURES.pop("bias-sweep", None)
