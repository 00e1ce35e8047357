"""qpclab from Python (scripts, notebooks): the same executor and file as ``qpclab run`` and the window.

    import qpclab

    run = qpclab.run("staircase", start=-1.3, stop=-0.9, step=0.002)     # blocks; progress bar; Ctrl-C stops safely
    run.status, run.path, run.data["G/G0"].max()

    handle = qpclab.start("bias-map", station="sim_configs/qpc_lab.yaml")  # in the background
    handle.progress            # (points done, points planned)
    handle.stop()              # after the current point; then the station goes safe
    run = handle.wait()

Parameters are the procedure's (``qpclab run NAME --help`` lists them; here as keyword arguments, SI units), each
checked against its range before anything opens; a plan beyond the station's limits is refused the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd

from .procedures import procedure_class, registered_name
from .procedures.base import QPCProcedure
from .procedures.executor import RunControl
from .procedures.runner import RunResult, new_data_path, run_procedure

__all__ = ["run", "start", "Run", "RunHandle"]


class Run:
    """A run's file and how it ended: ``path``, ``status`` (finished | aborted | failed), ``points`` written,
    ``seconds``, ``error``; ``data`` is the file's rows as a pandas DataFrame (read when asked)."""

    def __init__(self, result: RunResult):
        self.path: Path = Path(result.path)
        self.status: str = result.status
        self.points: int = result.points
        self.seconds: float = result.seconds
        self.error: BaseException | None = result.error

    @property
    def data(self) -> pd.DataFrame:
        return pd.read_csv(self.path, comment="#")

    def __repr__(self) -> str:
        return f"<qpclab Run {self.status}: {self.points} points in {self.seconds:.1f} s, {self.path}>"


def _procedure(procedure: str | type[QPCProcedure] | QPCProcedure, station: str | Path | None,
               parameters: dict[str, Any]) -> QPCProcedure:
    if isinstance(procedure, str):
        proc = procedure_class(procedure)()
    elif isinstance(procedure, type) and issubclass(procedure, QPCProcedure):
        proc = procedure()
    elif isinstance(procedure, QPCProcedure):
        proc = procedure
    else:
        raise TypeError(f"procedure {procedure!r}: give a name ('staircase'), a qpclab procedure class or instance")
    if station is not None:
        parameters = {**parameters, "station_file": str(Path(station).resolve())}
    proc.set_values(**parameters)
    return proc


def _path(proc: QPCProcedure, data: str | Path | None, out: str | Path) -> Path:
    return Path(data) if data is not None else new_data_path(Path(out), registered_name(type(proc)))


def run(procedure: str | type[QPCProcedure] | QPCProcedure, station: str | Path | None = None, *,
        data: str | Path | None = None, out: str | Path = "data", progress: bool = True, **parameters: Any) -> Run:
    """Run a measurement to its end (or until Ctrl-C / an error) and return the :class:`Run`.

    ``procedure``: a name (``"staircase"``, see ``qpclab procedures``), a class or an instance; ``station``: a
    station file (default: the packaged simulated lab); ``data``: the file (default ``OUT/NAME-DATE-TIME.csv``).
    An error in the run is raised after the station is safe and the file closed (its rows kept)."""
    proc = _procedure(procedure, station, parameters)
    return Run(run_procedure(proc, _path(proc, data, out), progress=progress))


class RunHandle:
    """A measurement running in the background (:func:`start`)."""

    def __init__(self, proc: QPCProcedure, path: Path, progress: bool):
        self.path = path
        self.progress: tuple[int, int] = (0, 0)  #: (points done, points planned)
        self._control = RunControl()
        self._result: Run | None = None
        self._error: BaseException | None = None

        def target():
            try:
                self._result = Run(run_procedure(proc, path, progress=progress, control=self._control,
                                                 on_progress=self._on_progress))
            except BaseException as exc:  # noqa: BLE001 - handed to wait()
                self._error = exc

        self._thread = threading.Thread(target=target, name=f"qpclab {type(proc).__name__}", daemon=False)
        self._thread.start()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress = (done, total)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop after the current point; the station then goes to its safe values (``wait()`` for the end)."""
        self._control.stop()

    def wait(self, timeout: float | None = None) -> Run | None:
        """The finished :class:`Run` (None if still running after ``timeout`` s); re-raises the run's error."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._result

    def __repr__(self) -> str:
        done, total = self.progress
        state = "running" if self.running else "ended"
        return f"<qpclab RunHandle {state}: {done}/{total} points, {self.path}>"


def start(procedure: str | type[QPCProcedure] | QPCProcedure, station: str | Path | None = None, *,
          data: str | Path | None = None, out: str | Path = "data", progress: bool = False,
          **parameters: Any) -> RunHandle:
    """Start a measurement in a background thread and return its :class:`RunHandle` (``stop()``, ``wait()``,
    ``progress``). Everything is checked before this returns: bad parameters or limits raise here."""
    from .procedures.runner import prepare

    proc = _procedure(procedure, station, parameters)
    prepare(proc)
    return RunHandle(proc, _path(proc, data, out), progress)
