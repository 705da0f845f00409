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


STAGES = ("build", "initial", "learning", "production", "analysis", "report")


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
    if until == "learning":
        return results
    production_stage(campaign, project, console)
    if until == "production":
        return results
    analysis_stage(campaign, project, console)
    if until == "analysis":
        return results
    report_stage(campaign, project, console)
    return results


def final_model(project: Project) -> Path:
    """The model of the last finished learning iteration."""
    from ilflow.errors import IlflowError

    done = sorted(p.parent for p in (project.root / "learning").glob("iteration-*/training.json"))
    if not done:
        raise IlflowError(f"{project.root / 'learning'} holds no trained model yet; run the learning stage first "
                          "(ilflow learn)")
    return done[-1] / "model"


def production_stage(campaign: Campaign, project: Project, console: Console) -> list[dict]:
    """Production runs (ilflow.production) in `production/<group>/<run>/`, as Dask tasks; resumable."""
    import json

    from ilflow.distributed import dask_client
    from ilflow.errors import ConfigError
    from ilflow.production import plan_runs, run_production
    from ilflow.project import atomic_write_text, inputs_hash

    runs = plan_runs(campaign.production.runs, list(campaign.species), campaign.analysis.experimental_density_csv)
    if not runs:
        console.print("production: no runs in the campaign's production section")
        return []
    model = final_model(project)
    dispersion = campaign.model.dispersion.settings() if campaign.model.dispersion else None
    folders = []
    for run in runs:
        folder = project.root / "production" / run.group / run.key
        inputs = {"run": run.spec.model_dump(), "temperature_K": run.temperature_K, "formula_units": run.formula_units,
                  "seed": run.seed, "density_g_cm3": run.density_g_cm3, "model": str(model), "dispersion": dispersion,
                  "species": [s.model_dump() for s in campaign.species], "box": campaign.box.model_dump()}
        marker = folder / "inputs.json"
        if marker.exists() and json.loads(marker.read_text()).get("hash") != inputs_hash(inputs):
            raise ConfigError(f"{folder} holds a run with other settings (the campaign or the model changed); move it "
                              "away to run it again with the new settings, or restore the old settings")
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, json.dumps({"hash": inputs_hash(inputs), "inputs": inputs}, indent=2, default=str))
        folders.append(folder)
    todo = [(r, f) for r, f in zip(runs, folders) if not (f / "run.json").exists()]
    console.print(f"production: {len(runs)} runs with {model} ({len(runs) - len(todo)} already done)")
    records = {f: json.loads((f / "run.json").read_text()) for r, f in zip(runs, folders) if (f / "run.json").exists()}
    if todo:
        from distributed import as_completed

        with dask_client(campaign.execution) as client:
            futures = {client.submit(run_production, r, list(campaign.species), campaign.box, model, dispersion, f,
                                     pure=False): f for r, f in todo}
            for future in as_completed(futures):
                folder = futures[future]
                record = future.result()
                records[folder] = record
                md = record["md"]
                console.print(f"  {folder.relative_to(project.root)}: {record['atoms']} atoms, {md['steps_done']} steps, "
                              f"{md['stop_reason'] or 'done'}; mean T {md['mean_temperature_K'] or 0:.0f} K, "
                              f"density {md['mean_density_g_cm3']:.3f} g/cm3, {md['ns_per_day']:.2f} ns/day")
    return [records[f] for f in folders]


def analysis_stage(campaign: Campaign, project: Project, console: Console) -> dict:
    """Analysis of every production run and of the learning history -> `analysis/results.json` and figures."""
    from ilflow.analysis.campaign import analyze_project

    with console.status("analysis: RDFs, MSDs, densities, dihedrals..."):
        results = analyze_project(campaign, project.root, say=console.print)
    console.print(f"analysis: {project.root / 'analysis' / 'results.json'}")
    return results


def report_stage(campaign: Campaign, project: Project, console: Console) -> Path:
    """The self-contained HTML report `report/report.html` (and `report/results.json`)."""
    from ilflow.report import write_report

    path = write_report(campaign, project.root)
    console.print(f"report: [bold]{path}[/bold]")
    return path


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
