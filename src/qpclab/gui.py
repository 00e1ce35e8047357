"""``qpclab gui``: the live window for any procedure (pymeasure's queue and browser, qpclab's fast plots), running
through qpclab's one executor and writer (see :mod:`qpclab.windows`).

The window opens no network socket (pymeasure publishes on port 5888 when pyzmq is installed; qpclab does not
unless asked).
"""

from __future__ import annotations

import sys

__all__ = ["build_window", "run_window"]


def build_window(name: str, station_file: str = "", directory: str = "data"):
    """The live window for procedure ``name`` (a QApplication must exist), parameters editable in its inputs, runs
    written to ``directory`` under the command line's names; ``station_file`` for every queued run."""
    from .procedures import entry, procedure_class
    from .windows import LiveMapWindow, LiveWindow

    cls = procedure_class(name)
    spec = entry(name)
    inputs = cls.parameter_order()
    displays = [a for a in ("gate", "start", "stop", "step") if a in inputs]
    window_cls = LiveMapWindow if spec.maps else LiveWindow
    # online fits as the points arrive (a grid or an adaptive run): the staircase's saddle-point fit on its plot,
    # the bias map's diamonds on the map
    saddle_fit = spec.curves[0] if spec.analysis == "staircase" else None
    diamonds = spec.maps[0] if spec.analysis == "bias map" else None
    window = window_cls(cls, plots=list(spec.curves), maps=list(spec.maps), inputs=inputs, displays=displays,
                        slow=spec.slow or None, saddle_fit=saddle_fit, diamonds=diamonds, port=None,
                        inputs_in_scrollarea=True)
    window.setWindowTitle(f"qpclab: {name}")
    window.directory = directory
    if station_file:
        window.station_file = station_file
        window.inputs.station_file.setValue(station_file)
    return window


def run_window(name: str, station_file: str = "") -> int:
    """Open the window and run the Qt event loop until it is closed."""
    from pyqtgraph.Qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    window = build_window(name, station_file)
    window.show()
    return app.exec()
