"""The measurements: pymeasure Procedures over the station's roles and safe gates.

:data:`PROCEDURES` maps the names used on the command line (``qpclab run NAME``) to the classes.
"""

from __future__ import annotations

import importlib

__all__ = ["PROCEDURES", "procedure_class"]

#: command-line name -> "module:Class" (imported when used)
PROCEDURES = {
    "staircase": "staircase:Staircase",
    "gate-gate-map": "maps:GateGateMap",
    "bias-map": "maps:BiasMap",
    "field-map": "maps:FieldMap",
    "temperature-map": "maps:TemperatureMap",
    "shot-noise": "noise:ShotNoise",
    "noise-vs-gate": "noise:NoiseVsGate",
    "hall-sweep": "hall:HallSweep",
}


def procedure_class(name: str):
    """The Procedure class for a command-line name (``staircase``, ``bias-map``, ...)."""
    try:
        ref = PROCEDURES[name]
    except KeyError:
        raise ValueError(f"unknown procedure {name!r}; choose one of {', '.join(PROCEDURES)}") from None
    module, _, cls = ref.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
