"""The `ilflow` command line. Bad input prints one clear message (no traceback) and exits with status 2."""

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ilflow import __version__
from ilflow.errors import ConfigError, IlflowError

app = typer.Typer(
    name="ilflow",
    help="From a liquid given as SMILES to a learned potential, long MD and observables with error bars.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

SETUP = "Set-up"
WORKFLOW = "Workflow"


def demo_campaign_path() -> Path:
    """The embedded default campaign (BMIM-BF4 with GFN2-xTB), shipped inside the package."""
    return Path(str(resources.files("ilflow") / "examples" / "demo.yaml"))


def _version(value: bool) -> None:
    if value:
        console.print(f"ilflow {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """ilflow: SMILES -> boxes -> reference labels -> learned potential -> MD -> observables."""


@app.command(rich_help_panel=SETUP)
def validate(campaign: Annotated[Path, typer.Argument(help="campaign.yaml to check")]) -> None:
    """Check a campaign file: every key typed, unknown keys and bad values reported with their line."""
    from ilflow.config import load_campaign

    loaded = load_campaign(campaign)
    species = ", ".join(f"{s.count} {s.name}" for s in loaded.species)
    console.print(f"[green]ok[/green] {campaign}: campaign {loaded.name!r}, {species}, "
                  f"box at {loaded.box.density_g_cm3} g/cm3, reference {loaded.reference.method}")


def _parse_species(specs: list[str]):
    """`NAME:COUNT:SMILES` strings -> Species (SMILES may itself contain ':')."""
    from pydantic import ValidationError

    from ilflow.config import Species

    species = []
    for spec in specs:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1].strip().lstrip("-").isdigit():
            raise ConfigError(f"--species {spec!r}: write NAME:COUNT:SMILES, e.g. BMIM:10:CCCCn1cc[n+](C)c1")
        try:
            species.append(Species(name=parts[0], count=int(parts[1]), smiles=parts[2]))
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"--species {spec!r}: {details}") from None
    return species


@app.command(rich_help_panel=SETUP)
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output extxyz file.")] = Path("box.extxyz"),
    campaign: Annotated[Optional[Path], typer.Option(help="Take species and box from this campaign file.")] = None,
    species: Annotated[
        Optional[list[str]], typer.Option("--species", "-s", help="NAME:COUNT:SMILES, repeat per species.")
    ] = None,
    density_g_cm3: Annotated[Optional[float], typer.Option(help="Target density in g/cm3.")] = None,
    tolerance_A: Annotated[Optional[float], typer.Option(help="PACKMOL tolerance in Å [default 2.0].")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for RDKit and PACKMOL [default 42].")] = None,
    relax: Annotated[Optional[str], typer.Option(help="Conformer relaxation: mmff, uff or none [default mmff].")] = None,
    allow_net_charge: Annotated[bool, typer.Option(help="Allow a box with net charge.")] = False,
) -> None:
    """Pack a periodic liquid box from SMILES (RDKit conformers + PACKMOL) and write it as extxyz."""
    from pydantic import ValidationError

    from ilflow.config import Box, load_campaign
    from ilflow.io import write_frames
    from ilflow.system import build_box, summarize

    if campaign is not None:
        loaded = load_campaign(campaign)
        species_list, box_settings = list(loaded.species), loaded.box.model_dump()
    else:
        if not species:
            raise ConfigError("give --campaign FILE, or --species NAME:COUNT:SMILES (repeated) and --density-g-cm3")
        if density_g_cm3 is None:
            raise ConfigError("--density-g-cm3 is required with --species")
        species_list, box_settings = [], {}
    if species:
        species_list = _parse_species(species)
    overrides = {"density_g_cm3": density_g_cm3, "tolerance_A": tolerance_A, "seed": seed, "relax": relax}
    box_settings.update({k: v for k, v in overrides.items() if v is not None})
    if allow_net_charge:
        box_settings["allow_net_charge"] = True
    try:
        box = Box(**box_settings)
    except ValidationError as exc:
        details = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise ConfigError(details) from None

    with console.status("packing with PACKMOL..."):
        atoms = build_box(species_list, box)
    write_frames(out, atoms)
    console.print(f"{out}: {summarize(atoms)}")


@app.command(rich_help_panel=WORKFLOW)
def run(
    campaign: Annotated[
        Optional[Path], typer.Argument(help="campaign.yaml [default: the embedded BMIM-BF4 demo]")
    ] = None,
    directory: Annotated[
        Optional[Path], typer.Option("--dir", "-d", help="Project directory [default: ./<campaign name>].")
    ] = None,
    until: Annotated[str, typer.Option(help="Last stage to run: build, initial, learning, production, analysis or "
                                       "report.")] = "report",
) -> None:
    """Run a campaign in its project directory, from SMILES to the report; completed stages are skipped.

    Stages: build (the box), initial (classical CL&P frames), learning (learning on the fly), production
    (MD at the campaign's state points), analysis (RDF, diffusion, density, dihedrals) and report (HTML).
    """
    from ilflow.config import load_campaign
    from ilflow.workflow import STAGES, run_campaign

    if until not in STAGES:
        raise ConfigError(f"--until {until!r}: choose one of {', '.join(STAGES)}")
    path = campaign or demo_campaign_path()
    loaded = load_campaign(path)
    root = directory or Path(loaded.name)
    console.print(f"campaign [bold]{loaded.name}[/bold] from {path} in {root}/")
    run_campaign(loaded, root, console, until)


@app.command(rich_help_panel=WORKFLOW)
def learn(
    campaign: Annotated[
        Optional[Path], typer.Argument(help="campaign.yaml [default: the embedded BMIM-BF4 demo]")
    ] = None,
    directory: Annotated[
        Optional[Path], typer.Option("--dir", "-d", help="Project directory [default: ./<campaign name>].")
    ] = None,
) -> None:
    """Learning on the fly (paper Table 1): build, initial data, then sample -> select -> label -> retrain per
    iteration; kill it at any moment and run it again to continue."""
    run(campaign, directory, "learning")


def _project(campaign: Optional[Path], directory: Optional[Path]):
    from ilflow.config import load_campaign
    from ilflow.project import Project

    path = campaign or demo_campaign_path()
    loaded = load_campaign(path)
    return loaded, Project(directory or Path(loaded.name))


CampaignArg = Annotated[Optional[Path], typer.Argument(help="campaign.yaml [default: the embedded BMIM-BF4 demo]")]
DirOption = Annotated[Optional[Path], typer.Option("--dir", "-d", help="Project directory [default: ./<campaign name>].")]


@app.command(rich_help_panel=WORKFLOW)
def simulate(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """Production MD at the campaign's state points with the final learned model (pack -> relax -> rescale to
    density -> equilibrate -> produce), independent runs as Dask tasks; kill and run again to continue."""
    from ilflow.workflow import production_stage

    loaded, project = _project(campaign, directory)
    production_stage(loaded, project, console)


@app.command(rich_help_panel=WORKFLOW)
def analyze(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """RDFs, MSDs and diffusion (Yeh-Hummer, 1/L, Arrhenius), NPT densities and dihedral distributions of the
    production runs -> <dir>/analysis/results.json and figures."""
    from ilflow.workflow import analysis_stage

    loaded, project = _project(campaign, directory)
    analysis_stage(loaded, project, console)


@app.command(rich_help_panel=WORKFLOW)
def report(campaign: CampaignArg = None, directory: DirOption = None) -> None:
    """The self-contained HTML report of a project (<dir>/report/report.html) and results.json."""
    from ilflow.workflow import report_stage

    loaded, project = _project(campaign, directory)
    report_stage(loaded, project, console)


LABELS = "Labels and data"
data_app = typer.Typer(help="Inspect and export a dataset (ase.db).", no_args_is_help=True)
app.add_typer(data_app, name="data", rich_help_panel=LABELS)


@app.command(rich_help_panel=LABELS)
def label(
    frames: Annotated[list[Path], typer.Argument(help="Frame files (extxyz or anything ASE reads).")],
    db: Annotated[str, typer.Option(help="Dataset: an ase.db path (SQLite) or URL.")] = "data.db",
    campaign: Annotated[
        Optional[Path], typer.Option(help="Take `reference` and `execution` from this campaign [default: GFN2-xTB, 2 local workers].")
    ] = None,
    split: Annotated[str, typer.Option(help="train, validation, test or pool.")] = "pool",
    stage: Annotated[str, typer.Option(help="Origin recorded with each label.")] = "external",
    workers: Annotated[Optional[int], typer.Option(help="Local Dask workers (overrides the campaign).")] = None,
    chunk_size: Annotated[int, typer.Option(help="Consecutive frames per task (CP2K reuses the wavefunction).")] = 1,
) -> None:
    """Label frames with the reference method on Dask; each label is committed as it arrives.

    Re-running labels only what is missing; failures are kept as records with their reason.
    """
    from ilflow.config import load_campaign
    from ilflow.config.execution import Execution
    from ilflow.config.reference import XtbReference
    from ilflow.data import SPLITS, Dataset, Origin
    from ilflow.distributed import dask_client
    from ilflow.io import read_frames
    from ilflow.labelling import label_into_dataset
    from ilflow.reference import make_labeler

    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    if chunk_size < 1:
        raise ConfigError(f"--chunk-size {chunk_size}: must be at least 1")
    loaded = load_campaign(campaign) if campaign else None
    reference = loaded.reference if loaded else XtbReference()
    execution = loaded.execution if loaded else Execution()
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"--workers {workers}: must be at least 1")
        execution = execution.model_copy(update={"workers": workers, "cluster": "local"})
    all_frames, origins = [], []
    for path in frames:
        read = read_frames(path)
        all_frames += read
        origins += [Origin(stage=stage, parent=str(path), frame=k) for k in range(len(read))]
    dataset = Dataset(db)
    labeler = make_labeler(reference)
    console.print(f"{len(all_frames)} frames -> {db} with {labeler.method} on {execution.workers} "
                  f"{execution.cluster} worker(s)")
    with dask_client(execution) as client:
        summary = label_into_dataset(dataset, all_frames, labeler, client, split, origins, chunk_size)
    console.print(f"labelled {summary.labelled}, failed {summary.failed}, already in the dataset "
                  f"{summary.skipped_known}, duplicates in the input {summary.skipped_duplicates}; "
                  f"{summary.wall_time_s:.1f} s; dataset now {len(dataset)} rows")
    for failure in dataset.failures()[-summary.failed:] if summary.failed else []:
        err_console.print(f"failed frame {failure['frame']} ({failure['kind']}): {failure['reason']}",
                          markup=False, highlight=False)


MODEL = "Model"


@app.command(rich_help_panel=MODEL)
def train(
    db: Annotated[str, typer.Option(help="Dataset (ase.db) with `train` and `validation` splits.")] = "data.db",
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write.")] = Path("model"),
    campaign: Annotated[Optional[Path], typer.Option(help="Take `model` (and its `training`) from this campaign.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Override model.training.epochs.")] = None,
    warm_start: Annotated[Optional[Path], typer.Option(help="Continue from this model directory.")] = None,
) -> None:
    """Train a GMNN ensemble on the dataset's train split, validated on its validation split.

    Writes the model (model.json, params.npz), metrics.json, learning_curve.csv/png and parity plots.
    """
    from rich.progress import Progress

    from ilflow.config import load_campaign
    from ilflow.config.model import Model
    from ilflow.training.api import train_model

    model = load_campaign(campaign).model if campaign else Model()
    if epochs is not None:
        if epochs < 1:
            raise ConfigError(f"--epochs {epochs}: must be at least 1")
        model = model.model_copy(update={"training": model.training.model_copy(update={"epochs": epochs})})
    dataset = _open_dataset(db)
    train_frames, val_frames = list(dataset.frames(split="train")), list(dataset.frames(split="validation"))
    console.print(f"training {model.ensemble_size} x GMNN {model.hidden_layers} on {len(train_frames)} frames, "
                  f"validating on {len(val_frames)}")
    with Progress(console=console) as progress:
        bar = progress.add_task("epochs", total=model.training.epochs)

        def report(row):
            progress.update(bar, completed=row["epoch"],
                            description=f"epoch {row['epoch']} train {row['train_loss']:.3g} val {row['val_loss']:.3g}")

        table = train_model(train_frames, val_frames, model, out, warm_start, report)
    console.print(f"{out}: validation energy MAE {table['energy_mae_meV_atom']:.2f} meV/atom, forces MAE "
                  f"{table['forces_mae_meV_A']:.1f} meV/Å" +
                  (f", stress MAE {table['stress_mae_meV_A3']:.2f} meV/Å3" if "stress_mae_meV_A3" in table else ""))


@app.command(rich_help_panel=MODEL)
def evaluate(
    model: Annotated[Path, typer.Option(help="Model directory.")],
    db: Annotated[Optional[str], typer.Option(help="Labelled frames from this dataset (ase.db).")] = None,
    frames: Annotated[Optional[Path], typer.Option(help="Or labelled frames from this extxyz file.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Only this split of the dataset.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Write the error table as JSON here.")] = None,
) -> None:
    """Errors (MAE, RMSE) of a model's ensemble mean on labelled frames: energy, forces (per element), stress."""
    import json

    from ilflow.io import read_frames
    from ilflow.training.api import model_errors

    if (db is None) == (frames is None):
        raise ConfigError("give exactly one of --db and --frames")
    labelled = list(_open_dataset(db).frames(split=split)) if db else read_frames(frames)
    if not labelled:
        raise ConfigError(f"no labelled frames in {db or frames}" + (f" (split {split})" if split else ""))
    table = model_errors(model, labelled)
    if out:
        from ilflow.project import atomic_write_text

        atomic_write_text(out, json.dumps(table, indent=2) + "\n")
    console.print(f"{len(labelled)} frames: energy MAE {table['energy_mae_meV_atom']:.2f} meV/atom, forces MAE "
                  f"{table['forces_mae_meV_A']:.1f} meV/Å (RMSE {table['forces_rmse_meV_A']:.1f})"
                  + (f", stress MAE {table['stress_mae_meV_A3']:.2f} meV/Å3" if "stress_mae_meV_A3" in table else ""))


SIMULATE = "Simulation"


@app.command(rich_help_panel=SIMULATE)
def md(
    model: Annotated[Path, typer.Option(help="Model directory (a trained GMNN ensemble).")],
    structure: Annotated[Path, typer.Option(help="Starting structure (extxyz, periodic).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (trajectory.h5md, summary.json); "
                                      "running again continues it.")] = Path("md"),
    ensemble: Annotated[str, typer.Option(help="nve, nvt (Nose-Hoover chain), langevin, npt (MTK, isotropic) or "
                                          "relax (FIRE).")] = "nvt",
    temperature_K: Annotated[float, typer.Option(help="Target (and starting) temperature, K.")] = 300.0,
    timestep_fs: Annotated[float, typer.Option(help="Time step, fs.")] = 0.5,
    steps: Annotated[int, typer.Option(help="Number of steps (a multiple of --frame-every).")] = 1000,
    frame_every: Annotated[int, typer.Option(help="Write a frame every this many steps.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the starting velocities and the Langevin noise.")] = 0,
    tau_fs: Annotated[float, typer.Option(help="Nose-Hoover relaxation time, fs.")] = 100.0,
    friction_per_ps: Annotated[float, typer.Option(help="Langevin friction, 1/ps.")] = 1.0,
    pressure_bar: Annotated[float, typer.Option(help="NPT target pressure, bar.")] = 1.0,
    tau_barostat_fs: Annotated[float, typer.Option(help="NPT barostat relaxation time, fs.")] = 1000.0,
    relax_cell: Annotated[bool, typer.Option(help="relax: also the volume, toward --pressure-bar.")] = False,
    fmax_eV_A: Annotated[float, typer.Option(help="relax: stop when every force component is below this, eV/Å.")] = 0.01,
    max_uncertainty_eV_A: Annotated[float, typer.Option(help="Stop when the ensemble force uncertainty (eqn 8) "
                                                        "exceeds this, eV/Å; 0 switches the check off.")] = 0.5,
    dispersion: Annotated[Optional[str], typer.Option(help="Add D3(BJ) with this functional's parameters "
                                                      "(e.g. b97-3c).")] = None,
    d3_cutoff_A: Annotated[float, typer.Option(help="D3 two-body and CN cutoff, Å.")] = 20.0,
    velocities: Annotated[bool, typer.Option(help="Also write velocities.")] = False,
    modifiers: Annotated[Optional[Path], typer.Option(
        help="YAML with temperature_ramp {start_K, end_K, amplitude_K, oscillations}, box_ramp {end_edge_A or "
             "end_density_g_cm3, amplitude_A, oscillations, ramp_oscillations} and/or pressure_ramp {start_bar, "
             "end_bar}, applied over the whole run (paper eqn 9).")] = None,
) -> None:
    """Molecular dynamics with a trained model (optionally + D3), checkpointed; stops at the first frame whose
    force uncertainty exceeds the threshold, a blow-up or a broken molecule."""
    from ilflow.io import read_frames
    from ilflow.config.loader import read_yaml
    from ilflow.config.model import Dispersion
    from ilflow.config.modifiers import Modifiers
    from ilflow.md import Checks, RunSettings, from_model, make_integrator, run_md, schedule_from

    try:
        integrator = make_integrator(ensemble, timestep_fs, thermostat_tau_fs=tau_fs, barostat_tau_fs=tau_barostat_fs,
                                     friction_per_ps=friction_per_ps, relax_cell=relax_cell)
    except ConfigError as exc:
        raise ConfigError(f"--{exc}") from None
    if timestep_fs <= 0 or temperature_K < 0:
        raise ConfigError("--timestep-fs must be positive and --temperature-K not negative")
    ramps = read_yaml(modifiers, Modifiers, "modifiers file") if modifiers else None
    atoms = read_frames(structure, -1)[0]
    force_field = from_model(model, Dispersion(functional=dispersion, cutoff_A=d3_cutoff_A).settings()
                             if dispersion else None)
    relaxing = ensemble == "relax"
    checks = Checks.with_topology(atoms, max_uncertainty_eV_A=max_uncertainty_eV_A or None,
                                  max_temperature_K=None if relaxing else max(5.0 * temperature_K, 2000.0),
                                  converged_fmax_eV_A=fmax_eV_A if relaxing else None,
                                  converged_pressure_bar=100.0 if relaxing and relax_cell else None)
    schedule = schedule_from(ramps, atoms, steps, temperature_K, pressure_bar)
    settings = RunSettings(steps=steps, frame_every=frame_every, seed=seed, schedule=schedule,
                           checks=checks, velocities=velocities)
    console.print(f"{force_field.name}, {len(atoms)} atoms, {ensemble} at {temperature_K} K, {steps} x {timestep_fs} fs")
    summary = run_md(force_field, atoms, integrator, settings, out, progress=True)
    stop = f"stopped by {summary['stop_reason']} at step {summary['stop_step']}" if summary["stop_reason"] else "done"
    console.print(f"{out}: {summary['steps_done']} steps, {stop}; mean T {summary['mean_temperature_K'] or 0:.1f} K, "
                  f"{summary['ns_per_day']:.3f} ns/day")


@app.command(rich_help_panel=SIMULATE)
def classical(
    campaign: Annotated[Optional[Path], typer.Option(help="Build the box from this campaign's species and box; "
                                                   "temperature, density, duration and frames from its "
                                                   "learning.initial section.")] = None,
    structure: Annotated[Optional[Path], typer.Option(help="Or start from this box (extxyz).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (trajectory.h5md, frames.extxyz, "
                                      "summary.json); running again continues it.")] = Path("classical"),
    ensemble: Annotated[str, typer.Option(help="nvt or npt (Monte Carlo barostat).")] = "nvt",
    thermostat: Annotated[str, typer.Option(help="langevin or nose_hoover.")] = "langevin",
    temperature_K: Annotated[Optional[float], typer.Option(help="Temperature, K [campaign: 500].")] = None,
    pressure_bar: Annotated[float, typer.Option(help="npt: pressure, bar.")] = 1.0,
    density_g_cm3: Annotated[Optional[float], typer.Option(help="Pack (or rescale) the box to this density.")] = None,
    duration_ps: Annotated[Optional[float], typer.Option(help="Production length, ps [campaign: 100].")] = None,
    equilibration_ps: Annotated[float, typer.Option(help="Equilibration before the production, ps.")] = 20.0,
    frame_every_ps: Annotated[float, typer.Option(help="Frame interval, ps.")] = 0.5,
    frames: Annotated[Optional[int], typer.Option(help="Decorrelated frames to keep [all].")] = None,
    timestep_fs: Annotated[Optional[float], typer.Option(help="Time step, fs [1, or 2 with --constrain-h].")] = None,
    cutoff_A: Annotated[Optional[float], typer.Option(help="Non-bonded cutoff, Å [12 or what the box allows].")] = None,
    constrain_h: Annotated[bool, typer.Option(help="Constrain bonds to hydrogen.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the velocities and the thermostat.")] = 1,
) -> None:
    """Classical MD with the shipped CL&P force field (OpenMM): initial data for the learning loop."""
    from ilflow.classical import ClassicalSettings, run_classical
    from ilflow.io import read_frames

    if (campaign is None) == (structure is None):
        raise ConfigError("give exactly one of --campaign FILE and --structure FILE")
    if campaign is not None:
        from ilflow.config import load_campaign
        from ilflow.system import build_box

        loaded = load_campaign(campaign)
        initial = loaded.learning.initial
        temperature_K = initial.temperature_K if temperature_K is None else temperature_K
        duration_ps = initial.duration_ps if duration_ps is None else duration_ps
        frames = initial.frames if frames is None else frames
        density = density_g_cm3 or initial.density_g_cm3 or loaded.box.density_g_cm3
        with console.status("packing with PACKMOL..."):
            atoms = build_box(list(loaded.species), loaded.box.model_copy(update={"density_g_cm3": density}))
    else:
        atoms = read_frames(structure, -1)[0]
        if density_g_cm3:
            from ilflow.system.topology import rescale_to_density

            atoms = rescale_to_density(atoms, density_g_cm3)
    settings = ClassicalSettings(
        ensemble=ensemble, thermostat=thermostat, temperature_K=temperature_K or 298.15, pressure_bar=pressure_bar,
        timestep_fs=timestep_fs or (2.0 if constrain_h else 1.0), equilibration_ps=equilibration_ps,
        duration_ps=duration_ps or 100.0, frame_every_ps=frame_every_ps, cutoff_A=cutoff_A, constrain_h=constrain_h,
        seed=seed, frames_wanted=frames)
    console.print(f"CL&P/OpenMM {ensemble} at {settings.temperature_K} K, {len(atoms)} atoms, "
                  f"{settings.equilibration_ps} + {settings.duration_ps} ps")
    summary = run_classical(atoms, settings, out, progress=True)
    console.print(f"{out}: {summary['simulated_ns']:.3f} ns at {summary['ns_per_day']:.1f} ns/day ({summary['platform']}); "
                  f"density {summary['mean_density_g_cm3']:.4f} +- {summary['density_95_g_cm3']:.4f} g/cm3, "
                  f"T {summary['mean_temperature_K']:.1f} K; {summary['frames_kept']} frames "
                  f"({summary['decorrelated_frames']} decorrelated) in {out / 'frames.extxyz'}")


def _open_dataset(db: str):
    from ilflow.data import Dataset

    if "://" not in db and not Path(db).is_file():
        raise ConfigError(f"dataset {db!r} does not exist; label frames into it first (ilflow label ... --db {db})")
    return Dataset(db)


@data_app.command("info")
def data_info(db: Annotated[str, typer.Argument(help="ase.db path or URL")]) -> None:
    """Counts per status, split, stage and method; failure records with their reasons."""
    import json

    dataset = _open_dataset(db)
    console.print(json.dumps(dataset.statistics(), indent=2))
    for failure in dataset.failures():
        console.print(f"failed row {failure['id']} ({failure['kind']}, {failure['stage']} frame {failure['frame']}): "
                      f"{failure['reason']}", markup=False, highlight=False)


@data_app.command("export")
def data_export(
    db: Annotated[str, typer.Argument(help="ase.db path or URL")],
    out: Annotated[Path, typer.Option("--out", "-o", help="extxyz file to write")] = Path("labels.extxyz"),
    split: Annotated[Optional[str], typer.Option(help="Only this split.")] = None,
) -> None:
    """Write labelled frames (energy, forces, stress, provenance) to extxyz."""
    n = _open_dataset(db).export(out, split=split)
    console.print(f"{out}: {n} labelled frames")


def main() -> None:
    """Console entry point: IlflowError -> one message on stderr, exit 2."""
    try:
        app(standalone_mode=True)
    except IlflowError as exc:
        err_console.print("[bold red]error:[/bold red] ", end="")
        err_console.print(str(exc), markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; completed stages are kept, run the same command again to resume")
        sys.exit(130)
