"""Batch analysis: the fitted numbers of many runs, in parallel, into the run catalogue.

:func:`analyse_file` gives one run file's numbers (name -> (value, stderr, unit), SI units), by the kind of
measurement the file records (qpclab's table of procedures): the fits :mod:`.report` prints, without figures.
:func:`analyse_files` maps it over many files one after the other (``workers=1``), in a
:class:`concurrent.futures.ProcessPoolExecutor` (``workers > 1``) or on a dask.distributed cluster
(``scheduler="tcp://host:8786"``; the workers need qpclab installed and the files on a shared path). Every way
gives the same numbers: each file is fitted alone, with nothing random. :func:`analyse_runs` does it for
catalogue entries and stores the results (the catalogue and each run's ``.notes.jsonl``).

Names: staircase ``V_pinch``, ``V_spacing``, ``V_width`` (V, saddle-point fit at 0.05 K, no lever arm);
shot noise ``F`` (Fano factor), ``T_e`` (K), ``G_G0``; bias map ``lever`` (eV/V), ``hw_y`` (eV, first subband
spacing), ``bias_asymmetry``; field map ``dVdB_<n>`` (V/T, spin splitting of subband n); Hall ``n_s`` (m^-2).
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .io import AnalysisError, Run, Value, load_run
from .report import kind_of

__all__ = ["analyse_file", "analyse_files", "analyse_runs", "FileResults"]

Numbers = dict[str, tuple[float, float, str]]


def _number(value: Value | float | None, unit: str = "") -> tuple[float, float, str]:
    if isinstance(value, Value):
        return float(value.value), float(value.stderr), value.unit or unit
    return (math.nan if value is None else float(value)), math.nan, unit


def _staircase(run: Run) -> Numbers:
    from .conductance import conductance_G0_from_run
    from .saddle_fit import fit_saddle_staircase

    d = conductance_G0_from_run(run)
    fit = fit_saddle_staircase(d["Gate (V)"], d["G/G0"], 0.05)
    return {"V_pinch": _number(fit.v_pinch), "V_spacing": _number(fit.spacing_V), "V_width": _number(fit.width_V)}


def _shot_noise(run: Run) -> Numbers:
    from .shot_noise import fit_shot_noise

    fit = fit_shot_noise(run.data, run.require_circuit(), run.excitation_V)
    return {"F": _number(fit.fano, ""), "T_e": _number(fit.temperature_K), "G_G0": _number(fit.conductance_G0)}


def _bias_map(run: Run) -> Numbers:
    from .bias_spectroscopy import fit_bias_spectroscopy

    fit = fit_bias_spectroscopy(run.data, run.require_circuit(), run.excitation_V)
    out = {"lever": _number(fit.lever), "bias_asymmetry": _number(fit.bias_asymmetry)}
    if fit.subband_spacings_eV:
        out["hw_y"] = _number(fit.subband_spacings_eV[0])
    return out


def _field_map(run: Run) -> Numbers:
    from .zeeman import fit_zeeman_fan

    fit = fit_zeeman_fan(run.data, run.require_circuit(), run.excitation_V, None)
    return {f"dVdB_{s.subband}": _number(s.split_V_per_T) for s in fit.subbands}


def _hall(run: Run) -> Numbers:
    from .hall_analysis import analyse_hall

    circuit = run.circuit
    excitation = run.number("Lock-in sine output", default=math.nan) if circuit is not None else math.nan
    use = circuit is not None and math.isfinite(excitation)
    res = analyse_hall(run.data, circuit if use else None, excitation if use else None)
    return {"n_s": _number(res.density_m2)}


#: the report's kind of measurement -> its numbers (kinds without a fit of their own give none)
FITS: dict[str, Callable[[Run], Numbers]] = {"staircase": _staircase, "shot noise": _shot_noise,
                                             "bias map": _bias_map, "field map": _field_map, "hall": _hall}


@dataclass
class FileResults:
    """One file's outcome: its numbers, or why there are none (``error``)."""

    path: str
    numbers: Numbers = field(default_factory=dict)
    error: str = ""


def analyse_file(path: str | os.PathLike) -> FileResults:
    """The numbers of one run file (never raises for what is wrong with the data: see ``error``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = load_run(path)
            fit = FITS.get(kind_of(run))
            return FileResults(str(path), fit(run) if fit is not None else {})
    except (AnalysisError, ValueError, OSError, RuntimeError) as exc:  # RuntimeError: a fit that diverged
        return FileResults(str(path), error=f"{type(exc).__name__}: {exc}")


def analyse_files(paths: Iterable[str | os.PathLike], *, workers: int = 1,
                  scheduler: str | None = None) -> list[FileResults]:
    """:func:`analyse_file` over ``paths``, in their order: serially, on ``workers`` processes, or on the dask
    cluster at ``scheduler`` (needs ``pip install 'qpclab[dask]'``)."""
    paths = [str(Path(p)) for p in paths]
    if workers < 1:
        raise ValueError(f"--workers {workers}: give 1 or more")
    if scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs dask.distributed: pip install 'qpclab[dask]'") from None
        with Client(scheduler) as client:
            return client.gather(client.map(analyse_file, paths, pure=False))
    if workers == 1 or len(paths) < 2:
        return [analyse_file(p) for p in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(analyse_file, paths, chunksize=max(1, len(paths) // (4 * workers))))


def analyse_runs(catalogue, entries, *, workers: int = 1, scheduler: str | None = None) -> list[FileResults]:
    """Fit the catalogue ``entries`` (:class:`~qpclab.procedures.catalogue.RunEntry`) and store every run's
    numbers in the ``catalogue``; returns the outcomes in the entries' order."""
    entries = list(entries)
    outcomes = analyse_files([e.path for e in entries], workers=workers, scheduler=scheduler)
    catalogue.store_results([(e, o.numbers) for e, o in zip(entries, outcomes) if not o.error])
    return outcomes
