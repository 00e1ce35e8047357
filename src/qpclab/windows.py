"""pymeasure windows whose live plots are fed from memory instead of re-reading the data file.

:class:`LiveWindow` is a pymeasure ``ManagedWindowBase`` (inputs, queue, abort, browser, file input, log, all as in
pymeasure) with:

- a tab of several live curves at once (``plots=[(x column, y column), ...]``; a y column in G0 gets dashed lines
  at integer G0), each drawn by :class:`qpclab.live.LiveCurve`, or with ``slow=COLUMN`` as line cuts coloured by
  that column's value with a colour bar (:class:`qpclab.live.LiveLines`; an adaptive run's line drawn sorted by x);
  ``saddle_fit=(gate column, G/G0 column)`` adds the online saddle-point fit to that plot
  (:class:`qpclab.live_fits.LiveSaddleFit`);
- for maps, a tab of live images (``maps=[(x column, y column, z column), ...]``) drawn by
  :class:`qpclab.live.LiveMap` on the grid the procedure will visit (scattered points of an adaptive map
  triangulated onto it), each with a choice of z or its derivative along the fast axis (dG/dV_g);
  ``diamonds=(gate, bias, G/G0)`` adds the online estimate of a bias map's diamonds
  (:class:`qpclab.live_fits.LiveDiamonds`);
- qpclab procedures run through qpclab's one executor and writer (:func:`qpclab.procedures.runner.run_procedure`),
  exactly as from the command line: same file format and names (``<procedure>-<date>-<time>.csv`` in the window's
  folder), ``#Status:`` line, safe exits; every row goes to the run's :class:`qpclab.live.LiveData` after the
  writer has written it. A queued run is checked first (parameters, station, every planned value against the
  limits) and refused with the reason in the window's status bar. Plain pymeasure procedures run through
  pymeasure's own worker and recorder;
- a suspended run (:mod:`qpclab.procedures.suspenders`) shows why in the status bar; its Resume button measures
  again at once, Abort ends the run; each pause and resume goes to the log;
- no network socket: pymeasure's manager publishes every record with ZMQ on port 5888 of all interfaces when
  pyzmq is installed; here the port is None unless asked for (``port=5888``).

The map grid comes from ``grid(procedure) -> (fast axis values, slow axis values)`` if given to the window, else
from the procedure's ``map_grid()`` method.

:class:`LiveMapWindow` is the same window with the maps tab first.
"""

from __future__ import annotations

import logging
import time
import weakref
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from pymeasure.display.manager import Manager
from pymeasure.display.listeners import Monitor
from pymeasure.display.Qt import QtCore, QtWidgets
from pymeasure.display.widgets import LogWidget
from pymeasure.display.widgets.tab_widget import TabWidget
from pymeasure.display.windows.managed_window import ManagedWindowBase
from pymeasure.experiment import Procedure, Results
from pymeasure.experiment.results import CSVFormatter
from pymeasure.experiment.workers import Worker

from .analysis.circuit import MeasurementCircuit
from .live import LiveCurve, LiveData, LiveLines, LiveMap, add_g0_grid, derivative_label, is_g0_column
from .live_fits import LiveDiamonds, LiveSaddleFit

log = logging.getLogger(__name__)

__all__ = ["LiveWindow", "LiveMapWindow", "LivePlotsWidget", "LiveMapsWidget", "LiveManager", "LiveWorker",
           "live_data_for", "attach_live_data"]

GridFunction = Callable[[object], tuple[Sequence[float], Sequence[float]]]


#: each pymeasure ``Results`` of the window's browser -> its in-memory buffer (gone with the Results)
_BUFFERS: "weakref.WeakKeyDictionary[Results, LiveData]" = weakref.WeakKeyDictionary()


def attach_live_data(results: Results, data: LiveData) -> None:
    """Make ``data`` the in-memory buffer the window's plots read for ``results``."""
    data.results = results
    _BUFFERS[results] = data


def live_data_for(results: Results) -> LiveData:
    """The in-memory buffer of a pymeasure ``Results`` (made on first use; filled from the file if the file
    already holds data, e.g. a run opened from disk)."""
    data = _BUFFERS.get(results)
    if data is None:
        data = LiveData(results.procedure.DATA_COLUMNS)
        try:
            frame = results.data  # a file opened from disk: read once
        except Exception:  # noqa: BLE001 - an empty or unreadable file: start empty
            frame = None
        if frame is not None and len(frame):
            data.extend({c: frame[c].to_numpy(dtype=float, na_value=np.nan) for c in data.columns
                         if c in frame.columns})
        attach_live_data(results, data)
    return data


class PendingResults(Results):
    """A queued qpclab run's results: pymeasure's ``Results`` for the browser and the plots, but the file is
    qpclab's writer's, created when the run starts (pymeasure's ``Results`` would write its own header at once)."""

    def __init__(self, procedure, data_filename: str):  # noqa: D107 - no call to Results.__init__: it writes
        self.procedure = procedure
        self.procedure_class = type(procedure)
        self.parameters = procedure.parameter_objects()
        self._header_count = self._metadata_count = -1
        self._last_file_size = 0
        self.formatter = CSVFormatter(columns=procedure.DATA_COLUMNS)
        self.data_filename = data_filename
        self.data_filenames = [data_filename]
        self._data = None
        self.error_message = ""


class LiveWorker(Worker):
    """Runs a queued experiment: qpclab procedures through qpclab's executor and writer (as the command line
    does), others through pymeasure's Worker; every record also goes to the run's in-memory buffer after the file
    has it."""

    #: the running qpclab run's control (its suspension, the window's Resume); None before it starts
    control = None

    def __init__(self, results, *args, **kwargs):
        super().__init__(results, *args, **kwargs)
        self.live = live_data_for(results)

    def handle_record(self, record):
        super().handle_record(record)  # pymeasure's recorder: one line written and flushed
        self.live.append(record)

    def run(self):
        from .procedures.base import QPCProcedure
        from .procedures.executor import RunControl
        from .procedures.runner import run_procedure

        procedure = self.results.procedure
        if not isinstance(procedure, QPCProcedure):
            super().run()
            return
        self.procedure = procedure
        self.update_status(Procedure.RUNNING)
        self.emit("progress", 0.0)
        # the window's Abort stops after the current point (or ends a suspension); pauses and resumes go to the log
        control = self.control = RunControl(event=self._should_stop, on_event=lambda line: log.warning("%s", line))
        try:
            result = run_procedure(procedure, self.results.data_filename, progress=False, control=control,
                                   on_point=self.live.append,
                                   on_progress=lambda done, total: self.emit("progress", 100.0 * done / total))
            if result.status == "finished":
                self.emit("progress", 100.0)
                self.update_status(Procedure.FINISHED)
            else:
                self.update_status(Procedure.ABORTED)
        except Exception as exc:  # noqa: BLE001 - shown in the window; the station is safe, the file closed
            self.results.error_message = f"{type(exc).__name__}: {exc}"
            log.error("%s failed: %s", type(procedure).__name__, self.results.error_message)
            self.update_status(Procedure.FAILED)
        finally:
            self.monitor_queue.put(None)


class LiveManager(Manager):
    """pymeasure's Manager running :class:`LiveWorker` (``port=None``: no ZMQ publisher)."""

    def __init__(self, widget_list, browser, port=None, log_level=logging.INFO, parent=None):
        super().__init__(widget_list, browser, port=port, log_level=log_level, parent=parent)
        self.port = port

    def next(self):
        # pymeasure's Manager.next with our worker class
        if self.is_running():
            raise Exception("Another procedure is already running")
        if not self.experiments.has_next():
            return
        experiment = self.experiments.next()
        self._running_experiment = experiment
        self._worker = LiveWorker(experiment.results, port=self.port, log_level=self.log_level)
        self._worker.is_last = lambda: not self.experiments.has_next()
        self._monitor = Monitor(self._worker.monitor_queue)
        self._monitor.worker_running.connect(self._running)
        self._monitor.worker_failed.connect(self._failed)
        self._monitor.worker_abort_returned.connect(self._abort_returned)
        self._monitor.worker_finished.connect(self._finish)
        self._monitor.progress.connect(self._update_progress)
        self._monitor.status.connect(self._update_status)
        self._monitor.log.connect(self._update_log)
        self._monitor.start()
        self._worker.start()

    def suspension(self) -> str:
        """Why the running qpclab run is suspended ("suspended: mixing chamber 0.31 K"), or ""."""
        worker = self._worker
        if worker is None or worker.control is None or not self.is_running():
            return ""
        return worker.control.suspended

    def resume_suspended(self) -> None:
        """The window's Resume: a suspended run measures again now (see RunControl.resume)."""
        if self._worker is not None and self._worker.control is not None:
            self._worker.control.resume()


def _axis_label(column: str) -> tuple[str, str | None]:
    """'Gate (V)' -> ('Gate', 'V'); 'G/G0' -> ('G/G0', None)."""
    if column.endswith(")") and " (" in column:
        name, unit = column[:-1].rsplit(" (", 1)
        return name, unit
    return column, None


class _RefreshingWidget(TabWidget, QtWidgets.QWidget):
    """A tab whose items are refreshed from memory on a timer."""

    def __init__(self, name, refresh_s: float = 0.2, parent=None):
        super().__init__(name, parent)
        self.items: list = []
        self.plots: list[pg.PlotItem] = []
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground("w")
        vbox = QtWidgets.QVBoxLayout(self)
        vbox.setContentsMargins(0, 0, 0, 0)
        vbox.addWidget(self.layout_widget)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(int(refresh_s * 1000))
        self.last_refresh_s = 0.0

    def refresh(self) -> None:
        t0 = time.perf_counter()
        for item in list(self.items):
            item.update_data()
            self._show_levels(item)
        self.last_refresh_s = time.perf_counter() - t0

    def _show_levels(self, item) -> None:
        """Bring the colour bar of the item's plot to the item's colour scale (the newest run's)."""

    def remove(self, item):
        item.remove_from(self.plots[item._plot_index])
        if item in self.items:
            self.items.remove(item)

    def clear_widget(self):
        for item in list(self.items):
            self.remove(item)

    def sizeHint(self):
        return QtCore.QSize(600, 500)


class LivePlotsWidget(_RefreshingWidget):
    """Several live curve plots at once, one per (x column, y column) pair, laid out in a grid.

    ``slow``: the column that tells a run's line cuts apart (a map's slow axis, a staircase's sweep): each line is
    drawn in the colour of its value (:class:`qpclab.live.LiveLines`), a colour bar beside each plot says which.
    ``saddle_fit``: the (gate column, G/G0 column) pair whose plot shows the online saddle-point fit
    (:class:`qpclab.live_fits.LiveSaddleFit`)."""

    def __init__(self, name, pairs: Sequence[tuple[str, str]], refresh_s: float = 0.2, columns: int = 2,
                 g0_lines: int = 20, max_points: int = 4000, linewidth: float = 1.0, slow: str | None = None,
                 saddle_fit: tuple[str, str] | None = None, colormap: str = "viridis", parent=None):
        super().__init__(name, refresh_s, parent)
        if not pairs:
            raise ValueError("LivePlotsWidget needs at least one (x column, y column) pair")
        self.pairs = [tuple(p) for p in pairs]
        self.max_points = max_points
        self.linewidth = linewidth
        self.slow = slow
        self.saddle_fit = tuple(saddle_fit) if saddle_fit else None
        self.colormap = colormap
        self.bars: dict[int, pg.ColorBarItem] = {}
        ncol = max(1, min(columns, len(self.pairs)))
        for i, (x, y) in enumerate(self.pairs):
            plot = self.layout_widget.addPlot(row=i // ncol, col=2 * (i % ncol))
            plot.showGrid(x=True, y=not is_g0_column(y), alpha=0.2)
            for side, column in (("bottom", x), ("left", y)):
                label, unit = _axis_label(column)
                plot.setLabel(side, label, units=unit)
            if g0_lines and is_g0_column(y):
                add_g0_grid(plot, g0_lines)
            if self._coloured(i):
                bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get(colormap), interactive=False,
                                      label=slow)
                self.layout_widget.addItem(bar, row=i // ncol, col=2 * (i % ncol) + 1)
                self.bars[i] = bar
            # zooming redraws the points in view at once (not at the next timer tick)
            plot.sigXRangeChanged.connect(lambda *_, index=i: self._refresh_plot(index))
            self.plots.append(plot)

    def _coloured(self, index: int) -> bool:
        """Whether plot ``index`` draws line cuts coloured by the slow column (not when it plots that column)."""
        return bool(self.slow) and self.slow not in self.pairs[index]

    @property
    def plot(self) -> pg.PlotItem:
        return self.plots[0]

    def _refresh_plot(self, index: int) -> None:
        for curve in self.items:
            if curve._plot_index == index:
                curve.update_data()

    def new_curve(self, results, color=None, **kwargs):
        color = pg.intColor(0) if color is None else color
        data = live_data_for(results)
        curves = []
        for i, (x, y) in enumerate(self.pairs):
            if self._coloured(i):
                curve = LiveLines(data, x, y, self.slow, colormap=self.colormap, max_points=self.max_points,
                                  linewidth=self.linewidth, wdg=self)
            else:
                curve = LiveCurve(data, x, y, max_points=self.max_points, wdg=self,
                                  pen=pg.mkPen(color=color, width=self.linewidth), **kwargs)
            curve._plot_index = i
            curves.append(curve)
            if self.saddle_fit == (x, y):
                fit = LiveSaddleFit(data, x, y, wdg=self)
                fit._plot_index = i
                curves.append(fit)
        return curves

    def load(self, curve):
        curve.update_data(force=True)
        curve.add_to(self.plots[curve._plot_index])
        if curve not in self.items:
            self.items.append(curve)
        self._show_levels(curve)

    def _show_levels(self, item) -> None:
        """The colour bar beside a plot of line cuts shows the newest run's scale."""
        bar = self.bars.get(item._plot_index)
        if bar is not None and isinstance(item, LiveLines) and item.levels is not None \
                and tuple(bar.levels()) != tuple(item.levels):
            bar.setLevels(values=item.levels, update_items=False)

    def set_color(self, curve, color):
        curve.set_color(color)



class LiveMapsWidget(_RefreshingWidget):
    """Live 2D maps, one plot with a colour bar per (x column, y column, z column); the newest run on top.

    Above the plots, one choice per map (``choosers``): the z column itself or its derivative along the fast axis
    (dG/dV_g for a conductance map against a gate: what bias spectroscopy reads).

    ``diamonds``: the (gate, bias, G/G0) map that shows the online estimate of the diamonds
    (:class:`qpclab.live_fits.LiveDiamonds`) with the circuit ``circuit(procedure)`` (default: the circuit of the
    procedure's station)."""

    def __init__(self, name, maps: Sequence[tuple[str, str, str]], grid: GridFunction | None = None,
                 refresh_s: float = 0.2, colormap: str = "viridis", diamonds: tuple[str, str, str] | None = None,
                 circuit: Callable[[object], MeasurementCircuit] | None = None, parent=None):
        super().__init__(name, refresh_s, parent)
        if not maps:
            raise ValueError("LiveMapsWidget needs at least one (x column, y column, z column) triple")
        self.maps = [tuple(m) for m in maps]
        self.grid = grid
        self.diamonds = tuple(diamonds) if diamonds else None
        self.circuit = circuit or _station_circuit
        self.colormap = colormap
        self.bars: list[pg.ColorBarItem] = []
        self.derivative = [False] * len(self.maps)
        self.choosers: list[QtWidgets.QComboBox] = []
        row = QtWidgets.QHBoxLayout()
        row.setContentsMargins(4, 2, 4, 0)
        for i, (x, y, z) in enumerate(self.maps):
            chooser = QtWidgets.QComboBox()
            chooser.addItems([z, derivative_label(z, x)])
            chooser.setToolTip(f"map {i + 1}: {z}, or its derivative along {x}")
            chooser.currentIndexChanged.connect(lambda index, i=i: self.show_derivative(i, index == 1))
            row.addWidget(QtWidgets.QLabel(f"Map {i + 1}:" if len(self.maps) > 1 else "Show:"))
            row.addWidget(chooser)
            self.choosers.append(chooser)
        row.addStretch(1)
        self.layout().insertLayout(0, row)
        for i, (x, y, z) in enumerate(self.maps):
            plot = self.layout_widget.addPlot(row=i, col=0)
            for side, column in (("bottom", x), ("left", y)):
                label, unit = _axis_label(column)
                plot.setLabel(side, label, units=unit)
            plot.setTitle(z)
            bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get(colormap), interactive=False,
                                  label=z)
            self.layout_widget.addItem(bar, row=i, col=1)
            self.plots.append(plot)
            self.bars.append(bar)

    @property
    def plot(self) -> pg.PlotItem:
        return self.plots[0]

    def grid_of(self, procedure) -> tuple[Sequence[float], Sequence[float]]:
        if self.grid is not None:
            return self.grid(procedure)
        from .procedures.maps import GateMap

        if isinstance(procedure, GateMap):
            return procedure.map_grid()
        raise ValueError(f"{type(procedure).__name__} is not one of qpclab's gate maps and the window was given no "
                         "grid=: the live map needs the fast and slow axis values before the run")

    def new_curve(self, results, color=None, **kwargs):
        data = live_data_for(results)
        xs, ys = self.grid_of(results.procedure)
        items = []
        for i, (x, y, z) in enumerate(self.maps):
            item = LiveMap(data, x, y, z, xs, ys, colormap=self.colormap, wdg=self)
            item._plot_index = i
            if color is not None:
                item.color = pg.mkColor(color)  # the run's colour in the browser
            if self.derivative[i]:
                item.show_derivative(True)
            items.append(item)
            if self.diamonds == (x, y, z):
                estimate = LiveDiamonds(data, x, y, z, self.circuit(results.procedure), wdg=self)
                estimate._plot_index = i
                items.append(estimate)
        return items

    def show_derivative(self, index: int, on: bool) -> None:
        """Map ``index`` shows the derivative along its fast axis (True) or its z column (False), every run's."""
        self.derivative[index] = bool(on)
        x, _, z = self.maps[index]
        label = derivative_label(z, x) if on else z
        self.plots[index].setTitle(label)
        self.bars[index].getAxis("left").setLabel(label)  # where ColorBarItem puts its label
        for item in self.items:
            if item._plot_index == index and isinstance(item, LiveMap):
                item.show_derivative(on)
                self._show_levels(item)
        if self.choosers[index].currentIndex() != int(on):
            self.choosers[index].setCurrentIndex(int(on))

    def load(self, item):
        item.add_to(self.plots[item._plot_index])
        if item not in self.items:
            self.items.append(item)
        item.update_data(force=True)
        self._show_levels(item)

    def _show_levels(self, item) -> None:
        bar = self.bars[item._plot_index]
        if isinstance(item, LiveMap) and item.levels is not None and tuple(bar.levels()) != tuple(item.levels):
            bar.setLevels(values=item.levels, update_items=False)


def _station_circuit(procedure) -> MeasurementCircuit:
    """The measurement circuit of a qpclab procedure's station (its station file, or the packaged lab)."""
    from .procedures.base import QPCProcedure

    if not isinstance(procedure, QPCProcedure):
        raise ValueError(f"{type(procedure).__name__} is not a qpclab procedure: give the window the circuit "
                         "(circuit=) for the online diamonds")
    return procedure.load_station().circuit


class LiveWindow(ManagedWindowBase):
    """A pymeasure window with live plots fed from memory.

    :param procedure_class: the pymeasure Procedure to run
    :param plots: (x column, y column) pairs, one live plot each (default: first two DATA_COLUMNS)
    :param maps: (x column, y column, z column) triples, one live image each (needs ``grid`` or
        ``procedure.map_grid()``)
    :param grid: ``grid(procedure) -> (fast axis values, slow axis values)`` for the maps
    :param refresh_s: refresh period of the plots, s
    :param g0_lines: dashed lines at 1..g0_lines G0 on plots of a G0 column (0: none)
    :param max_points: most points drawn per curve (long curves are decimated by min/max blocks)
    :param slow: the column telling line cuts apart (a map's slow axis, a staircase's sweep): each line of the
        curve plots in the colour of its value, with a colour bar (None: each run in its browser colour)
    :param saddle_fit: the (gate column, G/G0 column) plot that shows the online saddle-point fit (None: none)
    :param diamonds: the (gate, bias, G/G0) map that shows the online estimate of the diamonds (None: none)
    :param port: ZMQ publisher port for remote listeners (None: no socket is opened)
    :param kwargs: passed to pymeasure's ``ManagedWindowBase`` (inputs, displays, sequencer, ...)
    """

    maps_first = False

    def __init__(self, procedure_class, plots: Sequence[tuple[str, str]] | None = None,
                 maps: Sequence[tuple[str, str, str]] = (), grid: GridFunction | None = None,
                 refresh_s: float = 0.2, g0_lines: int = 20, max_points: int = 4000, slow: str | None = None,
                 saddle_fit: tuple[str, str] | None = None, diamonds: tuple[str, str, str] | None = None,
                 port: int | None = None, log_fmt=None,
                 log_datefmt=None, **kwargs):
        columns = list(procedure_class.DATA_COLUMNS)
        if plots is None:
            plots = [(columns[0], columns[1])]
        plots = [tuple(p) for p in plots]
        maps = [tuple(m) for m in maps]
        for spec in plots + maps + [(slow,) if slow else (), tuple(saddle_fit or ()), tuple(diamonds or ())]:
            for column in spec:
                if column not in columns:
                    raise ValueError(f"{procedure_class.__name__} has no data column {column!r}; "
                                     f"its columns are {columns}")
        self._port = port
        self.log_widget = LogWidget("Experiment Log", fmt=log_fmt, datefmt=log_datefmt)
        widgets = []
        self.plot_widget = LivePlotsWidget("Live plots", plots, refresh_s=refresh_s, g0_lines=g0_lines,
                                           max_points=max_points, slow=slow,
                                           saddle_fit=saddle_fit) if plots else None
        self.map_widget = LiveMapsWidget("Maps", maps, grid=grid, refresh_s=refresh_s,
                                         diamonds=diamonds) if maps else None
        ordered = [self.map_widget, self.plot_widget] if self.maps_first else [self.plot_widget, self.map_widget]
        widgets = tuple(w for w in ordered if w is not None)
        kwargs["widget_list"] = tuple(kwargs.get("widget_list", ())) + widgets + (self.log_widget,)
        super().__init__(procedure_class, **kwargs)
        self.browser_widget.browser.measured_quantities.update(c for spec in plots + maps for c in spec)
        logging.getLogger().addHandler(self.log_widget.handler)

    def _setup_ui(self):
        super()._setup_ui()
        # replace pymeasure's manager (file-re-reading curves, ZMQ on port 5888) by ours
        old = self.manager
        self.manager = LiveManager(self.widget_list, self.browser, port=self._port, log_level=self.log_level,
                                   parent=self)
        self.manager.abort_returned.connect(self.abort_returned)
        self.manager.queued.connect(self.queued)
        self.manager.running.connect(self.running)
        self.manager.finished.connect(self.finished)
        self.manager.log.connect(self.log.handle)
        self.manager.failed.connect(self._run_failed)
        old.deleteLater()
        self._setup_suspension()

    def _setup_suspension(self) -> None:
        """A Resume button in the status bar, enabled while a run is suspended; the reason in the status bar."""
        self.resume_button = QtWidgets.QPushButton("Resume")
        self.resume_button.setToolTip("measure again now, without waiting for the suspenders to clear")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.manager.resume_suspended)
        self.statusBar().addPermanentWidget(self.resume_button)
        self._suspension_shown = False
        self._suspension_timer = QtCore.QTimer(self)
        self._suspension_timer.timeout.connect(self._show_suspension)
        self._suspension_timer.start(250)

    def _show_suspension(self) -> None:
        reason = self.manager.suspension()
        if reason:
            self.statusBar().setStyleSheet("color: #a05000; font-weight: bold")
            self.statusBar().showMessage(f"{reason}; Resume measures again now, Abort ends the run")
        elif self._suspension_shown:
            self.statusBar().setStyleSheet("")
            self.statusBar().clearMessage()
        self.resume_button.setEnabled(bool(reason))
        self._suspension_shown = bool(reason)

    #: the station file of queued qpclab runs whose own "Station file" input is empty ("": the packaged lab)
    station_file = ""

    def queue(self, procedure=None):
        """Queue a run. A qpclab procedure is checked first (parameters, station, every planned value against the
        limits) and refused with the reason in the status bar; its file is named as the command line names it."""
        from .procedures import registered_name
        from .procedures.base import QPCProcedure
        from .procedures.runner import new_data_path, prepare

        if procedure is None:
            procedure = self.make_procedure()
        if not isinstance(procedure, QPCProcedure):
            super().queue(procedure)
            return
        try:
            if self.station_file and not procedure.station_file:
                procedure.set_values(station_file=self.station_file)
            prepare(procedure)
            path = new_data_path(Path(self.directory), registered_name(type(procedure)))
        except (ValueError, OSError) as exc:
            self.show_error(f"not queued: {exc}")
            return
        self.statusBar().clearMessage()
        self.manager.queue(self.new_experiment(PendingResults(procedure, str(path))))

    def show_error(self, text: str) -> None:
        """An error the user must see: in the status bar (red) and the log."""
        self.last_error = text
        self.statusBar().setStyleSheet("color: #b00000; font-weight: bold")
        self.statusBar().showMessage(text.splitlines()[0] if text else "")
        log.error("%s", text)

    def _run_failed(self, experiment) -> None:
        message = getattr(experiment.results, "error_message", "")
        self.show_error(f"{Path(experiment.data_filename).name} failed: {message}" if message else
                        f"{Path(experiment.data_filename).name} failed (see the log)")

    def closeEvent(self, event):
        self._suspension_timer.stop()
        logging.getLogger().removeHandler(self.log_widget.handler)
        for w in self.widget_list:
            timer = getattr(w, "timer", None)
            if timer is not None:
                timer.stop()
        super().closeEvent(event)

    def running_data(self) -> LiveData | None:
        """The in-memory data of the running experiment (None if nothing runs)."""
        if not self.manager.is_running():
            return None
        return live_data_for(self.manager.running_experiment().results)


class LiveMapWindow(LiveWindow):
    """:class:`LiveWindow` for maps: the maps tab first. ``maps`` is required."""

    maps_first = True

    def __init__(self, procedure_class, maps: Sequence[tuple[str, str, str]], plots=(), **kwargs):
        if not maps:
            raise ValueError("LiveMapWindow needs at least one (x column, y column, z column) map")
        super().__init__(procedure_class, plots=list(plots), maps=maps, **kwargs)
