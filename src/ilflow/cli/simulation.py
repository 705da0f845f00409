"""Simulation commands: `md` with a trained model (JAX), `classical` MD with the CL&P force field (OpenMM)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ilflow.cli.guard import output_directory
from ilflow.cli.options import FiniteOption, console
from ilflow.cli.render import progress_shown
from ilflow.errors import ConfigError


MD_RUN_FILES = ("checkpoint.npz", "trajectory.h5md", "summary.json")  # a run that `md` continues
CLASSICAL_RUN_FILES = ("checkpoint.chk", "state.json", "trajectory.h5md", "summary.json")


def _dispersion(functional: str, cutoff_A: float) -> dict:
    """The run-time D3 settings of --dispersion and --d3-cutoff-A (a ConfigError naming a bad value)."""
    from pydantic import ValidationError

    from ilflow.config.model import Dispersion

    try:
        return Dispersion(functional=functional, cutoff_A=cutoff_A).settings()
    except ValidationError as exc:
        details = "; ".join(e["msg"] for e in exc.errors())
        raise ConfigError(f"--dispersion {functional} --d3-cutoff-A {cutoff_A}: {details}") from None


def md(
    model: Annotated[Path, typer.Option(help="Model directory (a trained GMNN ensemble).")],
    structure: Annotated[Path, typer.Option(help="Starting structure (extxyz, periodic).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (trajectory.h5md, summary.json); "
                                      "running again continues it.")] = Path("md"),
    ensemble: Annotated[str, typer.Option(help="nve, nvt (Nose-Hoover chain), langevin, npt (MTK, isotropic) or "
                                          "relax (FIRE).")] = "nvt",
    temperature_K: Annotated[float, FiniteOption(help="Target (and starting) temperature, K.")] = 300.0,
    timestep_fs: Annotated[float, FiniteOption(help="Time step, fs.")] = 0.5,
    steps: Annotated[int, typer.Option(help="Number of steps (a multiple of --frame-every).")] = 1000,
    frame_every: Annotated[int, typer.Option(help="Write a frame every this many steps.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the starting velocities and the Langevin noise.")] = 0,
    tau_fs: Annotated[float, FiniteOption(help="Nose-Hoover relaxation time, fs.")] = 100.0,
    friction_per_ps: Annotated[float, FiniteOption(help="Langevin friction, 1/ps.")] = 1.0,
    pressure_bar: Annotated[float, FiniteOption(help="NPT target pressure, bar.")] = 1.0,
    tau_barostat_fs: Annotated[float, FiniteOption(help="NPT barostat relaxation time, fs.")] = 1000.0,
    relax_cell: Annotated[bool, typer.Option(help="relax: also the volume, toward --pressure-bar.")] = False,
    fmax_eV_A: Annotated[float, FiniteOption(help="relax: stop when every force component is below this, eV/Å.")] = 0.01,
    max_uncertainty_eV_A: Annotated[float, FiniteOption(help="Stop when the ensemble force uncertainty (eqn 8) "
                                                        "exceeds this, eV/Å; 0 switches the check off.")] = 0.5,
    dispersion: Annotated[Optional[str], typer.Option(help="Add D3(BJ) with this functional's parameters "
                                                      "(e.g. b97-3c).")] = None,
    d3_cutoff_A: Annotated[float, FiniteOption(help="D3 two-body and CN cutoff, Å.")] = 20.0,
    dispersion_step_fs: Annotated[float, FiniteOption(
        help="D3 by multiple time stepping: every k steps, the largest k within this many fs that divides "
             "--frame-every; --timestep-fs for every step (relax: always every step).")] = 4.0,
    velocities: Annotated[bool, typer.Option(help="Also write velocities.")] = False,
    force: Annotated[bool, typer.Option(help="Write into --out even if it holds other files than a run.")] = False,
    modifiers: Annotated[Optional[Path], typer.Option(
        help="YAML with temperature_ramp {start_K, end_K, amplitude_K, oscillations}, box_ramp {end_edge_A or "
             "end_density_g_cm3, amplitude_A, oscillations, ramp_oscillations} and/or pressure_ramp {start_bar, "
             "end_bar}, applied over the whole run (paper eqn 9).")] = None,
) -> None:
    """Molecular dynamics with a trained model (optionally + D3), checkpointed; stops at the first frame whose
    force uncertainty exceeds the threshold, a blow-up or a broken molecule."""
    from ilflow.io import read_frames
    from ilflow.config.loader import read_yaml
    from ilflow.config.dispersion import dispersion_every
    from ilflow.config.modifiers import Modifiers
    from ilflow.md import Checks, RunSettings, from_model, make_integrator, run_md, schedule_from

    try:
        integrator = make_integrator(ensemble, timestep_fs, thermostat_tau_fs=tau_fs, barostat_tau_fs=tau_barostat_fs,
                                     friction_per_ps=friction_per_ps, relax_cell=relax_cell)
    except ConfigError as exc:
        raise ConfigError(f"--{exc}") from None
    if timestep_fs <= 0 or temperature_K < 0:
        raise ConfigError("--timestep-fs must be positive and --temperature-K not negative")
    if steps < 1 or frame_every < 1 or steps % frame_every:
        raise ConfigError(f"--steps ({steps}) must be a positive multiple of --frame-every ({frame_every})")
    d3 = _dispersion(dispersion, d3_cutoff_A) if dispersion else None
    output_directory("--out", out, "run", inputs=[model, structure, modifiers], force=force, continues=MD_RUN_FILES)
    ramps = read_yaml(modifiers, Modifiers, "modifiers file") if modifiers else None
    atoms = read_frames(structure, -1)[0]
    relaxing = ensemble == "relax"
    if dispersion_step_fs <= 0:
        raise ConfigError("--dispersion-step-fs must be positive")
    every = 1 if relaxing else dispersion_every(dispersion_step_fs, timestep_fs, frame_every)
    force_field = from_model(model, d3, dispersion_every=every)
    checks = Checks.with_topology(atoms, max_uncertainty_eV_A=max_uncertainty_eV_A or None,
                                  max_temperature_K=None if relaxing else max(5.0 * temperature_K, 2000.0),
                                  converged_fmax_eV_A=fmax_eV_A if relaxing else None,
                                  converged_pressure_bar=100.0 if relaxing and relax_cell else None)
    schedule = schedule_from(ramps, atoms, steps, temperature_K, pressure_bar)
    settings = RunSettings(steps=steps, frame_every=frame_every, seed=seed, schedule=schedule,
                           checks=checks, velocities=velocities)
    console.print(f"{force_field.name}, {len(atoms)} atoms, {ensemble} at {temperature_K} K, {steps} x {timestep_fs} fs")
    with progress_shown():
        summary = run_md(force_field, atoms, integrator, settings, out)
    stop = f"stopped by {summary.stop_reason} at step {summary.stop_step}" if summary.stop_reason else "done"
    console.print(f"{out}: {summary.steps_done} steps, {stop}; mean T {summary.mean_temperature_K or 0:.1f} K, "
                  f"{summary.ns_per_day:.3f} ns/day")


def classical(
    campaign: Annotated[Optional[Path], typer.Option(help="Build the box from this campaign's species and box; "
                                                   "temperature, density, duration and frames from its "
                                                   "learning.initial section.")] = None,
    structure: Annotated[Optional[Path], typer.Option(help="Or start from this box (extxyz).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (trajectory.h5md, frames.extxyz, "
                                      "summary.json); running again continues it.")] = Path("classical"),
    ensemble: Annotated[str, typer.Option(help="nvt or npt (Monte Carlo barostat).")] = "nvt",
    thermostat: Annotated[str, typer.Option(help="langevin or nose_hoover.")] = "langevin",
    temperature_K: Annotated[Optional[float], FiniteOption(help="Temperature, K [campaign: 500].")] = None,
    pressure_bar: Annotated[float, FiniteOption(help="npt: pressure, bar.")] = 1.0,
    density_g_cm3: Annotated[Optional[float], FiniteOption(help="Pack (or rescale) the box to this density.")] = None,
    duration_ps: Annotated[Optional[float], FiniteOption(help="Production length, ps [campaign: 100].")] = None,
    equilibration_ps: Annotated[float, FiniteOption(help="Equilibration before the production, ps.")] = 20.0,
    frame_every_ps: Annotated[float, FiniteOption(help="Frame interval, ps.")] = 0.5,
    frames: Annotated[Optional[int], typer.Option(help="Decorrelated frames to keep [all].")] = None,
    timestep_fs: Annotated[Optional[float], FiniteOption(help="Time step, fs [1, or 2 with --constrain-h].")] = None,
    cutoff_A: Annotated[Optional[float], FiniteOption(help="Non-bonded cutoff, Å [12 or what the box allows].")] = None,
    constrain_h: Annotated[bool, typer.Option(help="Constrain bonds to hydrogen.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the velocities and the thermostat.")] = 1,
    force: Annotated[bool, typer.Option(help="Write into --out even if it holds other files than a run.")] = False,
) -> None:
    """Classical MD with the shipped CL&P force field (OpenMM): initial data for the learning loop."""
    from ilflow.classical import ClassicalSettings, run_classical
    from ilflow.io import read_frames

    if (campaign is None) == (structure is None):
        raise ConfigError("give exactly one of --campaign FILE and --structure FILE")
    positive = {"--temperature-K": temperature_K, "--density-g-cm3": density_g_cm3, "--duration-ps": duration_ps,
                "--frame-every-ps": frame_every_ps, "--timestep-fs": timestep_fs, "--cutoff-A": cutoff_A}
    for option, value in positive.items():
        if value is not None and value <= 0:
            raise ConfigError(f"{option} {value}: must be positive")
    if equilibration_ps < 0:
        raise ConfigError(f"--equilibration-ps {equilibration_ps}: must not be negative")
    output_directory("--out", out, "run", inputs=[campaign, structure], force=force, continues=CLASSICAL_RUN_FILES)
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
    with progress_shown():
        summary = run_classical(atoms, settings, out)
    console.print(f"{out}: {summary.simulated_ns:.3f} ns at {summary.ns_per_day:.1f} ns/day ({summary.platform}); "
                  f"density {summary.mean_density_g_cm3:.4f} +- {summary.density_95_g_cm3:.4f} g/cm3, "
                  f"T {summary.mean_temperature_K:.1f} K; {summary.frames_kept} frames "
                  f"({summary.decorrelated_frames} decorrelated) in {out / 'frames.extxyz'}")
