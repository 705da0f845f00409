"""Errors of an ensemble's mean prediction on a labelled set, over real atoms only."""

from dataclasses import dataclass

import numpy as np
from ase.data import chemical_symbols

from ilflow.records import Record


@dataclass(frozen=True)
class ErrorTable(Record):
    """MAE and RMSE of an ensemble's mean prediction: energy per atom (meV/atom), forces (meV/Å, overall and per
    element symbol), stress (meV/Å^3; None when no frame has a reference stress)."""

    structures: int
    energy_mae_meV_atom: float
    energy_rmse_meV_atom: float
    forces_mae_meV_A: float
    forces_rmse_meV_A: float
    forces_mae_meV_A_by_element: dict[str, float]
    stress_mae_meV_A3: float | None = None
    stress_rmse_meV_A3: float | None = None


def collect(evaluated, elements: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Flatten `trainer.evaluate` output into reference/predicted arrays (ensemble mean), skipping repeats."""
    out = {k: [] for k in ("e_ref", "e_pred", "n", "f_ref", "f_pred", "f_el", "s_ref", "s_pred")}
    for batch, pred, weight in evaluated:
        for b in np.flatnonzero(weight > 0):
            mask = batch.mask[b]
            out["e_ref"].append(batch.energy[b])
            out["e_pred"].append(pred.energy[:, b].mean())
            out["n"].append(mask.sum())
            out["f_ref"].append(batch.forces[b][mask])
            out["f_pred"].append(pred.forces[:, b].mean(axis=0)[mask])
            out["f_el"].append(np.asarray(elements)[batch.species[b][mask]])
            if batch.has_stress[b]:
                out["s_ref"].append(batch.stress[b].ravel())
                out["s_pred"].append(pred.stress[:, b].mean(axis=0).ravel())
    arrays = {}
    for k, v in out.items():
        arrays[k] = np.concatenate(v) if v and np.ndim(v[0]) > 0 else np.asarray(v)
    return arrays


def error_table(arrays: dict[str, np.ndarray]) -> ErrorTable:
    """The ErrorTable of `collect`'s arrays."""
    de = (arrays["e_pred"] - arrays["e_ref"]) / arrays["n"] * 1000.0
    df = (arrays["f_pred"] - arrays["f_ref"]) * 1000.0
    by_element = {chemical_symbols[z]: float(np.mean(np.abs(df[arrays["f_el"] == z]))) for z in np.unique(arrays["f_el"])}
    stress = {}
    if len(arrays["s_ref"]):
        ds = (arrays["s_pred"] - arrays["s_ref"]) * 1000.0
        stress = {"stress_mae_meV_A3": float(np.mean(np.abs(ds))), "stress_rmse_meV_A3": float(np.sqrt(np.mean(ds**2)))}
    return ErrorTable(structures=int(len(de)), energy_mae_meV_atom=float(np.mean(np.abs(de))),
                      energy_rmse_meV_atom=float(np.sqrt(np.mean(de**2))), forces_mae_meV_A=float(np.mean(np.abs(df))),
                      forces_rmse_meV_A=float(np.sqrt(np.mean(df**2))), forces_mae_meV_A_by_element=by_element, **stress)
