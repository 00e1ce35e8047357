"""qpclab: quantum point contact experiments at a dilution fridge.

Sub-packages:

- ``qpclab.instruments``: drivers, role interfaces, safe gates, and the simulated lab (``qpclab.instruments.sim``);
- ``qpclab.procedures``: the measurements (pymeasure Procedures);
- ``qpclab.analysis``: Landauer physics, the measurement circuit, fits and figures;
- ``qpclab.sim_configs``: the simulated station files.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``qpclab.run``, ``qpclab.start`` (the Python API, :mod:`qpclab.api`), imported when first used."""
    if name in ("run", "start", "Run", "RunHandle"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'qpclab' has no attribute {name!r}")
