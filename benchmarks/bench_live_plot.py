"""Live plot refresh time: qpclab's in-memory plots against pymeasure's stock widgets, measured in the same run.

A refresh is what the plot's timer does while a run goes on: new points have arrived since the last refresh
(``BLOCK`` points for a curve, one slow-axis row of 1000 points for a map), the plot brings itself up to date and
the widget is rendered (``QWidget.grab()``: the whole plot painted into a pixmap, so the cost of drawing the
points is included, not only the data handling). Both sides use an 800 x 600 plot of the same data.

- qpclab: ``LivePlotsWidget`` / ``LiveMapsWidget`` (:mod:`qpclab.windows`) fed by a ``LiveData`` buffer; the curve
  plot as ``qpclab gui staircase`` sets it up: line cuts coloured by the sweep, and the online saddle-point fit
  (throttled: it runs at most every second, so most refreshes do not fit; its own cost and its share of the GUI
  thread's time are printed below the table, with the cost of triangulating an adaptive map's scattered points).
- pymeasure 0.16: ``PlotWidget`` with its ``ResultsCurve`` (re-reads the new lines of the CSV, skipping the
  old ones, and sets the whole data) and ``ImageWidget`` with its ``ResultsImage`` (loops over every row of the
  data in Python on every refresh). Their CSV files are written here in pymeasure's format (header + lines).

ResultsImage's cost grows linearly with the rows in the file (about 60 us per row): one refresh of a full
1000 x 1000 map takes about a minute. By default it is measured at two partial fills of the same 1000 x 1000 map
and extrapolated linearly to the full map (the row says so); ``run(full_pymeasure_map=True)`` (or
``--full-pymeasure-map``) measures it directly instead (one refresh, ~1 min more).

Times are medians over repeats, each repeat adding a new block of points first (time.perf_counter); the curve
cases interleave the two sides so both see the same machine load. Two rows per case: the whole refresh, and the
data update alone. pyqtgraph defers part of the work (building the line path, colouring image pixels) to the
paint, so the whole refresh is the fair comparison; the update rows show where pymeasure's time goes (reading
the file). The qpclab map is also measured when a new maximum re-colours every pixel (its worst refresh).
Run: ``python -m benchmarks.bench_live_plot`` or ``python benchmarks/bench_live_plot.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyqt6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PyQt6")

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CURVE_COLUMNS = ["Gate (V)", "X (V)", "Y (V)", "G (S)", "G/G0", "Sweep", "Time (s)"]
MAP_COLUMNS = ["Gate (V)", "Bias (V)", "G/G0"]
BLOCK = 200          # new points per curve refresh (1000 points/s at the 200 ms refresh period)
SIZE = (800, 600)    # plot widget size, pixels


_APP = None


def _app():
    global _APP
    from pymeasure.display.Qt import QtWidgets

    _APP = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    return _APP


def _procedures():
    from pymeasure.experiment import Procedure

    class BenchCurve(Procedure):
        DATA_COLUMNS = CURVE_COLUMNS

    class BenchMap(Procedure):
        DATA_COLUMNS = MAP_COLUMNS

    return BenchCurve, BenchMap


def _staircase(n: int, start: int = 0, seed: int = 1, total: int = 1_000_000) -> dict[str, np.ndarray]:
    """n points of a noisy conductance staircase (the rows start..start+n of one sweep of ``total`` points from
    -1.4 V to 0 V)."""
    rng = np.random.default_rng(seed + start)
    k = np.arange(start, start + n)
    gate = -1.4 + 1.4 * k / total
    g = np.clip((gate + 1.4) * 10, 0, None)
    g = np.floor(g) + 1 / (1 + np.exp(-(g % 1 - 0.5) * 30)) + 0.01 * rng.standard_normal(n)
    return {"Gate (V)": gate, "X (V)": g * 0.03, "Y (V)": 1e-4 * rng.standard_normal(n), "G (S)": g * 7.748e-5,
            "G/G0": g, "Sweep": np.zeros(n), "Time (s)": k * 1e-3}


def _map_rows(rows: range, nx: int, x_values, y_values) -> dict[str, np.ndarray]:
    """Records of whole slow-axis rows of a bias-spectroscopy-like map."""
    r = np.repeat(np.asarray(list(rows)), nx)
    c = np.tile(np.arange(nx), len(rows))
    gate = x_values[c]
    bias = y_values[r]
    g = np.clip((gate + 1.4) * 8 + 3 * np.abs(bias) / 2e-3, 0, 12)
    return {"Gate (V)": gate, "Bias (V)": bias, "G/G0": np.floor(g) + (g % 1) ** 4}


def _append_csv(path: Path, columns: list[str], data: dict[str, np.ndarray]) -> None:
    pd.DataFrame({c: data[c] for c in columns}).to_csv(path, mode="a", header=False, index=False,
                                                        float_format="%.10g")


def _timed(update, render) -> tuple[float, float]:
    """(update time, render time) of one refresh, s."""
    t0 = time.perf_counter()
    update()
    t1 = time.perf_counter()
    render()
    return t1 - t0, time.perf_counter() - t1


def _medians(times) -> tuple[float, float]:
    """(median update time, median update + render time), s."""
    return statistics.median(t[0] for t in times), statistics.median(t[0] + t[1] for t in times)


def _single(prepare, update, render, repeats: int) -> tuple[float, float]:
    times = []
    for i in range(repeats):
        prepare(i)
        times.append(_timed(update, render))
    return _medians(times)


def _paired(ours, stock, repeats: int):
    """Interleave the two sides (same machine load for both); each is (prepare(i), update, render)."""
    res = {"ours": [], "stock": []}
    for i in range(repeats):
        for key, (prepare, update, render) in (("ours", ours), ("stock", stock)):
            prepare(i)
            res[key].append(_timed(update, render))
    return _medians(res["ours"]), _medians(res["stock"])


def bench_curve(n: int, tmp: Path, repeats: int = 9):
    from pymeasure.display.widgets import PlotWidget
    from pymeasure.experiment import Procedure, Results

    from qpclab.live import LiveData
    from qpclab.windows import LivePlotsWidget

    BenchCurve, _ = _procedures()
    data = _staircase(n)
    # pymeasure: a Results file with n rows
    path = tmp / f"curve_{n}.csv"
    proc = BenchCurve()
    results = Results(proc, str(path))
    _append_csv(path, CURVE_COLUMNS, data)
    # qpclab: the same rows in memory
    live = LiveData(CURVE_COLUMNS)
    live.extend(data)
    results.live_data = live

    ours = LivePlotsWidget("bench", [("Gate (V)", "G/G0")], g0_lines=12, slow="Sweep",
                           saddle_fit=("Gate (V)", "G/G0"))
    ours.timer.stop()
    ours.resize(*SIZE)
    for curve in ours.new_curve(results):
        ours.load(curve)
    ours.grab()

    stock = PlotWidget("bench", CURVE_COLUMNS, "Gate (V)", "G/G0")
    stock.plot_frame.timer.stop()
    stock.resize(*SIZE)
    stock.load(stock.new_curve(results))  # first full read: not timed
    proc.status = Procedure.RUNNING
    stock.grab()

    counter = {"ours": n, "stock": n}

    def more_ours(i):
        live.extend(_staircase(BLOCK, start=counter["ours"]))
        counter["ours"] += BLOCK

    def more_stock(i):
        _append_csv(path, CURVE_COLUMNS, _staircase(BLOCK, start=counter["stock"]))
        counter["stock"] += BLOCK

    ours_t, stock_t = _paired((more_ours, ours.refresh, ours.grab),
                              (more_stock, stock.plot_frame.update_curves, stock.grab), repeats)
    # both sides saw every point
    assert len(results.data) == counter["stock"] and len(live) == counter["ours"]
    ours.deleteLater()
    stock.deleteLater()
    return ours_t, stock_t


def bench_map(tmp: Path, nx: int = 1000, ny: int = 1000, repeats: int = 9, full_pymeasure_map: bool = False):
    from pymeasure.display.widgets import ImageWidget
    from pymeasure.experiment import Procedure, Results

    from qpclab.live import LiveData
    from qpclab.windows import LiveMapsWidget

    _, BenchMap = _procedures()
    x_values = np.linspace(-1.4, 0.0, nx)
    y_values = np.linspace(-2e-3, 2e-3, ny)

    # ---- qpclab: the map filled up to its last rows, then one row (1000 points) per refresh
    proc = BenchMap()
    results = Results(proc, str(tmp / "map_qpclab.csv"))
    live = LiveData(MAP_COLUMNS)
    first = ny - repeats - 4
    live.extend(_map_rows(range(0, first), nx, x_values, y_values))
    results.live_data = live
    ours = LiveMapsWidget("bench", [("Gate (V)", "Bias (V)", "G/G0")], grid=lambda p: (x_values, y_values))
    ours.timer.stop()
    ours.resize(*SIZE)
    for item in ours.new_curve(results):
        ours.load(item)
    ours.grab()
    row = {"next": first}

    def more_ours(i):
        live.extend(_map_rows(range(row["next"], row["next"] + 1), nx, x_values, y_values))
        row["next"] += 1

    ours_steady = _single(more_ours, ours.refresh, ours.grab, repeats)
    filled = ours.items[0].filled()

    # the colour scale grows: every strip is re-coloured (the worst case of a refresh)
    def more_ours_new_max(i):
        block = _map_rows(range(row["next"], row["next"] + 1), nx, x_values, y_values)
        block["G/G0"] = block["G/G0"] + 20 + i
        live.extend(block)
        row["next"] += 1

    ours_relevel = _single(more_ours_new_max, ours.refresh, ours.grab, 3)
    ours.deleteLater()

    # ---- pymeasure: ResultsImage needs <x>_start/_end/_step attributes on the procedure
    def stock_refresh_time(fill_rows: int, reps: int):
        p = BenchMap()
        for col, vals in (("Gate (V)", x_values), ("Bias (V)", y_values)):
            setattr(p, col + "_start", float(vals[0]))
            setattr(p, col + "_end", float(vals[-1]))
            setattr(p, col + "_step", float(vals[1] - vals[0]))
        path = tmp / f"map_stock_{fill_rows}.csv"
        res = Results(p, str(path))
        _append_csv(path, MAP_COLUMNS, _map_rows(range(0, fill_rows), nx, x_values, y_values))
        stock = ImageWidget("bench", MAP_COLUMNS, "Gate (V)", "Bias (V)", "G/G0")
        stock.image_frame.timer.stop()
        stock.resize(*SIZE)
        stock.load(stock.new_curve(res))  # first full read and draw: not timed
        p.status = Procedure.RUNNING
        nxt = {"row": fill_rows}

        def more(i):
            _append_csv(path, MAP_COLUMNS, _map_rows(range(nxt["row"], nxt["row"] + 1), nx, x_values, y_values))
            nxt["row"] += 1

        t = _single(more, stock.image_frame.update_curves, stock.grab, reps)
        stock.deleteLater()
        return t

    if full_pymeasure_map:
        stock = stock_refresh_time(first, 1)
        note = "measured"
    else:
        fills = (10, 40)  # rows of 1000 points already in the file
        (u1, t1), (u2, t2) = stock_refresh_time(fills[0], 3), stock_refresh_time(fills[1], 3)
        scale = (first - fills[0]) / (fills[1] - fills[0])
        stock = (u1 + (u2 - u1) * scale, t1 + (t2 - t1) * scale)
        note = (f"extrapolated linearly from {t1 * 1e3:.0f} ms at {fills[0]}k and {t2 * 1e3:.0f} ms at "
                f"{fills[1]}k points")
    return [(f"map {nx} x {ny} ({filled} points), +1 row per refresh", ours_steady, stock, note),
            (f"map {nx} x {ny}, +1 row with a new maximum (colour scale grows)", ours_relevel, stock,
             "as above: its cost does not depend on the values")]


def bench_online_fit(n: int, repeats: int = 5) -> tuple[float, float]:
    """(median time of one online saddle-fit update in the window at n points, s; its share of the GUI thread's
    time at the fit's throttle: cost / max(period, cost / budget))."""
    from qpclab.live import LiveData
    from qpclab.live_fits import LiveSaddleFit

    _app()
    data = _staircase(n, total=n)  # the whole staircase (14 risers) in n points
    live = LiveData(CURVE_COLUMNS)
    live.extend(data)
    fit = LiveSaddleFit(live, "Gate (V)", "G/G0")
    fit.update_data(force=True)  # the first fit (from the crossings, longer): not timed
    times = []
    for i in range(repeats):
        live.extend(_staircase(BLOCK, start=n + i * BLOCK, total=n))
        t0 = time.perf_counter()
        fit.update_data(force=True)
        times.append(time.perf_counter() - t0)
    cost = statistics.median(times)
    return cost, cost / max(fit.period_s, cost / fit.budget)


def bench_scattered_map(n: int, nx: int = 400, ny: int = 100, repeats: int = 5) -> tuple[float, float]:
    """(median time of one triangulation of an adaptive map's n scattered points onto an nx x ny image, s; its
    share of the GUI thread's time at the map's throttle: cost / max(period, 20 cost))."""
    from qpclab.live import LiveData, LiveMap

    _app()
    rng = np.random.default_rng(2)
    x_values, y_values = np.linspace(-1.4, 0.0, nx), np.linspace(-2e-3, 2e-3, ny)
    live = LiveData(MAP_COLUMNS)
    gate, bias = rng.uniform(-1.4, 0.0, n), rng.uniform(-2e-3, 2e-3, n)
    live.extend({"Gate (V)": gate, "Bias (V)": bias, "G/G0": np.clip((gate + 1.4) * 8 + 1500 * np.abs(bias), 0, 12)})
    item = LiveMap(live, "Gate (V)", "Bias (V)", "G/G0", x_values, y_values)
    item.update_data(force=True)
    assert item.scattered
    times = []
    for _ in range(repeats):
        live.extend({"Gate (V)": [-0.7], "Bias (V)": [0.0], "G/G0": [5.6]})
        t0 = time.perf_counter()
        item.update_data(force=True)
        times.append(time.perf_counter() - t0)
    cost = statistics.median(times)
    return cost, cost / max(item.scatter_period_s, 20 * cost)


def run(full_pymeasure_map: bool = False, sizes=(10_000, 100_000, 1_000_000)) -> list[tuple]:
    """Rows (name, qpclab time s, pymeasure time s, ratio pymeasure/qpclab), two per case: the whole refresh
    (data update + render) and the data update alone."""
    _app()
    rows = []
    with tempfile.TemporaryDirectory(prefix="qpclab-bench-") as d:
        tmp = Path(d)
        cases = []
        for n in sizes:
            ours, stock = bench_curve(n, tmp)
            cases.append((f"curve {n:.0e} points, +{BLOCK} per refresh", ours, stock, ""))
        cases += bench_map(tmp, full_pymeasure_map=full_pymeasure_map)
        for name, (u_ours, t_ours), (u_stock, t_stock), note in cases:
            tag = f" (pymeasure {note})" if note else ""
            rows.append((f"{name}: refresh (update + render){tag}", t_ours, t_stock, t_stock / t_ours))
            rows.append((f"{name}: data update only{tag}", u_ours, u_stock, u_stock / u_ours))
    return rows


def markdown(rows) -> str:
    lines = ["| live plot, 800 x 600 | qpclab (ms) | pymeasure 0.16 (ms) | pymeasure / qpclab |",
             "| --- | ---: | ---: | ---: |"]
    for name, a, b, r in rows:
        lines.append(f"| {name} | {a * 1e3:.2f} | {b * 1e3:.1f} | {r:.1f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    t0 = time.perf_counter()
    rows = run(full_pymeasure_map="--full-pymeasure-map" in sys.argv)
    print(markdown(rows))
    print()
    for n in (10_000, 1_000_000):
        cost, share = bench_online_fit(n)
        print(f"online saddle fit in the window at {n:.0e} points: {cost * 1e3:.1f} ms per update, "
              f"{share:.1%} of the GUI thread's time at its throttle")
    for n in (1_000, 10_000):
        cost, share = bench_scattered_map(n)
        print(f"adaptive map of {n:.0e} scattered points triangulated onto 400 x 100 pixels: {cost * 1e3:.1f} ms, "
              f"{share:.1%} of the GUI thread's time at its throttle")
    print(f"\n(total {time.perf_counter() - t0:.0f} s; medians of repeats; pymeasure's refresh period is 200 ms)")
