"""Simulated station files (pyvisa-sim YAML plus the qpclab lab description): the packaged labs.

``--station`` (and ``qpclab.run(station=...)``) takes a file path or a packaged lab's name: ``qpc_lab``,
``qpc_lab.yaml`` or the short ``qpc``; ``qpclab labs`` lists them with their instruments.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["packaged_labs", "station_path"]

_HERE = Path(__file__).resolve().parent


def packaged_labs() -> dict[str, Path]:
    """Short name (``qpc``, ``field``...) -> the packaged lab file; the default lab first."""
    files = sorted(_HERE.glob("*_lab.yaml"), key=lambda p: (p.name != "qpc_lab.yaml", p.name))
    return {p.name.removesuffix("_lab.yaml"): p for p in files}


def station_path(text: str | Path) -> Path:
    """A station file by path, or a packaged lab by name (``qpc``, ``qpc_lab``, ``qpc_lab.yaml``)."""
    path = Path(text).expanduser()
    if path.is_file():
        return path.resolve()
    labs = packaged_labs()
    name = path.name.removesuffix(".yaml").removesuffix("_lab")
    if str(path) == path.name and name in labs:
        return labs[name]
    raise FileNotFoundError(f"{text}: no such station file, and no packaged lab of that name (packaged: "
                            f"{', '.join(labs)}; `qpclab labs` lists them)")
