"""Physics and analysis: constants, the Landauer core, the measurement circuit, fits, reports and figures.

For notebooks: ``load_run(path)`` reads a run (data, parameters, station, circuit); ``analyse(path, out_dir)`` gives
the report of ``qpclab analyse``; the fits live in ``saddle_fit``, ``bias_spectroscopy``, ``temperature``,
``zeeman``, ``shot_noise`` and ``hall_analysis``, and raise :class:`AnalysisError` rather than report a wrong number.
"""

from .io import AnalysisError, Value, load_run
from .report import analyse

__all__ = ["AnalysisError", "Value", "load_run", "analyse"]
