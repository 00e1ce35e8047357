"""The measurements, in one table: each procedure's command-line name, class, live plots and analysis.

:data:`PROCEDURES` is the only place qpclab looks a procedure up: ``qpclab run NAME``, the window, resume (by the
name a run file records in its ``#Plan:`` line: a file never makes qpclab import anything) and the analysis.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["PROCEDURES", "ProcedureEntry", "procedure_class", "entry", "registered_name", "register"]


@dataclass(frozen=True)
class ProcedureEntry:
    """``ref``: "module:Class" in qpclab.procedures; ``curves``: live (x, y) plots; ``maps``: live (x, y, z) maps;
    ``analysis``: the report's kind of measurement (qpclab.analysis.report); ``slow``: the column that tells the
    line cuts of the live curves apart (each line coloured by its value; "": one colour per run)."""

    ref: str
    curves: tuple[tuple[str, str], ...]
    maps: tuple[tuple[str, str, str], ...]
    analysis: str
    cls: type | None = None  #: a procedure registered from outside qpclab (:func:`register`)
    slow: str = ""

    @property
    def class_path(self) -> str:
        if self.cls is not None:
            return f"{self.cls.__module__}.{self.cls.__qualname__}"
        module, _, cls = self.ref.partition(":")
        return f"{__name__}.{module}.{cls}"


PROCEDURES: dict[str, ProcedureEntry] = {
    "staircase": ProcedureEntry("staircase:Staircase", (("Gate (V)", "G/G0"),), (), "staircase", slow="Sweep"),
    "gate-gate-map": ProcedureEntry("maps:GateGateMap", (("Gate (V)", "G/G0"),),
                                    (("Gate (V)", "Gate 2 (V)", "G/G0"),), "gate map", slow="Gate 2 (V)"),
    "bias-map": ProcedureEntry("maps:BiasMap", (("Gate (V)", "G/G0"),), (("Gate (V)", "Bias (V)", "G/G0"),),
                               "bias map", slow="Bias (V)"),
    "field-map": ProcedureEntry("maps:FieldMap", (("Gate (V)", "G/G0"),), (("Gate (V)", "Field (T)", "G/G0"),),
                                "field map", slow="Field (T)"),
    "temperature-map": ProcedureEntry("maps:TemperatureMap", (("Gate (V)", "G/G0"),),
                                      (("Gate (V)", "Temperature (K)", "G/G0"),), "temperature map",
                                      slow="Temperature (K)"),
    "shot-noise": ProcedureEntry("noise:ShotNoise", (("Bias (V)", "PSD (V^2/Hz)"), ("Bias (V)", "G/G0")), (),
                                 "shot noise"),
    "noise-vs-gate": ProcedureEntry("noise:NoiseVsGate", (("Gate (V)", "PSD (V^2/Hz)"), ("Gate (V)", "G/G0")), (),
                                    "noise vs gate"),
    "hall-sweep": ProcedureEntry("hall:HallSweep", (("Field (T)", "R_xy (ohm)"), ("Field (T)", "R_xx (ohm)")), (),
                                 "hall"),
    "tune": ProcedureEntry("tune:Tune", (("Gate (V)", "G/G0"),), (), "tune"),
}


def entry(name: str) -> ProcedureEntry:
    try:
        return PROCEDURES[name]
    except KeyError:
        raise ValueError(f"unknown procedure {name!r}; choose one of {', '.join(PROCEDURES)}") from None


def procedure_class(name: str):
    """The Procedure class for a command-line name (``staircase``, ``bias-map``, ...)."""
    found = entry(name)
    if found.cls is not None:
        return found.cls
    module, _, cls = found.ref.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def register(name: str, cls: type, curves=(), maps=(), analysis: str = "") -> type:
    """Add a measurement of your own to the table (``qpclab.run(name)``, the window, resume in this process).
    ``curves``: (x, y) column pairs for the live plots (default: the first two columns)."""
    if name in PROCEDURES and PROCEDURES[name].cls is not cls:
        raise ValueError(f"a procedure named {name!r} exists already")
    columns = list(cls.DATA_COLUMNS)
    PROCEDURES[name] = ProcedureEntry("", tuple(curves) or ((columns[0], columns[1]),), tuple(maps), analysis, cls)
    return cls


def registered_name(cls) -> str:
    """The command-line name of a procedure class (ValueError for a class that is not in the table)."""
    path = f"{cls.__module__}.{cls.__qualname__}"
    for name, e in PROCEDURES.items():
        if e.class_path == path:
            return name
    raise ValueError(f"{cls.__name__} is not one of qpclab's procedures ({', '.join(PROCEDURES)})")
