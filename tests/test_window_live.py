"""What the live window draws, read back from its plot items offscreen, against expectations computed here.

- maps in G and in dG/dV_g (the window's choice per map): the slope image against ``numpy.gradient`` of this file's
  own map, a partial last line and a missing point included;
- line cuts coloured by the slow axis: one curve per line, holding that line's points, in the colour map's colour
  of its value, with the colour bar's scale;
- non-gridded data: an adaptive staircase's points drawn sorted by gate (no zig-zag), an adaptive map's scattered
  points triangulated onto the image (a plane is reproduced exactly, its slope too);
- the online saddle-point fit: a staircase made here from the saddle-point formula with known pinch-off, spacing and
  width, and an adaptive staircase run in the window on the simulated lab, whose sample's values are known.
"""

from __future__ import annotations

import re

import numpy as np
import pyqtgraph as pg
import pytest
from pymeasure.experiment import Procedure, Results

from conftest import wait_until
from qpclab.live import LiveData, LiveLines, LiveMap
from qpclab.live_fits import LiveSaddleFit
from qpclab.windows import attach_live_data

MAP_COLUMNS = ["Gate (V)", "Bias (V)", "G/G0"]


class Columns(Procedure):
    DATA_COLUMNS = MAP_COLUMNS


def _results(tmp_path, data: LiveData) -> Results:
    """A pymeasure Results whose in-memory buffer is ``data`` (what the window's widgets read)."""
    results = Results(Columns(), str(tmp_path / "run.csv"))
    attach_live_data(results, data)
    return results


def _colour_is(pen, t: float) -> bool:
    """Whether a pen's colour is viridis at t (0..1), to the byte's rounding."""
    expected = pg.colormap.get("viridis").map(t, mode="byte")[:3]
    return all(abs(a - int(b)) <= 1 for a, b in zip(pen.color().getRgb()[:3], expected))


def _bias_map(gates, biases):
    """A made-up conductance: a riser whose centre moves with |bias| (a diamond's edge), on top of a slope."""
    g, b = np.meshgrid(gates, biases)
    return 2.0 * (g + 1.0) + 1.0 / (1.0 + np.exp(-(g + 0.5 - 50.0 * np.abs(b)) / 0.03))


def _snake_rows(gates, biases, z, lines):
    """The records of the first ``lines`` lines, measured in a snake (odd lines downward)."""
    out = {c: [] for c in MAP_COLUMNS}
    for j in range(lines):
        order = range(len(gates)) if j % 2 == 0 else range(len(gates) - 1, -1, -1)
        for i in order:
            out["Gate (V)"].append(gates[i])
            out["Bias (V)"].append(biases[j])
            out["G/G0"].append(z[j, i])
    return {c: np.array(v) for c, v in out.items()}


def test_map_shows_g_or_its_gate_derivative_as_chosen(qapp, tmp_path):
    from qpclab.windows import LiveMapsWidget

    gates = np.linspace(-1.0, 0.0, 41)
    biases = np.linspace(-4e-3, 4e-3, 9)
    z = _bias_map(gates, biases)
    z[2, 17] = np.nan  # a reading lost: the slope goes on either side of it
    data = LiveData(MAP_COLUMNS)
    rows = _snake_rows(gates, biases, z, 6)
    partial = 23  # the seventh line (upward) stops after 23 points
    data.extend({c: np.concatenate([rows[c], _snake_rows(gates, biases, z, 7)[c][6 * 41: 6 * 41 + partial]])
                 for c in MAP_COLUMNS})
    widget = LiveMapsWidget("maps", [("Gate (V)", "Bias (V)", "G/G0")], grid=lambda p: (gates, biases))
    widget.timer.stop()
    widget.resize(700, 500)
    (item,) = widget.new_curve(_results(tmp_path, data))
    widget.load(item)
    chooser = widget.choosers[0]
    assert [chooser.itemText(i) for i in range(chooser.count())] == ["G/G0", "dG/dV_g (G0/V)"]

    # G: the measured pixels, NaN where nothing was measured yet
    expected_g = np.full_like(z, np.nan)
    expected_g[:6] = z[:6]
    expected_g[6, :partial] = z[6, :partial]
    drawn = np.concatenate([strip.image for strip in item.items])
    np.testing.assert_allclose(drawn, expected_g, rtol=1e-6)

    # dG/dV_g: numpy.gradient along the gate on each measured run of every line
    chooser.setCurrentIndex(1)
    expected = np.full_like(z, np.nan)
    for j in range(6):
        if j == 2:
            expected[j, :17] = np.gradient(z[j, :17], gates[:17])
            expected[j, 18:] = np.gradient(z[j, 18:], gates[18:])
        else:
            expected[j] = np.gradient(z[j], gates)
    expected[6, :partial] = np.gradient(z[6, :partial], gates[:partial])
    drawn = np.concatenate([strip.image for strip in item.items])
    np.testing.assert_allclose(drawn, expected, rtol=1e-5, atol=1e-6)
    finite = expected[np.isfinite(expected)]
    assert item.levels == pytest.approx((finite.min(), finite.max()), rel=1e-5)
    assert widget.bars[0].levels() == pytest.approx((finite.min(), finite.max()), rel=1e-5)
    assert widget.plots[0].titleLabel.text == "dG/dV_g (G0/V)"
    assert widget.bars[0].getAxis("left").labelText == "dG/dV_g (G0/V)"

    # the line goes on while the slope is shown: the new points' slope is drawn at the next refresh
    rest = _snake_rows(gates, biases, z, 7)
    data.extend({c: rest[c][6 * 41 + partial:] for c in MAP_COLUMNS})
    widget.refresh()
    drawn = np.concatenate([strip.image for strip in item.items])
    np.testing.assert_allclose(drawn[6], np.gradient(z[6], gates), rtol=1e-5, atol=1e-6)

    chooser.setCurrentIndex(0)  # and back to G
    drawn = np.concatenate([strip.image for strip in item.items])
    np.testing.assert_allclose(drawn[6], z[6], rtol=1e-6)
    widget.close()


def test_line_cuts_are_coloured_by_the_slow_axis_with_a_colour_bar(qapp, tmp_path):
    from qpclab.windows import LivePlotsWidget

    gates = np.linspace(-1.0, 0.0, 30)
    biases = np.linspace(-2e-3, 3e-3, 6)
    z = _bias_map(gates, biases)
    data = LiveData(MAP_COLUMNS)
    data.extend(_snake_rows(gates, biases, z, 6))
    widget = LivePlotsWidget("plots", [("Gate (V)", "G/G0")], slow="Bias (V)")
    widget.timer.stop()
    (lines,) = widget.new_curve(_results(tmp_path, data))
    widget.load(lines)
    assert isinstance(lines, LiveLines) and len(lines.lines) == 6
    drawn = [item for item in widget.plots[0].items if isinstance(item, pg.PlotDataItem)]
    assert len(drawn) == 6
    for j, line in enumerate(lines.lines):
        x, y = line.getData()
        order = np.argsort(x)
        np.testing.assert_allclose(x[order], gates)
        np.testing.assert_allclose(y[order], z[j])
        assert _colour_is(line.opts["pen"], (biases[j] - biases[0]) / (biases[-1] - biases[0]))
    assert widget.bars[0].levels() == pytest.approx((biases[0], biases[-1]))
    assert widget.bars[0].getAxis("left").labelText == "Bias (V)"
    # a new line beyond the scale: the scale grows and every line takes its new colour
    data.extend({"Gate (V)": gates, "Bias (V)": np.full(30, 8e-3), "G/G0": z[0]})
    widget.refresh()
    assert len(lines.lines) == 7 and widget.bars[0].levels() == pytest.approx((biases[0], 8e-3))
    assert _colour_is(lines.lines[0].opts["pen"], 0.0) and _colour_is(lines.lines[6].opts["pen"], 1.0)
    assert _colour_is(lines.lines[3].opts["pen"], (biases[3] - biases[0]) / (8e-3 - biases[0]))
    widget.close()


def test_adaptive_staircase_points_are_drawn_sorted_by_gate(qapp):
    """Points measured in passes (coarse, then back for the risers) are drawn along the gate, not in measured
    order; a grid sweep downward is drawn as measured."""
    columns = ["Gate (V)", "G/G0", "Sweep"]
    passes = [np.linspace(-1.3, -0.9, 11), np.array([-0.95, -1.05, -1.15, -1.25]),
              np.array([-1.21, -1.19, -1.11, -1.09, -1.01])]
    gate = np.concatenate(passes)
    g = np.floor(np.clip((gate + 1.25) / 0.1, 0, None)) + 0.01 * np.sin(50 * gate)
    data = LiveData(columns)
    data.extend({"Gate (V)": gate, "G/G0": g, "Sweep": np.zeros(len(gate))})
    lines = LiveLines(data, "Gate (V)", "G/G0", "Sweep")
    plot = pg.PlotItem()
    lines.add_to(plot)
    lines.update_data()
    (line,) = lines.lines
    x, y = line.getData()
    order = np.argsort(gate, kind="stable")
    np.testing.assert_array_equal(x, gate[order])
    np.testing.assert_array_equal(y, g[order])
    assert np.all(np.diff(x) >= 0)  # no zig-zag
    # a grid sweep downward, then a second sweep upward: two lines, each drawn in measured order
    down = np.linspace(-0.9, -1.3, 21)
    data.extend({"Gate (V)": np.concatenate([down, down[::-1]]), "G/G0": np.arange(42.0),
                 "Sweep": np.repeat([1.0, 2.0], 21)})
    lines.update_data()
    assert len(lines.lines) == 3
    np.testing.assert_array_equal(lines.lines[1].getData()[0], down)
    np.testing.assert_array_equal(lines.lines[2].getData()[1], np.arange(21.0, 42.0))
    assert not lines.lines[1].sorted and not lines.lines[2].sorted and line.sorted


def test_adaptive_map_points_are_triangulated_onto_the_image(qapp):
    """Scattered points of a plane: linear interpolation on their triangulation reproduces the plane at every pixel
    inside their hull, and its gate derivative is the plane's slope."""
    rng = np.random.default_rng(7)
    gates = np.linspace(-1.0, 0.0, 51)
    biases = np.linspace(-4e-3, 4e-3, 21)
    corners_g, corners_b = np.array([-1.0, -1.0, 0.0, 0.0]), np.array([-4e-3, 4e-3, -4e-3, 4e-3])
    pg_, pb = rng.uniform(-1.0, 0.0, 200), rng.uniform(-4e-3, 4e-3, 200)
    xg, xb = np.concatenate([corners_g, pg_]), np.concatenate([corners_b, pb])

    def plane(g, b):
        return 3.0 * g + 250.0 * b + 5.0

    data = LiveData(MAP_COLUMNS)
    live = LiveMap(data, "Gate (V)", "Bias (V)", "G/G0", gates, biases, scatter_period_s=1e9)
    data.extend({"Gate (V)": xg[:2], "Bias (V)": xb[:2], "G/G0": plane(xg[:2], xb[:2])})
    live.update_data()
    assert not live.scattered and live.filled() == 2  # two corners (two rows): on the grid, each in its pixel
    data.extend({"Gate (V)": xg[2:], "Bias (V)": xb[2:], "G/G0": plane(xg[2:], xb[2:])})
    live.update_data()
    assert live.scattered
    g, b = np.meshgrid(gates, biases)
    np.testing.assert_allclose(live.image, plane(g, b), rtol=1e-5, atol=1e-5)
    live.show_derivative(True)
    np.testing.assert_allclose(live.shown, 3.0, rtol=1e-3)
    # throttled: new points wait for the next recomputation (here only a forced one)
    data.extend({"Gate (V)": [-0.5], "Bias (V)": [0.0], "G/G0": [100.0]})
    live.update_data()
    assert live.image[10, 25] == pytest.approx(plane(-0.5, 0.0), rel=1e-5)
    live.update_data(force=True)
    assert live.image[10, 25] == pytest.approx(100.0)


def _saddle_staircase(gate, v_pinch, spacing, width, n=8):
    """G/G0 of the saddle-point model written out: riser k half open at v_pinch + k spacing, width in volts."""
    return sum(1.0 / (1.0 + np.exp(-2 * np.pi * (gate - v_pinch - k * spacing) / width)) for k in range(n))


def test_online_saddle_fit_is_drawn_and_throttled(qapp):
    rng = np.random.default_rng(3)
    v_pinch, spacing, width = -1.15, 0.08, 0.02
    gate = rng.permutation(np.linspace(-1.3, -0.85, 300))  # any order: an adaptive run's
    g = _saddle_staircase(gate, v_pinch, spacing, width) + 0.003 * rng.standard_normal(300)
    data = LiveData(["Gate (V)", "G/G0"])
    fit = LiveSaddleFit(data, "Gate (V)", "G/G0", period_s=1e9)
    plot = pg.PlotItem()
    fit.add_to(plot)
    assert "waiting" in fit.text.toPlainText()
    data.extend({"Gate (V)": gate[:150], "G/G0": g[:150]})
    assert fit.update_data() and fit.fits == 1
    data.extend({"Gate (V)": gate[150:], "G/G0": g[150:]})
    assert not fit.update_data() and fit.fits == 1  # the next fit waits its period
    assert fit.update_data(force=True) and fit.fits == 2
    text = fit.text.toPlainText()
    numbers = {key: float(re.search(rf"{key} \(?(-?[\d.]+)", text).group(1)) for key in ("pinch-off", "spacing",
                                                                                           "width")}
    assert numbers["pinch-off"] == pytest.approx(v_pinch * 1e3, abs=1.0)
    assert numbers["spacing"] == pytest.approx(spacing * 1e3, abs=1.0)
    assert numbers["width"] == pytest.approx(width * 1e3, abs=1.0)
    risers = v_pinch + spacing * np.arange(0, 4)  # the risers within -1.3 .. -0.85 V
    np.testing.assert_allclose(fit.risers, risers, atol=1e-3)
    x, y = fit.curve.getData()
    assert x.min() == pytest.approx(gate.min()) and x.max() == pytest.approx(gate.max())
    np.testing.assert_allclose(y, _saddle_staircase(x, v_pinch, spacing, width), atol=0.02)
    assert fit.curve in plot.items and fit.text.parentItem() is plot.vb


def test_window_adaptive_staircase_draws_sorted_points_and_the_fit_of_the_sample(qapp, tmp_path, sim_library):
    """`qpclab gui` for the staircase, an adaptive run on the packaged lab: the drawn line is the file's points
    sorted by gate, and the online fit finds the sample's risers (gaas_split_gate: v_pinch -1.2 V,
    hw_y / lever = 2 meV / 0.02 eV/V = 0.1 V apart)."""
    import pandas as pd

    from qpclab.gui import build_window

    window = build_window("staircase", directory=str(tmp_path))
    proc = window.make_procedure()
    proc.set_values(start=-1.3, stop=-0.95, step=0.002, time_constant=1e-4, sampling="adaptive")
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: proc.status == Procedure.FINISHED and not window.manager.is_running(), 120)
    plots = window.plot_widget
    plots.refresh()
    lines = next(c for c in experiment.curve_list if isinstance(c, LiveLines))
    fit = next(c for c in experiment.curve_list if isinstance(c, LiveSaddleFit))
    fit.update_data(force=True)
    csv = pd.read_csv(experiment.data_filename, comment="#")
    assert not csv["Gate (V)"].is_monotonic_increasing  # measured in passes
    (line,) = lines.lines
    x, y = line.getData()
    order = np.argsort(csv["Gate (V)"].to_numpy(), kind="stable")
    np.testing.assert_allclose(x, csv["Gate (V)"].to_numpy()[order])
    np.testing.assert_allclose(y, csv["G/G0"].to_numpy()[order])
    np.testing.assert_allclose(fit.risers, [-1.2, -1.1, -1.0], atol=1e-3)
    # hw_x / lever = 25 mV (the thermal smearing at 50 mK adds well under a millivolt)
    assert fit.result.width_V.value == pytest.approx(0.025, abs=1e-3)
    text = fit.text.toPlainText()
    assert f"({len(csv)} points)" in text
    assert float(re.search(r"pinch-off (-[\d.]+) ± [\d.]+ mV", text).group(1)) == pytest.approx(-1200.0, abs=1.0)
    window.close()


def test_scattered_slow_values_are_drawn_as_points_in_their_colours(qapp):
    """An adaptive map: the slow value changes at every point, so there are no lines to draw; the points are drawn,
    each in the colour of its slow value."""
    rng = np.random.default_rng(11)
    gate, bias = rng.uniform(-1.0, 0.0, 60), rng.uniform(-4e-3, 4e-3, 60)
    data = LiveData(MAP_COLUMNS)
    data.extend({"Gate (V)": gate, "Bias (V)": bias, "G/G0": 2.0 * (gate + 1.0)})
    lines = LiveLines(data, "Gate (V)", "G/G0", "Bias (V)")
    plot = pg.PlotItem()
    lines.add_to(plot)
    lines.update_data()
    assert lines.scatter is not None and lines.scatter in plot.items
    assert not [item for item in plot.items if isinstance(item, pg.PlotDataItem)]
    points = lines.scatter.points()
    assert len(points) == 60
    lo, hi = bias.min(), bias.max()
    for p, b in zip(points, bias):
        assert _colour_is(p.brush(), (b - lo) / (hi - lo))
    np.testing.assert_allclose([p.pos().x() for p in points], gate)
    np.testing.assert_allclose([p.pos().y() for p in points], 2.0 * (gate + 1.0))


def test_zooming_into_line_cuts_shows_every_point_in_view(qapp):
    """Long lines are decimated for drawing; zoomed in, each line shows all its points in view."""
    n = 20_000
    gate = np.linspace(-1.0, 0.0, n)
    data = LiveData(MAP_COLUMNS)
    data.extend({"Gate (V)": np.tile(gate, 2), "Bias (V)": np.repeat([0.0, 1e-3], n),
                 "G/G0": np.concatenate([np.cos(9 * gate), np.sin(9 * gate)])})
    lines = LiveLines(data, "Gate (V)", "G/G0", "Bias (V)", max_points=1000)
    plot = pg.PlotItem()
    lines.add_to(plot)
    lines.update_data()
    assert all(line.displayed_points() <= 1000 + 64 for line in lines.lines)
    plot.setXRange(-0.5, -0.47, padding=0)  # 600 points of each line in view
    lines.update_data()
    inside = (gate >= -0.5) & (gate <= -0.47)
    for line, f in zip(lines.lines, (np.cos, np.sin)):
        x, y = line.getData()
        assert len(x) == inside.sum() + 2  # every point in view and one neighbour each side
        np.testing.assert_allclose(y, f(9 * x))


def test_bias_map_shows_the_online_diamonds_of_a_known_map(qapp, tmp_path):
    """A bias map written here from the riser-splitting rule (each riser splits into two half risers e V / alpha
    apart in gate voltage) with lever arm 20 meV/V and subband spacing 2 meV: the map's corner gives them."""
    from qpclab.analysis.circuit import MeasurementCircuit
    from qpclab.windows import LiveMapsWidget

    lever, spacing_V, width_V, divider = 0.02, 0.1, 0.02, 1e-3
    gates = np.linspace(-1.35, -0.85, 251)
    biases = np.linspace(-2.0, 2.0, 21)  # at the source: up to 2 mV at the QPC, where the diamonds close

    def conductance(g, b):
        split = np.abs(b) * divider / lever  # V of gate between a riser's two branches

        def riser(u):
            return 1.0 / (1.0 + np.exp(-2 * np.pi * u / width_V))

        return sum(0.5 * (riser(g - (-1.2 + n * spacing_V) + split / 2) + riser(g - (-1.2 + n * spacing_V) - split / 2))
                   for n in range(6))

    z = conductance(*np.meshgrid(gates, biases))
    data = LiveData(MAP_COLUMNS)
    circuit = MeasurementCircuit(bias_divider=divider, series_resistance_ohm=0.0)
    widget = LiveMapsWidget("maps", [("Gate (V)", "Bias (V)", "G/G0")], grid=lambda p: (gates, biases),
                            diamonds=("Gate (V)", "Bias (V)", "G/G0"), circuit=lambda procedure: circuit)
    widget.timer.stop()
    items = widget.new_curve(_results(tmp_path, data))
    for item in items:
        widget.load(item)
    (estimate,) = [item for item in items if not isinstance(item, LiveMap)]
    assert "waiting" in estimate.text.toPlainText() and estimate.text.parentItem() is widget.plots[0].vb
    # the map is measured from zero bias outward, as a diamond grows
    for j in np.argsort(np.abs(biases), kind="stable"):
        data.extend({"Gate (V)": gates, "Bias (V)": np.full(len(gates), biases[j]), "G/G0": z[j]})
        estimate.update_data(force=True)
    text = estimate.text.toPlainText()
    assert float(re.search(r"lever arm ([\d.]+) meV/V", text).group(1)) == pytest.approx(lever * 1e3, rel=0.05)
    assert float(re.search(r"subband spacing ([\d.]+) meV", text).group(1)) == pytest.approx(lever * spacing_V * 1e3,
                                                                                           rel=0.05)
    assert float(re.search(r"risers ([\d.]+) mV apart", text).group(1)) == pytest.approx(spacing_V * 1e3, rel=0.02)
    assert f"({len(gates) * len(biases)} points" in text
    widget.close()


def test_window_bias_map_dgdv_is_the_gradient_of_the_file(qapp, tmp_path, sim_library):
    """`qpclab gui` for the bias map, a small grid run on the packaged lab: with dG/dV_g chosen, the image is
    numpy.gradient along the gate of the file's own rows; the line cuts are one per bias; the diamonds' estimate
    is on the map."""
    import pandas as pd

    from qpclab.gui import build_window
    from qpclab.live_fits import LiveDiamonds

    window = build_window("bias-map", directory=str(tmp_path))
    window.map_widget.choosers[0].setCurrentIndex(1)  # chosen before the run: the run's map starts so
    proc = window.make_procedure()
    proc.set_values(start=-1.25, stop=-1.05, step=0.01, bias_start=-0.5, bias_stop=0.5, bias_step=0.5,
                    time_constant=1e-4)
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: proc.status == Procedure.FINISHED and not window.manager.is_running(), 120)
    window.map_widget.refresh()
    window.plot_widget.refresh()
    csv = pd.read_csv(experiment.data_filename, comment="#")
    table = csv.pivot_table(index="Bias (V)", columns="Gate (V)", values="G/G0")
    live_map = next(c for c in experiment.curve_list if isinstance(c, LiveMap))
    assert live_map.derivative and not live_map.scattered
    expected = np.gradient(table.to_numpy(), table.columns.to_numpy(), axis=1)
    np.testing.assert_allclose(live_map.shown, expected, rtol=1e-4, atol=1e-4)
    lines = next(c for c in experiment.curve_list if isinstance(c, LiveLines))
    assert lines.values == list(csv["Bias (V)"].drop_duplicates())
    assert any(isinstance(c, LiveDiamonds) for c in experiment.curve_list)
    window.close()


def test_window_adaptive_bias_map_draws_its_rows_sorted_and_triangulates_the_map(qapp, tmp_path, sim_library):
    """An adaptive bias map in the window: each bias row's line cut is the file's points of that row sorted by gate,
    and the image holds the linear interpolation of the file's points on their triangulation (scipy's griddata,
    here) at the pixel centres."""
    import pandas as pd
    from scipy.interpolate import griddata

    from qpclab.gui import build_window

    window = build_window("bias-map", directory=str(tmp_path))
    proc = window.make_procedure()
    proc.set_values(start=-1.25, stop=-1.05, step=0.005, bias_start=-0.5, bias_stop=0.5, bias_step=0.5,
                    time_constant=1e-4, sampling="adaptive")
    window.queue(procedure=proc)
    experiment = window.manager.experiments[0]
    wait_until(qapp, lambda: proc.status == Procedure.FINISHED and not window.manager.is_running(), 120)
    live_map = next(c for c in experiment.curve_list if isinstance(c, LiveMap))
    live_map.update_data(force=True)
    csv = pd.read_csv(experiment.data_filename, comment="#")
    assert live_map.scattered
    gates, biases = proc.map_grid()
    g, b = np.meshgrid(np.unique(gates), np.unique(biases))
    expected = griddata(csv[["Gate (V)", "Bias (V)"]].to_numpy(), csv["G/G0"].to_numpy(), (g, b), method="linear",
                        rescale=True)
    np.testing.assert_allclose(live_map.image, expected, rtol=1e-5, atol=1e-6)
    lines = next(c for c in experiment.curve_list if isinstance(c, LiveLines))
    window.plot_widget.refresh()
    assert lines.values == list(csv["Bias (V)"].drop_duplicates())
    for line, (_, row) in zip(lines.lines, csv.groupby("Bias (V)", sort=False)):
        x, y = line.getData()
        order = np.argsort(row["Gate (V)"].to_numpy(), kind="stable")
        np.testing.assert_allclose(x, row["Gate (V)"].to_numpy()[order])
        np.testing.assert_allclose(y, row["G/G0"].to_numpy()[order])
    window.close()
