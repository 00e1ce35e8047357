"""qpclab: quantum point contact experiments at a dilution fridge.

Sub-packages:

- ``qpclab.instruments``: drivers, role interfaces, safe gates, and the simulated lab (``qpclab.instruments.sim``);
- ``qpclab.procedures``: the measurements (pymeasure Procedures);
- ``qpclab.analysis``: Landauer physics, the measurement circuit, fits and figures;
- ``qpclab.sim_configs``: the simulated station files.
"""

import logging

__version__ = "0.1.0"


class _OptionalExtrasFilter(logging.Filter):
    """pymeasure warns at import when ZMQ (remote listeners) or IPython (notebook display of its own experiments)
    is missing: features qpclab does not use, so a plain install stays quiet. Every other warning passes."""

    QUIET = ("ZMQ and cloudpickle are required", "IPython could not be imported")

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.QUIET)


for _name in ("pymeasure.experiment.listeners", "pymeasure.experiment.workers", "pymeasure.experiment.experiment"):
    logging.getLogger(_name).addFilter(_OptionalExtrasFilter())


def __getattr__(name: str):
    """``qpclab.run``, ``qpclab.start`` (the Python API, :mod:`qpclab.api`), imported when first used."""
    if name in ("run", "start", "Run", "RunHandle"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'qpclab' has no attribute {name!r}")
