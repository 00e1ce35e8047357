"""``qpclab gui``: the live window for any procedure (pymeasure's queue and browser, qpclab's fast plots).

The window opens no network socket (pymeasure publishes on port 5888 when pyzmq is installed; qpclab does not
unless asked).
"""

from __future__ import annotations

import sys

__all__ = ["build_window", "run_window", "PLOTS"]

#: procedure name -> (curves [(x, y)], maps [(x, y, z)])
PLOTS = {
    "staircase": ([("Gate (V)", "G/G0")], []),
    "gate-gate-map": ([("Gate (V)", "G/G0")], [("Gate (V)", "Gate 2 (V)", "G/G0")]),
    "bias-map": ([("Gate (V)", "G/G0")], [("Gate (V)", "Bias (V)", "G/G0")]),
    "field-map": ([("Gate (V)", "G/G0")], [("Gate (V)", "Field (T)", "G/G0")]),
    "temperature-map": ([("Gate (V)", "G/G0")], [("Gate (V)", "Temperature (K)", "G/G0")]),
    "shot-noise": ([("Bias (V)", "PSD (V^2/Hz)"), ("Bias (V)", "G/G0")], []),
    "noise-vs-gate": ([("Gate (V)", "PSD (V^2/Hz)"), ("Gate (V)", "G/G0")], []),
    "hall-sweep": ([("Field (T)", "R_xy (ohm)"), ("Field (T)", "R_xx (ohm)")], []),
}


def build_window(name: str, station_file: str = ""):
    """The live window for procedure ``name`` (a QApplication must exist), parameters editable in its inputs."""
    from .procedures import procedure_class
    from .windows import LiveMapWindow, LiveWindow

    cls = procedure_class(name)
    curves, maps = PLOTS[name]
    inputs = [attr for attr in cls().parameter_objects()]
    displays = [a for a in ("gate", "start", "stop", "step") if a in inputs]
    window_cls = LiveMapWindow if maps else LiveWindow
    window = window_cls(cls, plots=curves, maps=maps, inputs=inputs, displays=displays, port=None)
    window.setWindowTitle(f"qpclab: {name}")
    if station_file:
        window.inputs.set_parameters({"station_file": station_file})
    return window


def run_window(name: str, station_file: str = "") -> int:
    """Open the window and run the Qt event loop until it is closed."""
    from pyqtgraph.Qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    window = build_window(name, station_file)
    window.show()
    return app.exec()
