"""A model directory: `model.json` (hyperparameters, elements, ensemble size, metadata) and `params.npz`.

Loadable without the training code: `load_model(path) -> (GMNNConfig, params)` with parameters stacked
along a leading ensemble axis.
"""

import json
from dataclasses import asdict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ilflow import __version__
from ilflow.errors import IlflowError
from ilflow.potentials.gmnn import GMNNConfig
from ilflow.project import atomic_path, atomic_write_text
from ilflow.runtime import ensure_configured


def _flatten(params: dict) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def save_model(path: str | Path, config: GMNNConfig, params: dict, metadata: dict | None = None) -> Path:
    """Write the model directory atomically (each file via temp + rename)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    ensemble = int(np.asarray(params["scale"]).shape[0])
    with atomic_path(path / "params.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **_flatten(params))
    info = {"kind": "gmnn", "config": asdict(config), "ensemble_size": ensemble, "n_layers": len(params["layers"]),
            "ilflow_version": __version__, **(metadata or {})}
    atomic_write_text(path / "model.json", json.dumps(info, indent=2) + "\n")
    return path


def load_model(path: str | Path) -> tuple[GMNNConfig, dict, dict]:
    """(config, stacked params, metadata) of a model directory."""
    ensure_configured()  # scale and shift (and float64 models) keep their 64 bits
    path = Path(path)
    try:
        info = json.loads((path / "model.json").read_text())
        arrays = np.load(path / "params.npz")
    except FileNotFoundError:
        raise IlflowError(f"{str(path)!r} is not a model directory (model.json and params.npz expected)") from None
    cfg = info["config"]
    config = GMNNConfig(**{**cfg, "elements": tuple(cfg["elements"]), "hidden": tuple(cfg["hidden"])})
    params = {"beta": jnp.asarray(arrays["['beta']"]), "scale": jnp.asarray(arrays["['scale']"]),
              "shift": jnp.asarray(arrays["['shift']"]),
              "layers": [{"w": jnp.asarray(arrays[f"['layers'][{k}]['w']"]),
                          "b": jnp.asarray(arrays[f"['layers'][{k}]['b']"])} for k in range(info["n_layers"])]}
    return config, params, info
