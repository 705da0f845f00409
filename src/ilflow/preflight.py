"""The checks of a campaign that take seconds, run by `ilflow validate` and by `ilflow run` before its first stage:
what the schema cannot see (SMILES that RDKit cannot parse, a net charge, a density no packing reaches, production
runs at the experimental density of a liquid without a density table, a user's experimental table for another
liquid) would otherwise surface minutes or hours later, inside a stage."""

from dataclasses import dataclass

from ilflow.config import Campaign
from ilflow.errors import ConfigError


@dataclass(frozen=True)
class Preflight:
    """What the checks found: atoms per box, net charge (e) and the estimated fraction of the box the molecules
    fill at the campaign's density."""

    atoms: int
    charge_e: int
    packed_fraction: float
    without_clandp: tuple[str, ...] = ()  # species no shipped CL&P template covers (initial data: bootstrap frames)
    experimental_tables: tuple[tuple[str, str | None], ...] = ()  # (quantity, the table the analysis will use)


D3_MAX_Z = 94  # D3's reference C6 coefficients (Grimme et al. 2010) cover H to Pu


def _d3_terms(campaign: Campaign) -> list[str]:
    """The campaign keys that evaluate ilflow's D3."""
    terms = [f"final_models.{f.name}" for f in campaign.final_models if f.labels_d3 or f.run_time_d3]
    terms += [f"learning.{it.name}" for it in campaign.learning.iterations
              if any(getattr(s, "run_time_d3", None) for s in it.samplers)]
    terms += ["model.dispersion"] * (campaign.model.dispersion is not None)
    terms += ["reference.subtract_d3"] * (getattr(campaign.reference, "subtract_d3", None) is not None)
    return terms


def check_campaign(campaign: Campaign) -> Preflight:
    """SMILES, charge and packability of the campaign's box (RDKit conformers, no PACKMOL); the errors name the
    species or the box key to change."""
    from ilflow.system import plan_box

    plan = plan_box(list(campaign.species), campaign.box)
    atoms = sum(len(m.symbols) * s.count for m, s in zip(plan.molecules, campaign.species))
    if campaign.reference.method == "xtb":
        heavy = sorted({sym for m in plan.molecules for sym, z in zip(m.symbols, m.atomic_numbers) if z > 86})
        if heavy:
            raise ConfigError(f"reference: xTB has parameters up to radon (Z = 86); {', '.join(heavy)} lie beyond; "
                              "choose method: cp2k")
    if campaign.reference.method == "cp2k":
        from ilflow.reference.cp2k_input import VALENCE

        beyond = sorted({sym for m in plan.molecules for sym in m.symbols} - set(VALENCE))
        if beyond:
            raise ConfigError(f"reference: the CP2K preset has basis sets and pseudopotentials (TZVP-GTH, GTH-PBE) for "
                              f"H to Ar only; the species contain {', '.join(beyond)}. Choose method: xtb (parameters "
                              "up to radon)")
    if max(z for m in plan.molecules for z in m.atomic_numbers) > D3_MAX_Z and _d3_terms(campaign):
        raise ConfigError(f"D3 ({', '.join(_d3_terms(campaign))}): its reference data cover H to Pu (Z <= 94); "
                          "the species contain heavier elements; remove the D3 terms")
    without_clandp = ()
    if campaign.learning.initial.source == "classical":
        without_clandp = tuple(m.name for m in plan.molecules if not _covered(m))
    from ilflow.analysis.experiment import table_for
    from ilflow.analysis.tables import experimental_diffusion

    tables = tuple((quantity, table_for(quantity, getattr(campaign.analysis, f"experimental_{quantity}_csv"),
                                        campaign.species)) for quantity in ("density", "viscosity", "conductivity"))
    experimental_diffusion(campaign.analysis.experimental_diffusion_csv)
    if campaign.production.runs:  # their densities: given, or from an experimental table that must exist
        from ilflow.production.stage import planned_runs

        runs = planned_runs(campaign)
        _check_classical_relaxations(runs, plan.molecules, campaign.species)
        _check_stress_intervals(campaign, runs)
    return Preflight(atoms, plan.charge_e, plan.packed_fraction, without_clandp,
                     tuple((quantity, str(path) if path else None) for quantity, path in tables))


def _covered(molecule) -> bool:
    """Does a shipped CL&P template type this molecule?"""
    from ilflow.classical.forcefield import NoTemplateError, match_template

    try:
        match_template(molecule.atomic_numbers, molecule.bonds)
        return True
    except NoTemplateError:
        return False


def _check_stress_intervals(campaign: Campaign, runs: list) -> None:
    """With run-time D3 every k steps (multiple time stepping), the pressure tensor is complete only at every k-th
    step: stress_interval_fs must be a whole number of those slow steps."""
    from ilflow.active.final import model_stage

    for run in runs:
        spec = run.spec
        if spec.stress_steps and model_stage(campaign, spec.model)[1] and spec.stress_steps % spec.dispersion_every:
            raise ConfigError(
                f"production run {run.group}: stress_interval_fs {spec.stress_interval_fs} fs is not a multiple of "
                f"its run-time D3 interval ({spec.dispersion_every} steps of {spec.timestep_fs} fs); the pressure "
                f"tensor includes D3 only there: use a multiple of {spec.dispersion_every * spec.timestep_fs:g} fs")


def _check_classical_relaxations(runs: list, molecules: list, species) -> None:
    """A production run's CL&P relaxation (classical_ps) compresses its box to 1.1 x the density; a box too small for
    the classical cutoff would stop the campaign after the learning (species without CL&P types relax with the
    model: no limit)."""
    from ilflow.classical.run import MIN_CUTOFF_A
    from ilflow.production.plan import scaled_species
    from ilflow.production.run import classical_cutoff_A

    if not all(_covered(m) for m in molecules):
        return
    for run in runs:
        if not run.spec.classical_ps:
            continue
        counts = [s.count for s in scaled_species(list(species), run.formula_units)]
        unit_mass = sum(m.mass_amu * n for m, n in zip(molecules, counts)) / run.formula_units
        cutoff = classical_cutoff_A(unit_mass * run.formula_units, run.density_g_cm3)
        if cutoff < MIN_CUTOFF_A:
            needed = next(n for n in range(run.formula_units + 1, 10_000)
                          if classical_cutoff_A(unit_mass * n, run.density_g_cm3) >= MIN_CUTOFF_A)
            raise ConfigError(
                f"production run {run.group}/{run.key}: its CL&P relaxation (classical_ps) compresses "
                f"{run.formula_units} formula units to a box that allows a classical cutoff of {cutoff:.1f} Å, below "
                f"the {MIN_CUTOFF_A} Å a classical run needs; use formula_units of at least {needed}, or "
                "classical_ps: null (relaxation with the model)")
