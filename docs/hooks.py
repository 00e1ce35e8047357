"""mkdocs hooks: let mkdocstrings read qpclab's source from this checkout, whatever the install; render the
docstrings' cross-reference roles as plain code.

pyproject.toml maps the repository's top-level folders (``instruments/``, ``procedures/``, ...) into the one import
namespace ``qpclab``. A regular install copies them into one ``qpclab`` folder; an editable install leaves them
where they are, and griffe (mkdocstrings' reader, which reads the source without importing it) finds only
``src/qpclab``. This hook builds that one folder as links into the checkout, from the mapping in pyproject.toml,
and puts it first on the search path: the pages always document the code beside them.

The docstrings name other objects with Sphinx's roles (``:class:`Plan```); the API page shows them as code, without
the role's name.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parent.parent
ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc|obj):(?=<code>)")
_staged: list[Path] = []


def package_tree(target: Path) -> Path:
    """Link the package folders of pyproject.toml's ``[tool.setuptools.package-dir]`` into ``target`` as one tree."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    for name, folder in sorted(mapping.items(), key=lambda item: item[0].count(".")):
        where = target.joinpath(*name.split("."))
        if name.count(".") == 0:  # the top package: a real folder, its files linked one by one
            where.mkdir(parents=True)
            for entry in (ROOT / folder).iterdir():
                if entry.name != "__pycache__":
                    (where / entry.name).symlink_to(entry)
        else:
            where.symlink_to(ROOT / folder, target_is_directory=True)
    return target


@event_priority(100)  # before mkdocstrings sets its handlers up with the search path
def on_config(config):
    tree = package_tree(Path(tempfile.mkdtemp(prefix="qpclab-docs-")))
    _staged.append(tree)
    sys.path.insert(0, str(tree))
    return config


def on_shutdown():
    while _staged:
        tree = _staged.pop()
        if str(tree) in sys.path:
            sys.path.remove(str(tree))
        shutil.rmtree(tree, ignore_errors=True)


def on_page_content(html, page, config, files):
    return ROLE.sub("", html)
