"""Live plots fed from memory (qpclab.live, qpclab.windows), offscreen.

The window runs a real staircase on the simulated lab through pymeasure's queue; the curve in memory must equal
the CSV file pymeasure wrote, and the screenshot must show it. A map procedure defined here emits a grid; the
image must hold the CSV's values at their grid places and the screenshot must show the colours of those values.
The decimation is checked against a brute-force loop written here."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pymeasure.display.Qt import QtCore
from pymeasure.experiment import FloatParameter, IntegerParameter, Procedure

import pyqtgraph as pg

from conftest import wait_until
from qpclab.live import LiveCurve, LiveData, LiveMap, add_g0_grid, is_g0_column, minmax_decimate, nearest_index


def _image(widget):
    """The widget rendered offscreen, as an (h, w, 3) uint8 array."""
    img = widget.grab().toImage().convertToFormat(pg.QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits().asstring(h * bpl), dtype=np.uint8).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3)


def _near_colour(rgb: np.ndarray, colour, tol: int = 40) -> np.ndarray:
    c = np.array(pg.mkColor(colour).getRgb()[:3])
    return np.all(np.abs(rgb.astype(int) - c) <= tol, axis=-1)


# ---- decimation and buffers (no window) -----------------------------------------------------------------------

def _brute_minmax(x, y, k):
    """Independent block min/max: a plain loop."""
    ox, oy = [], []
    n = len(y)
    for b in range(n // k):
        seg = list(range(b * k, (b + 1) * k))
        lo = min(seg, key=lambda i: (y[i], i))
        hi = max(seg, key=lambda i: (y[i], -i))
        for i in sorted({lo, hi}) if lo != hi else (lo, lo):
            ox.append(x[i])
            oy.append(y[i])
    tail = (n // k) * k
    return np.array(ox + list(x[tail:])), np.array(oy + list(y[tail:]))


def test_minmax_decimate_keeps_extremes_of_every_block():
    rng = np.random.default_rng(3)
    n = 100_003
    x = np.cumsum(rng.standard_normal(n))       # not monotonic
    y = rng.standard_normal(n)
    y[77_777] = 50.0                            # one spike must survive
    dx, dy = minmax_decimate(x, y, max_points=2000)
    # blocks of 128 (the smallest power of two with 2 * n / k <= 2000): 2 * 781 points + a raw tail of 35
    assert len(dx) == 2 * 781 + 35
    assert dy.max() == 50.0 and dy.min() == y.min()
    bx, by = _brute_minmax(x, y, 128)
    np.testing.assert_array_equal(dy, by)
    np.testing.assert_array_equal(dx, bx)


def test_short_curves_are_not_decimated():
    x = np.arange(10.0)
    y = x ** 2
    dx, dy = minmax_decimate(x, y, max_points=100)
    np.testing.assert_array_equal(dx, x)
    np.testing.assert_array_equal(dy, y)


def test_live_curve_grows_incrementally_like_a_full_decimation(qapp):
    rng = np.random.default_rng(5)
    data = LiveData(["x", "y"])
    curve = LiveCurve(data, "x", "y", max_points=1000)
    x = np.linspace(0, 1, 50_000)
    y = np.sin(40 * x) + 0.1 * rng.standard_normal(len(x))
    for a in range(0, len(x), 3_331):  # arrives in blocks, refreshed after each
        data.extend({"x": x[a:a + 3_331], "y": y[a:a + 3_331]})
        curve.update_data()
    shown_x, shown_y = curve.getData()
    k = 128  # smallest power of two with 2 * 50000 / k <= 1000
    bx, by = _brute_minmax(x, y, k)
    np.testing.assert_allclose(shown_y, by)
    np.testing.assert_allclose(shown_x, bx)
    assert curve.update_data() is False  # nothing new: nothing done


def test_zoomed_curve_shows_every_point_in_view(qapp):
    data = LiveData(["x", "y"])
    x = np.linspace(0, 10, 100_000)
    data.extend({"x": x, "y": np.cos(x)})
    plot = pg.PlotItem()
    curve = LiveCurve(data, "x", "y", max_points=2000)
    plot.addItem(curve)
    curve.update_data()
    assert curve.displayed_points() <= 2000 + 64
    plot.setXRange(5.0, 5.1, padding=0)  # the user zooms in: ~1000 points in view
    curve.update_data()
    sx, sy = curve.getData()
    inside = (x >= 5.0) & (x <= 5.1)
    assert len(sx) == inside.sum() + 2  # every point in view plus one neighbour each side
    np.testing.assert_allclose(sy, np.cos(sx))


def test_live_data_reader_never_sees_half_rows():
    data = LiveData(["a", "b"], capacity=16)
    n = 50_000
    bad = []

    def writer():
        for i in range(n):
            data.append({"a": i, "b": -i, "ignored": 1})

    t = threading.Thread(target=writer)
    t.start()
    while t.is_alive():
        m, (a, b) = data.columns_view(["a", "b"])
        if not np.array_equal(a, -b) or not np.array_equal(a, np.arange(m)):
            bad.append(m)
    t.join()
    assert not bad
    assert len(data) == n
    np.testing.assert_array_equal(data.column("a"), np.arange(n))


def test_live_data_non_numbers_become_nan_and_unknown_column_is_named():
    data = LiveData(["Gate (V)", "Note"])
    data.append({"Gate (V)": "0.5", "Note": "plateau"})
    data.append({"Gate (V)": 0.6})
    np.testing.assert_array_equal(data.column("Gate (V)"), [0.5, 0.6])
    assert np.isnan(data.column("Note")).all()
    with pytest.raises(KeyError, match="G/G0"):
        data.column("G/G0")


def test_nearest_index_on_a_descending_nonuniform_grid():
    axis = np.unique([0.0, -0.1, -0.3, -0.6])  # sorted: -0.6, -0.3, -0.1, 0.0
    idx, ok = nearest_index(axis, np.array([-0.61, -0.29, -0.05 + 1e-6, 0.0, 0.2, -1.0]))
    assert list(idx[:4]) == [0, 1, 3, 3]
    assert list(ok) == [True, True, True, True, False, False]


def test_g0_helpers(qapp):
    assert is_g0_column("G/G0") and is_g0_column("G (G0)") and not is_g0_column("G (S)")
    plot = pg.PlotItem()
    lines = add_g0_grid(plot, 5)
    assert [ln.value() for ln in lines] == [1, 2, 3, 4, 5]
    assert all(ln.angle == 0 for ln in lines)


# ---- the window running a staircase on the simulated lab --------------------------------------------------------

def test_window_runs_staircase_live_curve_equals_csv_and_is_drawn(qapp, tmp_path, sim_library):
    from qpclab.procedures.staircase import Staircase
    from qpclab.windows import LiveWindow, live_data_for

    window = LiveWindow(Staircase, plots=[("Gate (V)", "G/G0"), ("Gate (V)", "X (V)")],
                        inputs=["start", "stop", "step", "time_constant"])
    window.directory = str(tmp_path)
    window.resize(1200, 800)
    window.show()
    plots = window.plot_widget
    qapp.processEvents()
    pen = pg.intColor(0)  # the first experiment's colour
    before = _near_colour(_image(plots), pen).sum()

    proc = Staircase()
    proc.start, proc.stop, proc.step, proc.time_constant = -1.0, 0.0, 0.004, 1e-4
    publishers = []

    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]

    def done():
        worker = window.manager._worker
        if worker is not None:
            publishers.append(worker.publisher)
        return not window.manager.is_running() and proc.status != Procedure.QUEUED

    wait_until(qapp, done)
    for _ in range(3):  # let the last refresh happen
        qapp.processEvents()
        time.sleep(0.25)
    plots.refresh()
    qapp.processEvents()
    assert proc.status == Procedure.FINISHED, Procedure.STATUS_STRINGS[proc.status]

    # no socket: pymeasure's ZMQ publisher (port 5888, all interfaces) was not opened
    assert window.manager.port is None and publishers and all(p is None for p in publishers)

    # the file pymeasure wrote and the data in memory hold the same points
    csv = pd.read_csv(experiment.data_filename, comment="#")
    assert len(csv) == 251
    live = live_data_for(experiment.results)
    for column in Staircase.DATA_COLUMNS:
        np.testing.assert_allclose(live.column(column), csv[column].to_numpy(), rtol=1e-9, atol=1e-15)
    # and the curves draw exactly those points (few enough: no decimation)
    curves = [c for c in experiment.curve_list if isinstance(c, LiveCurve)]
    assert [(c.x, c.y) for c in curves] == [("Gate (V)", "G/G0"), ("Gate (V)", "X (V)")]
    gx, gy = curves[0].getData()
    np.testing.assert_allclose(gx, csv["Gate (V)"])
    np.testing.assert_allclose(gy, csv["G/G0"])
    # G0 lines on the G/G0 plot only
    g0_lines = [i for i in plots.plots[0].items if isinstance(i, pg.InfiniteLine)]
    assert len(g0_lines) == 20 and not [i for i in plots.plots[1].items if isinstance(i, pg.InfiniteLine)]

    # the screenshot shows the curves: pixels of the curve colour across most of each plot's width
    path = tmp_path / "live_staircase.png"
    assert window.grab().save(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rgb = _image(plots)
    on_curve = _near_colour(rgb, pen)
    assert before < 20 and on_curve.sum() > 500
    half = rgb.shape[1] // 2
    for part in (on_curve[:, :half], on_curve[:, half:]):
        cols = np.flatnonzero(part.any(axis=0))
        rows = np.flatnonzero(part.any(axis=1))
        assert cols.max() - cols.min() > 0.6 * half  # the sweep spans the plot
        assert rows.max() - rows.min() > 0.5 * rgb.shape[0]  # the staircase climbs

    # a finished run opened again from its file (pymeasure's "Open"): the curve is read from the file once
    from pymeasure.experiment import Results

    reopened = window.new_experiment(Results.load(experiment.data_filename))
    window.manager.load(reopened)
    rx, ry = reopened.curve_list[0].getData()
    np.testing.assert_allclose(ry, csv["G/G0"])
    window.close()


# ---- a map through the window -----------------------------------------------------------------------------------

class GridMap(Procedure):
    """A gate x bias map of a made-up conductance, emitted in a serpentine (alternate rows reversed)."""

    nx = IntegerParameter("Gate points", default=40)
    ny = IntegerParameter("Bias points", default=30)
    bias_max = FloatParameter("Bias max", units="V", default=2e-3)

    DATA_COLUMNS = ["Gate (V)", "Bias (V)", "G/G0"]

    def map_grid(self):
        return np.linspace(-1.0, 0.0, self.nx), np.linspace(-self.bias_max, self.bias_max, self.ny)

    @staticmethod
    def g(gate, bias):
        return 4.0 * (gate + 1.0) + 1000.0 * abs(bias)

    def execute(self):
        gates, biases = self.map_grid()
        for j, b in enumerate(biases):
            for v in (gates if j % 2 == 0 else gates[::-1]):
                self.emit("results", {"Gate (V)": v, "Bias (V)": b, "G/G0": self.g(v, b)})
            self.emit("progress", 100.0 * (j + 1) / len(biases))


def test_map_window_image_holds_the_csv_values_and_shows_their_colours(qapp, tmp_path):
    from qpclab.windows import LiveMapWindow

    window = LiveMapWindow(GridMap, maps=[("Gate (V)", "Bias (V)", "G/G0")], plots=[("Gate (V)", "G/G0")],
                           grid=GridMap.map_grid)
    window.directory = str(tmp_path)
    window.resize(1000, 800)
    window.show()
    proc = GridMap()
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: not window.manager.is_running() and proc.status == Procedure.FINISHED)
    maps = window.map_widget
    maps.refresh()
    qapp.processEvents()

    live_map = next(i for i in experiment.curve_list if isinstance(i, LiveMap))
    assert live_map.shape == (30, 40) and live_map.off_grid == 0 and live_map.filled() == 1200
    csv = pd.read_csv(experiment.data_filename, comment="#")
    assert len(csv) == 1200
    # the image in row-major (bias, gate) order, built here from the CSV alone
    table = csv.pivot_table(index="Bias (V)", columns="Gate (V)", values="G/G0")
    np.testing.assert_allclose(live_map.image, table.to_numpy(), rtol=1e-6)
    lo, hi = csv["G/G0"].min(), csv["G/G0"].max()
    assert live_map.levels == pytest.approx((lo, hi))
    assert maps.bars[0].levels() == pytest.approx((lo, hi))  # the colour bar shows the scale

    path = tmp_path / "live_map.png"
    assert window.grab().save(str(path))
    # sample the screenshot at pixel centres of the map: the colour is the colour map of the value there
    plot = maps.plots[0]
    rgb = _image(maps.layout_widget)
    cmap = pg.colormap.get("viridis")
    checked = 0
    for gate, bias in ((-1.0, 0.0), (-0.5, 1e-3), (0.0, -2e-3), (-0.25, -1e-3)):
        gi = int(np.argmin(np.abs(np.linspace(-1, 0, 40) - gate)))
        bi = int(np.argmin(np.abs(np.linspace(-2e-3, 2e-3, 30) - bias)))
        gv, bv = np.linspace(-1, 0, 40)[gi], np.linspace(-2e-3, 2e-3, 30)[bi]
        scene = plot.vb.mapViewToScene(QtCore.QPointF(gv, bv))
        px = maps.layout_widget.mapFromScene(scene)
        colour = rgb[int(px.y()), int(px.x())].astype(int)
        expected = np.array(cmap.map((GridMap.g(gv, bv) - lo) / (hi - lo), mode="byte")[:3], dtype=int)
        assert np.all(np.abs(colour - expected) <= 12), (gate, bias, colour, expected)
        checked += 1
    assert checked == 4
    window.close()


def test_abort_from_the_window_stops_within_a_point_leaves_gates_safe_and_keeps_the_data(qapp, tmp_path,
                                                                                          sim_library):
    from qpclab.procedures.staircase import Staircase
    from qpclab.windows import LiveWindow, live_data_for

    lab = sim_library.lab
    window = LiveWindow(Staircase, plots=[("Gate (V)", "G/G0")], inputs=["start", "stop", "step"])
    window.directory = str(tmp_path)
    window.show()
    proc = Staircase()
    proc.start, proc.stop, proc.step, proc.time_constant = -1.4, 0.0, 0.002, 0.003  # ~25 s if not stopped
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: len(live_data_for(experiment.results).column("Gate (V)")) >= 20)
    at_abort = len(live_data_for(experiment.results).column("Gate (V)"))
    window.abort()
    wait_until(qapp, lambda: not window.manager.is_running())
    assert proc.status == Procedure.ABORTED
    csv = pd.read_csv(experiment.data_filename, comment="#")
    assert at_abort <= len(csv) <= at_abort + 1  # stopped within one point, every point kept
    live = live_data_for(experiment.results).column("G/G0")
    np.testing.assert_allclose(live, csv["G/G0"].to_numpy())
    # the gate came back to its safe value (0 V) in steps within its step and rate
    spec = lab.station.gates["gate"]
    history = list(lab.history["gate"])
    assert history[-1][1] == 0.0
    for (t0, v0), (t1, v1) in zip(history, history[1:]):
        assert abs(v1 - v0) <= spec.step * (1 + 1e-6)
        assert abs(v1 - v0) <= spec.rate * (t1 - t0) * (1 + 1e-3) + 1e-6
    # the window writes qpclab's file: named as the command line names it, closed with its status line, and an
    # aborted run is refused by `qpclab resume`
    from qpclab.cli import main
    from qpclab.procedures.writer import run_status

    assert Path(experiment.data_filename).name.startswith("staircase-")
    assert run_status(experiment.data_filename) == "aborted"
    assert main(["resume", experiment.data_filename, "--quiet"]) == 2
    window.close()
