"""Learning curve and parity plots (PNG)."""

from pathlib import Path

import numpy as np

from ilflow.project import atomic_path


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Lay out, write atomically as PNG (120 dpi) and close."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    _figure().close(fig)
    return path


def learning_curve(rows: list[dict], path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = [r["epoch"] for r in rows]
    ax.semilogy(epochs, [r["train_loss"] for r in rows], label="train")
    ax.semilogy(epochs, [r["val_loss"] for r in rows], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (eqn 7, mean over members)")
    ax.legend()
    return save_figure(fig, path)


def parity(arrays: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """Hexbin parity plots of energy per atom, force components and stress components."""
    plt = _figure()
    panels = [("energy (eV/atom)", arrays["e_ref"] / arrays["n"], arrays["e_pred"] / arrays["n"]),
              ("force components (eV/Å)", arrays["f_ref"].ravel(), arrays["f_pred"].ravel())]
    if len(arrays["s_ref"]):
        panels.append(("stress components (eV/Å³)", arrays["s_ref"].ravel(), arrays["s_pred"].ravel()))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    for ax, (label, ref, pred) in zip(np.atleast_1d(axes), panels):
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        if len(ref) > 200:
            ax.hexbin(ref, pred, gridsize=50, mincnt=1, bins="log", cmap="viridis")
        else:
            ax.scatter(ref, pred, s=8)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"reference {label}")
        ax.tick_params(axis="x", labelrotation=30)
        ax.set_ylabel("model")
    fig.suptitle(title)
    return save_figure(fig, path)
