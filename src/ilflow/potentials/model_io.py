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
    if not (path / "model.json").is_file() or not (path / "params.npz").is_file():
        raise IlflowError(f"{str(path)!r} is not a model directory (model.json and params.npz expected)")
    try:
        info = json.loads((path / "model.json").read_text())
        cfg = info["config"]
        config = GMNNConfig(**{**cfg, "elements": tuple(cfg["elements"]), "hidden": tuple(cfg["hidden"])})
        n_layers = int(info["n_layers"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IlflowError(f"{str(path / 'model.json')!r} is corrupt or not ilflow's ({type(exc).__name__}: {exc}); "
                          "restore the model directory or train it again") from None
    try:
        with np.load(path / "params.npz") as arrays:
            raw = {"beta": arrays["['beta']"], "scale": arrays["['scale']"], "shift": arrays["['shift']"],
                   "layers": [{"w": arrays[f"['layers'][{k}]['w']"], "b": arrays[f"['layers'][{k}]['b']"]}
                              for k in range(n_layers)]}
    except Exception as exc:  # zipfile, numpy and KeyError for a truncated, foreign or incomplete file
        raise IlflowError(f"{str(path / 'params.npz')!r} cannot be read ({type(exc).__name__}: {exc}); restore the "
                          "model directory or train it again") from None
    _check_shapes(path, config, raw)
    # contraction and network in the model's dtype (older files hold float64 contraction coefficients of float32
    # models), scale and shift in float64
    network = {"beta": raw["beta"], "layers": raw["layers"]}
    params = {**jax.tree.map(lambda a: jnp.asarray(a, config.dtype), network),
              "scale": jnp.asarray(raw["scale"], jnp.float64), "shift": jnp.asarray(raw["shift"], jnp.float64)}
    return config, params, info


def _check_shapes(path: Path, config: GMNNConfig, raw: dict) -> None:
    """IlflowError unless the arrays have the shapes model.json implies (ensemble axis first)."""
    n_el = len(config.elements)
    sizes = (config.n_features, *config.hidden, 1)
    members = raw["scale"].shape[0] if raw["scale"].ndim == 2 else -1
    expected = {"beta": (members, n_el, n_el, config.n_radial, config.n_basis), "scale": (members, n_el),
                "shift": (members, n_el)}
    found = {name: raw[name].shape for name in expected}
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"layer {k} w"], found[f"layer {k} w"] = (members, a, b), raw["layers"][k]["w"].shape
        expected[f"layer {k} b"], found[f"layer {k} b"] = (members, b), raw["layers"][k]["b"].shape
    wrong = [f"{name} {found[name]} (expected {shape})" for name, shape in expected.items() if found[name] != shape]
    if members < 1 or wrong:
        raise IlflowError(f"{str(path / 'params.npz')!r} does not match its model.json: {'; '.join(wrong) or 'scale'}; "
                          "restore the model directory or train it again")
