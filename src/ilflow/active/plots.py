"""Figures of the learning history: MD steps before the uncertainty stop, and errors, per iteration."""

from pathlib import Path

from ilflow.training.plots import _figure, save_figure


def history_figure(history: list, path: Path) -> Path:
    """MD steps before the stop and force errors per iteration (`history`: IterationRecord rows)."""
    plt = _figure()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    md = [r for r in history if r.md_steps_run is not None]
    top.plot([r.iteration for r in md], [r.md_steps_run for r in md], "o-")
    for r in md:
        top.annotate(r.name, (r.iteration, r.md_steps_run), fontsize=7, rotation=30,
                     textcoords="offset points", xytext=(3, 4))
    top.set_ylabel("MD steps before stop")
    top.set_title("learning on the fly")
    iterations = [r.iteration for r in history]
    for split, style in (("validation", "o-"), ("test", "s--")):
        values = [r.forces_mae_meV_A(split) for r in history]
        if any(v is not None for v in values):
            bottom.plot(iterations, values, style, label=f"{split} forces MAE")
    bottom.set_xlabel("iteration")
    bottom.set_ylabel("forces MAE (meV/Å)")
    bottom.legend()
    return save_figure(fig, path)
