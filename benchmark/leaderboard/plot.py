"""The per-task figure: each model's per-seed primary metric, the Oracle as a line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.leaderboard.view import _is_ref_row, _mean, _TaskView


def plot_task(results: dict, task: str, path: Path) -> Path:
    """PNG of each model's per-seed primary metric, the Oracle as a horizontal line (Agg, no timestamp).

    Always written (DVC declares it as a plot): a task without any successful run says so in the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    v = _TaskView(results, task)
    oracle = results.get("oracle")
    models = [m for m in v.order if v.ok[m] and m != oracle]
    fig = Figure(figsize=(max(4.0, 1.1 * len(models) + 2), 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not models and not (oracle in v.ok and v.ok[oracle]):
        ax.text(0.5, 0.5, "no successful run", transform=ax.transAxes, ha="center", va="center")
    for x, m in enumerate(models):
        vals = np.array([np.nan if y is None else y for y in v.values(m, v.primary)], dtype=float)
        offs = np.linspace(-0.15, 0.15, vals.size) if vals.size > 1 else np.zeros(1)
        color = "tab:red" if m == v.reference else ("tab:gray" if _is_ref_row(results, m) else "tab:blue")
        ax.scatter(x + offs, vals, color=color, s=22, zorder=3)
        if np.isfinite(vals).any():
            ax.hlines(np.nanmean(vals), x - 0.25, x + 0.25, color=color, lw=1.5, zorder=2)
    if oracle in v.ok and v.ok[oracle]:
        level = _mean(v.values(oracle, v.primary))
        if level is not None:
            role = v.meta.get("oracle_role", "ceiling")  # topk: a relevance reference, not a ceiling (page text)
            ax.axhline(level, color="tab:green", ls="--", lw=1.2, label=f"{oracle} ({role})")
            ax.legend(loc="best", fontsize=8)
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.6, max(len(models), 1) - 0.4)
    ax.set_ylabel(v.primary)
    ax.set_title(f"{results['dataset']} · {task}: {v.primary} per seed "
                 "(red: reference, gray: reference rows)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return path
