"""Train a GMNN ensemble: members vmapped together, Adam with per-group learning rates (cosine decay), early stopping."""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from ase import Atoms

from ilflow import progress
from ilflow.config.model import Training
from ilflow.potentials.gmnn import GMNNConfig, init_params
from ilflow.runtime import ensure_configured
from ilflow.training.data import Labelled, batches, to_buckets
from ilflow.training.loss import batch_loss
from ilflow.training.scale_shift import energy_shift, force_scale

GROUPS = ("contraction", "network", "scale", "shift")


@dataclass
class History:
    """Per-epoch learning curve."""

    rows: list[dict] = field(default_factory=list)

    def best(self) -> dict:
        return min(self.rows, key=lambda r: r["val_loss"])


def param_groups(params: dict) -> dict:
    """The optimizer group of every leaf: contraction coefficients, network, scale, shift."""
    return {"beta": "contraction", "layers": [{"w": "network", "b": "network"} for _ in params["layers"]],
            "scale": "scale", "shift": "shift"}


def make_optimizer(settings: Training) -> optax.GradientTransformation:
    """Adam per group at the group's learning rate; the cosine decay (`decay_factor`) is applied per step."""
    rates = settings.learning_rates
    return _adam_per_group(tuple(getattr(rates, g) for g in GROUPS))


@lru_cache(maxsize=None)
def _adam_per_group(rates: tuple[float, ...]) -> optax.GradientTransformation:
    # one object per set of rates: the jitted step (tx is static) then compiles once for all retrainings
    return optax.multi_transform({g: optax.adam(rate) for g, rate in zip(GROUPS, rates)}, param_groups)


def decay_factor(step: int, total: int, alpha: float = 0.01, warmup: int = 0) -> float:
    """Cosine decay of the learning rates from 1 to `alpha` over `total` steps (optax's cosine_decay_schedule),
    times a linear rise over the first `warmup` steps (step k at (k + 1) / warmup)."""
    fraction = min(step, total) / max(total, 1)
    rise = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return rise * (alpha + (1.0 - alpha) * 0.5 * (1.0 + np.cos(np.pi * fraction)))


def init_ensemble(config: GMNNConfig, size: int, frames: Sequence[Atoms], seed: int) -> dict:
    """`size` members with different seeds, sharing the regression shift and the force-RMS scale."""
    ensure_configured()  # scale and shift in float64 (before init_params is traced)
    keys = jax.random.split(jax.random.PRNGKey(seed), size)
    params = jax.vmap(lambda k: init_params(config, k))(keys)
    shift = jnp.asarray(energy_shift(frames, config.elements))
    scale = jnp.asarray(force_scale(frames, config.elements))
    return {**params, "shift": jnp.tile(shift, (size, 1)), "scale": jnp.tile(scale, (size, 1))}


def _as_jax(batch: Labelled):
    return jax.tree.map(jnp.asarray, batch.__dict__)


class _Batch:
    def __init__(self, arrays: dict):
        self.__dict__.update(arrays)


def _member_loss(params, config, arrays, weight, weights):
    return batch_loss(params, config, _Batch(arrays), weight, weights)[0]


@partial(jax.jit, static_argnums=(0, 1, 2), donate_argnums=(3, 4))
def _train_step(config, tx, weights, params, opt_state, arrays, weight, rate_factor):
    loss, grads = jax.vmap(jax.value_and_grad(_member_loss), in_axes=(0, None, None, None, None))(
        params, config, arrays, weight, weights)
    updates, opt_state = jax.vmap(tx.update)(grads, opt_state, params)
    updates = jax.tree.map(lambda u: (u * rate_factor).astype(u.dtype), updates)
    return optax.apply_updates(params, updates), opt_state, loss


@partial(jax.jit, static_argnums=(0, 1))
def _eval_step(config, weights, params, arrays, weight):
    def member(p):
        return batch_loss(p, config, _Batch(arrays), weight, weights)

    return jax.vmap(member)(params)


def evaluate(config: GMNNConfig, params: dict, buckets: list[Labelled], weights=(1.0, 4.0, 0.2),
             batch_size: int = 8) -> tuple[np.ndarray, list[tuple[Labelled, object, np.ndarray]]]:
    """Mean loss per member over a data set, and (batch, member predictions, weight) for metrics."""
    ensure_configured()  # labels and the summed energies in float64
    total, count, out = 0.0, 0.0, []
    for batch, weight in batches(buckets, batch_size, None):
        loss, pred = _eval_step(config, tuple(weights), params, _as_jax(batch), jnp.asarray(weight))
        total = total + np.asarray(loss) * weight.sum()
        count += weight.sum()
        out.append((batch, jax.tree.map(np.asarray, pred), weight))
    return total / max(count, 1.0), out


def train(config: GMNNConfig, train_frames: Sequence[Atoms], val_frames: Sequence[Atoms], settings: Training,
          ensemble_size: int = 2, params: dict | None = None) -> tuple[dict, History]:
    """Train (or continue training, `params`) an ensemble; returns the best parameters by validation loss. The
    progress (epochs, training and validation loss) is reported through ilflow.progress."""
    ensure_configured()  # labels, scale/shift and the summed energies in float64
    weights = (settings.loss_weights.energy, settings.loss_weights.forces, settings.loss_weights.stress)
    train_b = to_buckets(train_frames, config.elements, config.cutoff_A)
    val_b = to_buckets(val_frames, config.elements, config.cutoff_A)
    warmup_epochs = settings.warmup_epochs if params is not None else 0.0  # a warm-up only for a warm start
    if params is None:
        params = init_ensemble(config, ensemble_size, train_frames, settings.seed)
    n_batches = sum(-(-len(b) // settings.batch_size) for b in train_b)
    tx, total_steps, step = make_optimizer(settings), settings.epochs * n_batches, 0
    warmup = int(round(warmup_epochs * n_batches))
    opt_state = jax.vmap(tx.init)(params)
    rng = np.random.default_rng(settings.seed)
    history = History()
    best_loss, best_params, since_best = np.inf, params, 0
    start = time.perf_counter()
    with progress.task("training", total=settings.epochs, unit="epochs") as task:
        for epoch in range(1, settings.epochs + 1):
            t0 = time.perf_counter()
            train_loss, seen = 0.0, 0.0
            for batch, weight in batches(train_b, settings.batch_size, rng):
                rate_factor = jnp.float32(decay_factor(step, total_steps, warmup=warmup))
                params, opt_state, loss = _train_step(config, tx, weights, params, opt_state, _as_jax(batch),
                                                      jnp.asarray(weight), rate_factor)
                step += 1
                train_loss = train_loss + np.asarray(loss) * weight.sum()
                seen += weight.sum()
            val_loss, _ = evaluate(config, params, val_b, weights)
            row = {"epoch": epoch, "train_loss": float(np.mean(train_loss / seen)),
                   "val_loss": float(np.mean(val_loss)), "epoch_time_s": time.perf_counter() - t0,
                   "elapsed_s": time.perf_counter() - start}
            history.rows.append(row)
            if row["val_loss"] < best_loss:
                best_loss, best_params, since_best = row["val_loss"], jax.tree.map(jnp.copy, params), 0
            else:
                since_best += 1
            task.update(epoch, train_loss=row["train_loss"], validation_loss=row["val_loss"])
            if settings.patience_epochs is not None and since_best >= settings.patience_epochs:
                break
    return best_params, history
