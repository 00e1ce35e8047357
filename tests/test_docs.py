"""The project's own documentation (docs/, built with mkdocs, and the README).

- docs/ builds with ``mkdocs build --strict`` (every page in the nav, every link between pages and every
  ``::: module`` of the API page resolved, no warning);
- every fenced code block in docs/ and the README runs: the blocks of a page run in order in one scratch folder, as
  a reader would type them (python blocks executed against the simulated lab, ``qpclab ...`` lines of bash blocks
  through ``qpclab.cli.main``, yaml blocks loaded as station files); a block that installs software or opens a
  window is marked ``<!-- skip: why -->`` in the page and this test says which and why;
- the station-file reference lists, section by section, exactly the keys the station loader accepts (asked from
  the loader itself: its error for an unknown key names every known key);
- README and docs link only to files in the repository.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.glob("*.md"))

FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*(?P<text>[^>]*?)\s*-->\s*$")

#: README blocks carry the README's own markers; what they mean here
README_MARKERS = {
    "test: python": "run by tests/test_readme.py (with its checks of the README's two examples)",
}
#: steps of bash blocks that are not run, and why (a regular expression on the step -> the reason)
NOT_RUN = {
    r"^python3? -m venv\b": "creates a virtual environment (an install)",
    r"\bpip install\b": "installs packages",
    r"\bpython -m pytest\b": "runs this test suite (CI runs the README's test command through .ci/run)",
    r"\bbenchmarks/run\.py\b": "benchmarks measure for minutes on an idle machine; they are not part of the suite",
    r"^(\.venv/bin/)?qpclab demo --out qpclab-demo$": "tests/test_demo.py runs this command and checks its plateaus",
}


@dataclass
class Block:
    path: Path
    line: int
    lang: str
    code: str
    marker: str  #: the HTML comment on the line before the fence ("" if none)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        found.append(Block(path, text.count("\n", 0, m.start()) + 1, m.group("lang"), m.group("code"),
                           marker.group("text") if marker else ""))
    return found


def test_blocks_run_elsewhere_are_run_there():
    """The README blocks and steps this test leaves to other tests are really in those tests."""
    assert "<!-- test: python -->" in (ROOT / "tests" / "test_readme.py").read_text(encoding="utf-8")
    demo = (ROOT / "tests" / "test_demo.py").read_text(encoding="utf-8")
    assert '["demo", "--out"' in demo


def test_every_fence_is_found():
    """A fence the reader sees but the tests would not (indented, unclosed) is an error: count the fence lines."""
    for path in [README, *PAGES]:
        fences = [line for line in path.read_text(encoding="utf-8").splitlines() if line.lstrip().startswith("```")]
        assert len(fences) == 2 * len(blocks(path)), f"{path.name}: a code fence that is indented or not closed"
    assert len(PAGES) >= 7, "docs/ lost pages"


# ---- the build ----------------------------------------------------------------------------------------------------


def test_docs_build_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is missing: pip install '.[docs]' (the test extra has it)")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is missing: pip install '.[docs]'")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for documented in ("qpclab.api.run", "Plan", "ConductanceReadout", "run_procedure", "RunWriter"):
        assert documented in api, f"the API page does not document {documented}"
    assert not re.search(r":(class|meth|func|mod):<code>", api), "a docstring's role shown raw (docs/hooks.py)"
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    assert set(nav_pages(nav)) == {p.name for p in PAGES}, "every page of docs/ is in the nav, and only those"


def nav_pages(nav) -> list[str]:
    """The pages of an mkdocs nav (titles -> pages or sections, nested)."""
    if isinstance(nav, str):
        return [nav]
    items = nav.values() if isinstance(nav, dict) else nav
    return [page for item in items for page in nav_pages(item)]


# ---- every code block runs ----------------------------------------------------------------------------------------


def bash_steps(code: str) -> list[str]:
    """The commands of a bash block: lines joined at trailing backslashes, split at ``&&``, comments dropped."""
    steps = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        step: list[str] = []
        for word in words + ["&&"]:
            if word == "&&":
                if step:
                    steps.append(shlex.join(step))
                step = []
            else:
                step.append(word)
    return steps


def not_run_reason(step: str) -> str | None:
    return next((why for pattern, why in NOT_RUN.items() if re.search(pattern, step)), None)


def run_bash(block: Block) -> None:
    from qpclab.cli import main

    for step in bash_steps(block.code):
        if not_run_reason(step) is not None:
            continue
        words = shlex.split(step)
        assert words[0] in ("qpclab", ".venv/bin/qpclab"), (
            f"{block.where}: `{step}` is not a qpclab command; mark the block <!-- skip: why --> if it cannot run")
        code = main(words[1:])
        assert code == 0, f"{block.where}: `{step}` exited with {code}"


def run_yaml(block: Block, folder: Path) -> None:
    from qpclab.instruments.sim.lab import SimulatedLab
    from qpclab.instruments.station import parse_station, read_yaml

    name = block.marker.removeprefix("file:").strip() if block.marker.startswith("file:") else "block.yaml"
    path = folder / name
    path.write_text(block.code, encoding="utf-8")
    data = read_yaml(block.code, path)
    assert isinstance(data, dict) and "station" in data, f"{block.where}: a yaml block is a whole station file"
    parse_station(data, path)
    if "simulation" in data:  # a lab file: the simulated lab builds from it (sample, twins, faults)
        SimulatedLab(path)


def not_run(path: Path) -> list[tuple[str, str]]:
    """(where, why) of every block, and every step of a bash block, that the tests do not run."""
    found = []
    for block in blocks(path):
        if block.marker.startswith("skip:"):
            found.append((block.where, f"{block.lang} block: {block.marker.removeprefix('skip:').strip()}"))
        elif block.marker in README_MARKERS:
            found.append((block.where, f"{block.lang} block: {README_MARKERS[block.marker]}"))
        elif block.lang == "bash":
            found += [(block.where, f"`{step}`: {why}") for step in bash_steps(block.code)
                      if (why := not_run_reason(step)) is not None]
    return found


def run_page(path: Path, folder: Path) -> None:
    """Run a page's blocks in order in ``folder``, as a reader would (what is not run: :func:`not_run`)."""
    namespace = {"__name__": f"docs_{path.stem}"}
    (folder / "sim_configs").symlink_to(ROOT / "sim_configs")  # as in a checkout: sim_configs/qpc_lab.yaml
    for block in blocks(path):
        if block.marker.startswith("skip:") or block.marker in README_MARKERS:
            continue
        if block.lang == "python":
            code = "\n" * block.line + block.code  # a traceback names the page and its line
            exec(compile(code, str(path), "exec"), namespace)  # noqa: S102 - the docs' own examples
        elif block.lang == "bash":
            run_bash(block)
        elif block.lang == "yaml":
            run_yaml(block, folder)
        else:
            pytest.fail(f"{block.where}: a ```{block.lang} block: the docs use python, bash and yaml blocks only")


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_every_code_block_runs(page, tmp_path, monkeypatch, sim_library, capsys):
    monkeypatch.chdir(tmp_path)
    from qpclab.procedures import PROCEDURES

    before = set(PROCEDURES)
    try:
        run_page(page, tmp_path)
    finally:  # a page that registers a measurement of its own leaves qpclab's table as it found it
        for name in set(PROCEDURES) - before:
            PROCEDURES.pop(name)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


NOT_RUN_HERE = [item for page in [README, *PAGES] for item in not_run(page)]


@pytest.mark.parametrize("where, why", NOT_RUN_HERE, ids=[where for where, _ in NOT_RUN_HERE])
def test_what_the_docs_tests_do_not_run(where, why):
    """One skipped test per block or step the tests do not run, saying which and why (pytest -rs lists them)."""
    pytest.skip(f"{where}: {why}")


def test_blocks_that_do_not_run_say_why():
    for path in PAGES:
        for block in blocks(path):
            if block.marker.startswith("skip:"):
                assert len(block.marker.removeprefix("skip:").strip()) > 10, f"{block.where}: say why it is skipped"
            else:
                assert block.marker == "" or block.marker.startswith("file:"), f"{block.where}: unknown marker"


# ---- the station-file reference against the station loader -------------------------------------------------------

SOURCE = {"src": {"driver": "keithley2400", "address": "GPIB0::1::INSTR"}}
BOGUS = "not_a_key"
#: each section of the reference -> a station document with an unknown key in that section
PROBES = {
    "station": {"station": {BOGUS: 1}},
    "station.instruments.<name>": {"station": {"instruments": {"x": {BOGUS: 1}}}},
    "station.gates.<gate>": {"station": {"instruments": SOURCE, "gates": {"g": {BOGUS: 1}}}},
    "station.bias": {"station": {"instruments": SOURCE, "bias": {BOGUS: 1}}},
    "station.lockin": {"station": {"instruments": SOURCE, "lockin": {BOGUS: 1}}},
    "station.lockins.<label>": {"station": {"instruments": SOURCE, "lockins": {"xx": {BOGUS: 1}}}},
    "station.noise_analyser": {"station": {"instruments": SOURCE, "noise_analyser": {BOGUS: 1}}},
    "station.magnet": {"station": {"instruments": SOURCE, "magnet": {BOGUS: 1}}},
    "station.thermometer": {"station": {"instruments": SOURCE, "thermometer": {BOGUS: 1}}},
    "station.circuit": {"station": {"instruments": SOURCE, "circuit": {BOGUS: 1}}},
    "station.suspenders": {"station": {"instruments": SOURCE, "suspenders": {BOGUS: 1}}},
}


def accepted_keys(document: dict) -> set[str]:
    """The keys the loader accepts where ``document`` has an unknown one, as its error message lists them."""
    from qpclab.instruments.station import StationError, parse_station
    from qpclab.procedures.suspenders import config_for

    with pytest.raises(StationError) as err:
        config_for(parse_station(document, "probe.yaml"))  # the suspenders' keys are checked where they are used
    m = re.search(r"unknown key\(s\) \['not_a_key'\]; known keys are (\[.*\])", str(err.value))
    assert m, f"the loader did not name the unknown key: {err.value}"
    return set(ast.literal_eval(m.group(1)))


def documented_keys() -> dict[str, set[str]]:
    """Headings of docs/station-files.md naming sections in backticks -> the keys of the table below them."""
    text = (DOCS / "station-files.md").read_text(encoding="utf-8")
    sections: dict[str, set[str]] = {}
    for m in re.finditer(r"^#+ (?P<head>`station[^\n]*)\n(?P<body>.*?)(?=^#|\Z)", text, re.S | re.M):
        keys = set(re.findall(r"^\| `(\w+)` \|", m.group("body"), re.M))
        for name in re.findall(r"`(station[^`]*)`", m.group("head")):
            sections[name] = keys
    return sections


def test_station_reference_lists_exactly_the_keys_the_loader_accepts():
    documented = documented_keys()
    assert set(documented) == set(PROBES), "the reference's sections are the station file's sections"
    for section, document in PROBES.items():
        accepted = accepted_keys(document)
        assert documented[section] == accepted, (
            f"{section}: documented but not accepted {sorted(documented[section] - accepted)}, "
            f"accepted but not documented {sorted(accepted - documented[section])}")


def table_keys(page: str, heading: str) -> set[str]:
    """The names in backticks in the first column of the table under ``heading`` in docs/``page``."""
    text = FENCE.sub("", (DOCS / page).read_text(encoding="utf-8"))
    m = re.search(rf"^#+ {re.escape(heading)}\n(?P<body>.*?)(?=^#|\Z)", text, re.S | re.M)
    assert m, f"{page}: no section {heading!r}"
    return set(re.findall(r"^\| `([\w.]+)` \|", m.group("body"), re.M))


def test_driver_list_is_the_registry():
    from qpclab.instruments.registry import DRIVERS

    assert table_keys("station-files.md", "Drivers") == set(DRIVERS)


def test_simulated_lab_page_lists_the_labs_presets_options_and_faults():
    from qpclab.instruments.sim.faults import KINDS
    from qpclab.sim_configs import packaged_labs

    labs = packaged_labs()
    assert table_keys("simulated-lab.md", "Packaged labs") == set(labs)
    presets = yaml.safe_load((ROOT / "sim_configs" / "samples.yaml").read_text(encoding="utf-8"))
    assert table_keys("simulated-lab.md", "Samples") == set(presets)
    assert table_keys("simulated-lab.md", "Faults") == set(KINDS)
    documented = table_keys("simulated-lab.md", "`simulation:` options")
    used = set().union(*(yaml.safe_load(p.read_text(encoding="utf-8")).get("simulation", {}) for p in labs.values()))
    assert used <= documented, f"options the packaged labs use, undocumented: {sorted(used - documented)}"
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "instruments" / "sim").rglob("*.py"))
    unread = {key for key in documented if f'"{key}"' not in source}
    assert not unread, f"documented options the simulated lab does not read: {sorted(unread)}"


# ---- links --------------------------------------------------------------------------------------------------------

LINK = re.compile(r"\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)|^\[[^\]]+\]:\s*(?P<ref>\S+)|href=\"(?P<href>[^\"]+)\"",
                  re.M)


def prose(path: Path) -> str:
    """The text of a page without its code (blocks and inline spans)."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return re.sub(r"`[^`\n]*`", "", text)


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.name)
def test_links_point_to_files_in_the_repository(path):
    text = prose(path)
    for m in LINK.finditer(text):
        target = m.group("target") or m.group("ref") or m.group("href")
        assert not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target), f"{path.name}: {target}: links stay in the repository"
        file_part = target.split("#", 1)[0]
        if not file_part:
            continue  # an anchor in the same page (mkdocs --strict checks the docs' anchors)
        resolved = (path.parent / file_part).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name}: {target} points outside the repository"
        assert resolved.exists(), f"{path.name}: {target} does not exist"
    full = path.read_text(encoding="utf-8")
    for m in re.finditer(r"(?:\.\./)+[\w./-]+", full):  # also paths named in code spans: none leaves the repository
        assert (path.parent / m.group(0)).resolve().is_relative_to(ROOT), f"{path.name}: {m.group(0)} is outside"
