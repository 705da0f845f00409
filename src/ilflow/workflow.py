"""A campaign as a sequence of stages in a project directory (each skipped when already complete)."""

from dataclasses import asdict
from pathlib import Path

from ase import Atoms
from rich.console import Console

from ilflow.config import Campaign
from ilflow.io import write_frames
from ilflow.project import Project, StageResult


def build_stage(campaign: Campaign, project: Project) -> StageResult:
    """Stage `build`: the campaign's box as `build/box.extxyz`."""
    from ilflow.system import build_box

    inputs = {"species": [s.model_dump() for s in campaign.species], "box": campaign.box.model_dump()}

    def produce(directory: Path) -> list[Path]:
        return [write_frames(directory / "box.extxyz", build_box(campaign.species, campaign.box))]

    return project.run_stage("build", inputs, produce)


def initial_stage(campaign: Campaign, project: Project, box_path: Path, say=print) -> StageResult:
    """Stage `initial`: frames for iteration 0 (classical CL&P MD, or a bootstrap) as `initial/frames.extxyz`."""
    from ilflow.classical import ClassicalSettings, initial_frames
    from ilflow.io import read_frames
    from ilflow.system.topology import rescale_to_density

    initial = campaign.learning.initial
    settings = ClassicalSettings(temperature_K=initial.temperature_K, duration_ps=initial.duration_ps,
                                 frame_every_ps=min(0.5, initial.duration_ps / initial.frames),
                                 seed=initial.split_seed)
    inputs = {"box": str(box_path), "initial": initial.model_dump(), "classical": asdict(settings)}

    def produce(directory: Path) -> list[Path]:
        atoms = read_frames(box_path)[0]
        if initial.density_g_cm3:
            atoms = rescale_to_density(atoms, initial.density_g_cm3)
        initial_frames(atoms, initial.frames, directory, initial.source, settings, initial.split_seed, say)
        return [directory / "frames.extxyz", directory / "summary.json"]

    return project.run_stage("initial", inputs, produce)


STAGES = ("build", "initial", "learning")


def run_campaign(campaign: Campaign, root: str | Path, console: Console | None = None,
                 until: str = "learning") -> list[StageResult]:
    """Run the stages up to `until`; print one line per stage."""
    from ilflow.io import read_frames
    from ilflow.system import summarize

    console = console or Console()
    project = Project(root)
    with console.status("build: packing the box..."):
        result = build_stage(campaign, project)
    box_path = result.outputs[0]
    state = "built" if result.ran else "up to date, skipped"
    console.print(f"build ({state}): {box_path}")
    console.print(f"  {summarize(read_frames(box_path)[0])}")
    results = [result]
    if until == "build":
        return results
    if campaign.learning.initial.source in ("classical", "bootstrap"):
        initial = campaign.learning.initial
        with console.status(f"initial: {initial.source} frames at {initial.temperature_K} K..."):
            result = initial_stage(campaign, project, box_path, say=console.print)
        state = "done" if result.ran else "up to date, skipped"
        console.print(f"initial ({state}): {result.outputs[0]}")
        results.append(result)
    if until == "initial":
        return results
    if campaign.learning.initial.source == "file":
        initial_path = Path(campaign.learning.initial.file)
    else:
        initial_path = results[-1].outputs[0]
    learning_stage(campaign, project, read_frames(box_path)[0], initial_path, console)
    return results


def progress_line(row: dict) -> str:
    """One line of the learning progress table."""
    md = f"MD {row['md_steps_run']} steps ({row['md_stop']})" if row["md_steps_run"] is not None else "no MD"
    errors = ""
    if row.get("validation_forces_mae_meV_A") is not None:
        errors = f", val F {row['validation_forces_mae_meV_A']:.0f} meV/Å"
    if row.get("test_forces_mae_meV_A") is not None:
        errors += f", test F {row['test_forces_mae_meV_A']:.0f} meV/Å"
    return (f"  {row['iteration']:3d} {row['name']:<20} {md}, {row['candidates']} candidates, {row['selected']} selected, "
            f"{row['labelled']} labelled ({row['failed']} failed), train {row['train_size']}{errors}")


def learning_stage(campaign: Campaign, project: Project, box: Atoms, initial_frames: Path, console: Console) -> list:
    """Learning on the fly (ilflow.active.loop) in `learning/`; resumes at the first unfinished stage."""
    from ilflow.active.loop import Loop
    from ilflow.distributed import dask_client

    console.print("learning: iteration, sampling, selection, labels, errors")
    with dask_client(campaign.execution) as client:
        loop = Loop(campaign, project.root, initial_frames, box, client, say=console.print)
        history = loop.run(progress=lambda row: console.print(progress_line(row)))
    console.print(f"learning: {len(history) - 1} iterations, history in {loop.dir / 'history.json'}, "
                  f"final model {loop.model_dir(len(history) - 1)}")
    return history
