"""``qpclab analyse FILE``: read a run, do every analysis its data allows, print a report, write the figures.

:func:`analyse` is the importable entry point (returns a :class:`Report`); :func:`main` is the command-line one
(``main(["run.csv", "--out", "figs"])``). A step the data cannot support appears in the report as
"not determined: <reason>" (an :class:`AnalysisError` message), never as a number.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import AnalysisError, Value, load_run

__all__ = ["Report", "analyse", "detect_kind", "main"]


@dataclass
class Report:
    path: Path
    kind: str
    sections: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def text(self) -> str:
        out = [f"qpclab analysis of {self.path}", f"measurement: {self.kind}", ""]
        for s in self.sections:
            out += [s, ""]
        if self.problems:
            out.append("not determined:")
            out += [f"  - {p}" for p in self.problems]
            out.append("")
        if self.figures:
            out.append("figures:")
            out += [f"  {f}" for f in self.figures]
        return "\n".join(out).rstrip() + "\n"

    def __str__(self) -> str:
        return self.text()


def kind_of(run) -> str:
    """The measurement kind from the procedure the file records (its ``#Plan:`` name, else its ``#Procedure:``
    class), by qpclab's table of procedures; files that record no qpclab procedure: from the columns."""
    from ..procedures import PROCEDURES

    name = run.plan.get("procedure")
    if name in PROCEDURES:
        return PROCEDURES[name].analysis
    for spec in PROCEDURES.values():
        if spec.class_path == run.procedure:
            return spec.analysis
    return detect_kind(run.data.columns)


def sampled_adaptively(run) -> bool:
    """Whether the run's points came from a learner (``sampling = adaptive`` in its ``#Plan:`` record)."""
    return run.plan.get("parameters", {}).get("sampling") == "adaptive"


def detect_kind(columns) -> str:
    """Measurement kind from the data columns (files that record no qpclab procedure)."""
    c = set(columns)
    if {"X xx (V)", "X xy (V)"} & c or {"R_xx (ohm)", "R_xy (ohm)"} <= c:
        return "hall"
    if "PSD (V^2/Hz)" in c:
        return "shot noise" if "Reference" in c else "noise vs gate"
    if "Gate (V)" in c and "Bias (V)" in c:
        return "bias map"
    if "Gate (V)" in c and "Field (T)" in c:
        return "field map"
    if "Gate (V)" in c and "Temperature (K)" in c:
        return "temperature map"
    if "Gate (V)" in c and "Gate 2 (V)" in c:
        return "gate map"
    if "Gate (V)" in c and "X (V)" in c:
        return "staircase"
    raise AnalysisError(f"unknown measurement: columns {sorted(c)}")


def _try(report: Report, what: str, fn):
    try:
        return fn()
    except AnalysisError as exc:
        report.problems.append(f"{what}: {exc}")
        return None


def _lever(lever_eV_per_V):
    """The gate lever arm (eV/V) given by the user: a gate couples to the electrons by a fraction of its voltage, so
    it lies in (0, 1] eV/V (GaAs split gates: ~0.01-0.1); 20 is meV/V typed as eV/V, and is refused."""
    if lever_eV_per_V is None or isinstance(lever_eV_per_V, Value):
        return lever_eV_per_V
    lever = float(lever_eV_per_V)
    if not 0 < lever <= 1:
        raise ValueError(f"--lever {lever_eV_per_V!r} eV/V is outside (0, 1] eV/V (a lever arm in meV/V? "
                         f"{lever:g} meV/V is {lever / 1000:g} eV/V)")
    return Value(lever, 0.0, "eV/V")


def analyse(path: str | Path, out_dir: str | Path | None = None, *, lever_eV_per_V=None,
            temperature_K: float | None = None, hw_x_eV: float | None = None, pdf: bool = True,
            fallback_circuit=None) -> Report:
    """Analyse one run file; figures go to ``out_dir`` (default: beside the file), named after it.

    ``lever_eV_per_V`` (eV/V; e.g. from a bias map), ``temperature_K`` (electron temperature for the saddle fit;
    default 0.05 K) and ``hw_x_eV`` (for the step-width thermometer) supply what a single run cannot know.
    ``fallback_circuit``: the :class:`MeasurementCircuit` to use if the file records none (said in the report).
    """
    import warnings
    from . import figures
    from .conductance import conductance_G0_from_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = load_run(path)
    kind = kind_of(run)
    rep = Report(path=Path(path), kind=kind)
    rep.sections += [f"skipped: {what}" for what in run.skipped]
    if run.circuit is None and fallback_circuit is not None:
        run.circuit = fallback_circuit
        rep.sections.append("note: the run records no circuit; using the circuit of the station given (--station)")
    out = Path(out_dir) if out_dir is not None else Path(path).parent
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    lever = _lever(lever_eV_per_V)

    if kind == "hall":
        from .hall_analysis import analyse_hall

        circuit = run.circuit
        exc = run.number("Lock-in sine output", default=np.nan) if circuit is not None else None
        use = circuit is not None and exc is not None and np.isfinite(exc)
        if not use:
            rep.sections.append("note: no circuit/sine output recorded: using the R_xx, R_xy columns as written")
        res = _try(rep, "Hall analysis", lambda: analyse_hall(run.data, circuit if use else None,
                                                               exc if use else None))
        if res is not None:
            rep.sections.append(res.text())
            rep.values["hall"] = res
            from .hall_analysis import hall_resistances

            d = hall_resistances(run.data, circuit, exc) if use else run.data
            rep.figures.append(figures.hall_figure(d["Field (T)"], d["R_xx (ohm)"], d["R_xy (ohm)"],
                                                   out / f"{stem}-hall", plateaus=res.plateaus, pdf=pdf))
        return rep

    circuit = run.require_circuit()
    excitation = run.excitation_V
    if kind == "bias map" and sampled_adaptively(run):  # rows of their own gate values: onto the grid of the step
        from .scattered import rows_on_grid

        step = float(run.plan["parameters"]["step"])
        run.data = rows_on_grid(run.data, "Bias (V)", "Gate (V)", step)
        rep.sections.append(f"note: adaptive sampling: each bias row interpolated linearly onto a {step * 1e3:g} mV "
                            "gate grid")

    if kind == "shot noise":
        from .conductance import add_conductance, qpc_bias_V
        from .shot_noise import fit_shot_noise, shot_noise_model_psd

        res = _try(rep, "shot noise fit", lambda: fit_shot_noise(run.data, circuit, excitation))
        d = add_conductance(run.data, circuit, excitation)
        meas = d[d["Reference"] == 0].sort_values("Bias (V)")
        ref = d[d["Reference"] == 1]
        model = None
        try:
            v = qpc_bias_V(meas["Bias (V)"].to_numpy(float), meas["G (S)"].to_numpy(float), circuit)
        except AnalysisError:
            v = circuit.sample_bias_V(meas["Bias (V)"].to_numpy(float))
        if res is not None:
            rep.sections.append(res.text())
            rep.values["shot_noise"] = res
            f = res.fano.value if res.fano is not None else np.nan
            if np.isfinite(f):
                model = shot_noise_model_psd(v, meas["G (S)"].to_numpy(float), res.conductance_G0, f,
                                             res.temperature_K.value, res.background_V2_per_Hz.value, circuit,
                                             res.gain.value / circuit.noise_amplifier_gain)
        vr = circuit.sample_bias_V(ref["Bias (V)"].to_numpy(float))
        rep.figures.append(figures.noise_figure(v, meas["PSD (V^2/Hz)"], out / f"{stem}-noise", model=model,
                                                reference=(vr, ref["PSD (V^2/Hz)"]), pdf=pdf))
        return rep

    if kind == "noise vs gate":
        plt_path = out / f"{stem}-noise-vs-gate"
        d = run.data.sort_values("Gate (V)")
        rep.figures.append(_noise_vs_gate_figure(d, plt_path, pdf))
        rep.sections.append(f"Noise against gate: {len(d)} points, PSD {d['PSD (V^2/Hz)'].min():.4g} - "
                            f"{d['PSD (V^2/Hz)'].max():.4g} V^2/Hz (no fit: the Fano factor needs a bias sweep)")
        return rep

    d = conductance_G0_from_run(run)
    if kind == "staircase":
        from .plateaus import find_plateaus
        from .saddle_fit import fit_saddle_staircase

        adaptive = sampled_adaptively(run)
        if adaptive:  # a few points per plateau, risers resolved: plateaus between riser crossings, fit of all points
            from .online_fit import fit_scattered_staircase
            from .steps import plateaus_between_risers

            rep.sections.append("note: adaptive sampling: plateaus between the risers' crossings of (n + 1/2) G0, "
                                "the saddle fit of every point (voltages)")
        find = plateaus_between_risers if adaptive else find_plateaus
        plats = _try(rep, "plateaus", lambda: find(d["Gate (V)"], d["G/G0"]))
        if plats:
            lines = ["Plateaus (G0):", "   n   from (V)    to (V)   width (mV)   mean G/G0   deviation   std   slope (G0/V)"]
            for p in plats:
                lines.append(f"  {p.index:3g}  {p.start_V:9.4f} {p.stop_V:9.4f}  {p.width_V * 1e3:9.2f}   "
                             f"{p.mean_G0:9.4f}  {p.deviation_G0:+9.4f}  {p.std_G0:6.4f}  {p.slope_G0_per_V:+8.3g}")
            rep.sections.append("\n".join(lines))
            rep.values["plateaus"] = plats
        t = 0.05 if temperature_K is None else float(temperature_K)
        fit = _try(rep, "saddle-point fit", lambda: fit_scattered_staircase(d["Gate (V)"], d["G/G0"]) if adaptive
                   else fit_saddle_staircase(d["Gate (V)"], d["G/G0"], t, lever_eV_per_V=lever))
        if fit is not None:
            if temperature_K is None and not adaptive:
                fit.notes.append("temperature not given (--temperature): 0.05 K assumed")
            rep.sections.append(fit.text())
            rep.values["saddle"] = fit
        if hw_x_eV is not None and lever is not None:
            from .temperature import electron_temperature_from_step

            st = _try(rep, "electron temperature from the step width",
                      lambda: electron_temperature_from_step(d["Gate (V)"], d["G/G0"], lever, hw_x_eV))
            if st is not None:
                rep.sections.append(st.text())
                rep.values["step_temperature"] = st
        sweep = d["Sweep"] if "Sweep" in d.columns else None
        rep.figures.append(figures.staircase_figure(d["Gate (V)"], d["G/G0"], out / f"{stem}-staircase.png",
                                                    sweep=sweep, pdf=pdf))
        from .conductance import transconductance

        try:
            x, dg = transconductance(d["Gate (V)"], d["G/G0"])
            rep.values["transconductance"] = (x, dg)
        except AnalysisError:
            pass
        return rep

    from .bias_spectroscopy import transconductance_map

    if kind == "bias map":
        from .bias_spectroscopy import fit_bias_spectroscopy

        res = _try(rep, "bias spectroscopy", lambda: fit_bias_spectroscopy(run.data, circuit, excitation))
        if res is not None:
            rep.sections.append(res.text())
            rep.values["bias_spectroscopy"] = res
        rows, gates, dg = transconductance_map(d, "Bias (V)")
        rep.figures.append(figures.transconductance_map_figure(
            rows * circuit.bias_divider, gates, dg, out / f"{stem}-transconductance", row_scale=1e3,
            row_label="Bias after the divider (mV)", title="Bias spectroscopy: dG/dVg", pdf=pdf))
        rep.figures.append(figures.map_figure(d, "Gate (V)", "Bias (V)", "G/G0", out / f"{stem}-conductance",
                                              title="dI/dV (G0)", zlabel="dI/dV (G0)", pdf=pdf))
    elif kind == "field map":
        from .zeeman import fit_zeeman_fan

        res = _try(rep, "Zeeman fan", lambda: fit_zeeman_fan(run.data, circuit, excitation, lever))
        if res is not None:
            rep.sections.append(res.text())
            rep.values["zeeman"] = res
        rows, gates, dg = transconductance_map(d, "Field (T)")
        rep.figures.append(figures.zeeman_fan_figure(rows, gates, dg, out / f"{stem}-zeeman", pdf=pdf))
    elif kind == "temperature map":
        from .temperature import electron_temperature_map

        if lever is None or hw_x_eV is None:
            rep.problems.append("electron temperature: needs --lever and --hw-x (from bias spectroscopy and the "
                                "saddle fit)")
        else:
            table = _try(rep, "electron temperature", lambda: electron_temperature_map(run.data, circuit, excitation,
                                                                                       lever, hw_x_eV))
            if table is not None:
                lines = ["Electron temperature from the step width:", "  T_mc (mK)   T_e (mK)"]
                for _, r in table.iterrows():
                    te = (f"{r['T_e (K)'] * 1e3:.4g} ± {r['T_e err (K)'] * 1e3:.2g}" if np.isfinite(r["T_e (K)"])
                          else "not determined")
                    if not np.isfinite(r["T_e (K)"]):
                        rep.problems.append(f"T_e at T_mc = {r['T_mc (K)'] * 1e3:.4g} mK: {r['note']}")
                    lines.append(f"  {r['T_mc (K)'] * 1e3:9.4g}   {te}")
                rep.sections.append("\n".join(lines))
                rep.values["temperature"] = table
        rows, gates, dg = transconductance_map(d, "Temperature (K)")
        rep.figures.append(figures.transconductance_map_figure(rows, gates, dg, out / f"{stem}-transconductance",
                                                               row_label="Mixing chamber (mK)", row_scale=1e3,
                                                               title="dG/dVg against temperature", pdf=pdf))
    elif kind == "gate map":
        rep.figures.append(figures.map_figure(d, "Gate (V)", "Gate 2 (V)", "G/G0", out / f"{stem}-conductance",
                                              title="G (G0)", zlabel="G (G0)", pdf=pdf))
        rows, gates, dg = transconductance_map(d, "Gate 2 (V)")
        rep.figures.append(figures.transconductance_map_figure(rows, gates, dg, out / f"{stem}-transconductance",
                                                               row_label="Gate 2 (V)", pdf=pdf))
    return rep


def _noise_vs_gate_figure(d, path, pdf):
    from .figures import _pyplot, save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(d["Gate (V)"], d["PSD (V^2/Hz)"], ".-", ms=3, lw=0.8)
    ax.set_xlabel("Gate voltage (V)")
    ax.set_ylabel("Noise PSD (V²/Hz)")
    ax.set_title("Noise against gate")
    return save_figure(fig, path, pdf)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qpclab analyse", description="Analyse a qpclab run file: print the numbers, "
                                "write the figures (PNG and PDF).")
    p.add_argument("file", help="run file (CSV with the qpclab/pymeasure header)")
    p.add_argument("--out", default=None, help="folder for the figures (default: beside the file)")
    p.add_argument("--lever", type=float, default=None, help="gate lever arm, eV/V, in (0, 1] (from a bias map; "
                   "the report prints it in eV/V too)")
    p.add_argument("--temperature", type=float, default=None, help="electron temperature, K (saddle fit)")
    p.add_argument("--hw-x", type=float, default=None, help="hbar omega_x, eV (step-width thermometer)")
    p.add_argument("--station", default=None, help="station file whose circuit to use if the run records none "
                   "('default' = the packaged simulated station)")
    p.add_argument("--no-pdf", action="store_true", help="PNG only")
    return p


def main(argv: list[str] | None = None) -> int:
    """``qpclab analyse FILE [--out DIR] [--lever eV/V] [--temperature K] [--hw-x eV]``; returns the exit code
    (0 = report printed, 1 = report printed with quantities not determined, 2 = file unreadable)."""
    args = build_parser().parse_args(argv)
    try:
        fallback = None
        if args.station:
            from ..instruments.station import load_station

            fallback = load_station(None if args.station == "default" else args.station).circuit
        rep = analyse(args.file, args.out, lever_eV_per_V=args.lever, temperature_K=args.temperature,
                      hw_x_eV=args.hw_x, pdf=not args.no_pdf, fallback_circuit=fallback)
    except (AnalysisError, OSError, ValueError) as exc:
        where = "" if str(args.file) in str(exc) else f"{args.file}: "
        print(f"qpclab analyse: error: {where}{exc}", file=sys.stderr)
        return 2
    print(rep.text(), end="")
    return 1 if rep.problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
