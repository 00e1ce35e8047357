"""Figures (matplotlib, no display needed): saved as PNG (and PDF where asked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["staircase_figure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def staircase_figure(gate_V, g_G0, path: str | Path, *, title: str = "Conductance staircase",
                     sweep=None, pdf: bool = False) -> Path:
    """G/G0 against gate voltage with grid lines at the integers; returns the PNG path."""
    plt = _pyplot()
    gate_V = np.asarray(gate_V, dtype=float)
    g_G0 = np.asarray(g_G0, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if sweep is None:
        ax.plot(gate_V, g_G0, ".-", ms=2, lw=0.8)
    else:
        sweep = np.asarray(sweep)
        for k in np.unique(sweep):
            m = sweep == k
            ax.plot(gate_V[m], g_G0[m], ".-", ms=2, lw=0.8, label=f"sweep {int(k)}")
        if len(np.unique(sweep)) > 1:
            ax.legend(fontsize=8)
    top = np.nanmax(g_G0) if np.isfinite(g_G0).any() else 1.0
    for n in range(0, int(np.ceil(top)) + 1):
        ax.axhline(n, color="0.8", lw=0.6, zorder=0)
    ax.set_xlabel("Gate voltage (V)")
    ax.set_ylabel("G (2e²/h)")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    if pdf:
        fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)
    return path


__all__ += ["noise_vs_gate_figure", "save_figure", "map_figure", "transconductance_map_figure", "zeeman_fan_figure", "noise_figure",
            "hall_figure"]


def save_figure(fig, path: str | Path, pdf: bool = True) -> Path:
    """Save ``fig`` as PNG at ``path`` (and PDF beside it); close it; return the PNG path."""
    plt = _pyplot()
    path = Path(path).with_suffix(".png")
    fig.tight_layout()
    fig.savefig(path)
    if pdf:
        fig.savefig(path.with_suffix(".pdf"))
    plt.close(fig)
    return path


def _grid(df, x: str, y: str, z: str):
    """Pivot long-format map data into (x values, y values, Z[y, x])."""
    xs = np.unique(np.round(df[x].to_numpy(float), 12))
    ys = np.unique(np.round(df[y].to_numpy(float), 12))
    piv = (df.assign(_x=np.round(df[x].to_numpy(float), 12), _y=np.round(df[y].to_numpy(float), 12))
           .pivot_table(index="_y", columns="_x", values=z, aggfunc="mean"))
    piv = piv.reindex(index=ys, columns=xs)
    return xs, ys, piv.to_numpy(float)


def map_figure(df, x: str, y: str, z: str, path, *, title: str = "", zlabel: str = "", y_scale: float = 1.0,
               y_label: str | None = None, cmap: str = "viridis", pdf: bool = True) -> Path:
    """Colour map of column ``z`` over (``x``, ``y``) from long-format data (one row per point)."""
    plt = _pyplot()
    xs, ys, zz = _grid(df, x, y, z)
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=120)
    mesh = ax.pcolormesh(xs, ys * y_scale, zz, shading="nearest", cmap=cmap)
    fig.colorbar(mesh, ax=ax, label=zlabel or z)
    ax.set_xlabel(x)
    ax.set_ylabel(y_label or y)
    ax.set_title(title)
    return save_figure(fig, path, pdf)


def transconductance_map_figure(rows, gates, dgdv, path, *, row_label: str, title: str = "Transconductance",
                                row_scale: float = 1.0, lines=None, pdf: bool = True) -> Path:
    """dG/dVg (G0/V) over gate x (bias, field, temperature...); ``lines``: [(gate_array, row_array, style)]."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=120)
    d = np.asarray(dgdv, dtype=float)
    top = np.nanpercentile(np.abs(d), 99.5) if np.isfinite(d).any() else 1.0
    mesh = ax.pcolormesh(gates, np.asarray(rows) * row_scale, d, shading="nearest", cmap="magma", vmin=0, vmax=top)
    fig.colorbar(mesh, ax=ax, label="dG/dVg (G0/V)")
    for gx, ry, style in lines or []:
        ax.plot(gx, np.asarray(ry) * row_scale, style, lw=0.8)
    ax.set_xlim(np.min(gates), np.max(gates))
    ax.set_ylim(np.min(rows) * row_scale, np.max(rows) * row_scale)
    ax.set_xlabel("Gate voltage (V)")
    ax.set_ylabel(row_label)
    ax.set_title(title)
    return save_figure(fig, path, pdf)


def zeeman_fan_figure(rows_T, gates, dgdv, path, *, title: str = "Zeeman fan", pdf: bool = True) -> Path:
    """Transconductance over gate x in-plane field."""
    return transconductance_map_figure(rows_T, gates, dgdv, path, row_label="In-plane field (T)", title=title,
                                       pdf=pdf)


def noise_figure(v_qpc, psd, path, *, model=None, reference=None, title: str = "Shot noise",
                 pdf: bool = True) -> Path:
    """Noise PSD against bias across the QPC (uV), with the fitted model and the reference sweep."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    v = np.asarray(v_qpc, dtype=float) * 1e6
    ax.plot(v, psd, "o", ms=3, label="measurement")
    if model is not None:
        order = np.argsort(v)
        ax.plot(v[order], np.asarray(model)[order], "-", lw=1.2, label="Blanter-Buttiker fit")
    if reference is not None:
        rv, rp = reference
        ax.plot(np.asarray(rv) * 1e6, rp, "s", ms=3, color="0.5", label="reference (pinched off)")
    ax.set_xlabel("Bias across the QPC (µV)")
    ax.set_ylabel("Noise PSD (V²/Hz)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path, pdf)


def hall_figure(field_T, r_xx, r_xy, path, *, plateaus=None, title: str = "Hall bar", pdf: bool = True) -> Path:
    """R_xy (with h/(nu e^2) lines at the plateaus found) and R_xx against field."""
    from .constants import R_K

    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(2, 1, sharex=True, figsize=(7, 6), dpi=120)
    b = np.asarray(field_T, dtype=float)
    a1.plot(b, np.asarray(r_xy) / 1e3, lw=0.9)
    for p in plateaus or []:
        a1.axhline(R_K / p.filling_factor / 1e3, color="0.7", lw=0.6, zorder=0)
        a1.text(p.center_T, R_K / p.filling_factor / 1e3, f"ν={p.filling_factor}", fontsize=7, va="bottom")
    a1.set_ylabel("R_xy (kΩ)")
    a1.set_title(title)
    a2.plot(b, r_xx, lw=0.9, color="C3")
    a2.set_ylabel("R_xx (Ω)")
    a2.set_xlabel("Field (T)")
    return save_figure(fig, path, pdf)


def noise_vs_gate_figure(gate_V, psd_V2_per_Hz, path: str | Path, *, pdf: bool = True) -> Path:
    """The noise power spectral density against gate voltage."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(gate_V, psd_V2_per_Hz, ".-", ms=3, lw=0.8)
    ax.set_xlabel("Gate voltage (V)")
    ax.set_ylabel("Noise PSD (V²/Hz)")
    ax.set_title("Noise against gate")
    return save_figure(fig, path, pdf)
