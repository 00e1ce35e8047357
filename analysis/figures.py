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
