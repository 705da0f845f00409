"""The process-wide JAX settings ilflow needs: 64-bit mode, exact float32 matrix products and the persistent
compilation cache.

Importing ilflow changes no JAX setting. A command calls `configure_jax()` before it runs; a library user may
call it once at the start, and the library's entry points (making a system or neighbour list, loading a
model, the calculators, force fields, MD runner and trainer) call `ensure_configured()`, which configures
JAX with the defaults only if nobody did. JAX is imported inside the functions, so `import ilflow` stays light.
"""

import os
import threading
from pathlib import Path

_configured = False
_lock = threading.Lock()


def configure_jax(x64: bool = True, cache: str | None = None, matmul_precision: str | None = None) -> None:
    """Set ilflow's JAX settings; calling it again with the same arguments changes nothing.

    x64: enable 64-bit arrays. Energies, forces summed over atoms, and the integrator state (positions,
    momenta, thermostat and barostat variables) need float64; the network itself runs in its configured
    dtype. Call this before the first array of such a computation is made: arrays made earlier keep 32 bits.

    matmul_precision: JAX's precision of float32 matrix products. Default: $ILFLOW_MATMUL_PRECISION, else
    "highest". JAX's own default on NVIDIA GPUs multiplies float32 matrices in TF32 (10-bit mantissas): measured
    on an H200 with a trained 2 x 512 ensemble at 960 atoms, forces then differ from float64 by 2.2 meV/Å RMS
    (8.2 max) instead of 0.001 meV/Å; "highest" cost nothing up to 960 atoms and 24% of the MD speed at 7,680.
    On CPUs the two are the same. "default" gives JAX's choice back.

    cache: folder of the persistent compilation cache, which keeps compiled programs on disk so that a
    resumed run, the next learning iteration or the next command skips recompiling (5-30 s each on a
    laptop). Default: $ILFLOW_JAX_CACHE, else ~/.cache/ilflow/jax (at most 2 GB); "off" (or "", "0",
    "none") switches it off. A cache folder already set for JAX (by you, JAX_COMPILATION_CACHE_DIR, or an
    earlier call) is left alone.
    """
    global _configured
    import jax

    with _lock:
        if bool(jax.config.jax_enable_x64) != x64:
            jax.config.update("jax_enable_x64", x64)
        _persistent_compilation_cache(jax, cache)
        precision = matmul_precision or os.environ.get("ILFLOW_MATMUL_PRECISION", "highest")
        if jax.config.jax_default_matmul_precision != precision:
            jax.config.update("jax_default_matmul_precision", None if precision == "default" else precision)
        _configured = True


def ensure_configured() -> None:
    """`configure_jax()` with the defaults, unless it ran already (by a command, the user, or an earlier
    entry point). Library entry points whose numerics need float64 call this first; it is cheap."""
    if not _configured:
        configure_jax()


def _persistent_compilation_cache(jax, cache: str | None) -> None:
    path = cache if cache is not None else os.environ.get("ILFLOW_JAX_CACHE",
                                                          str(Path.home() / ".cache" / "ilflow" / "jax"))
    if path.strip().lower() in ("", "0", "off", "none") or jax.config.jax_compilation_cache_dir:
        return  # switched off, or a folder the user set for JAX (left alone)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)  # only programs worth keeping
    jax.config.update("jax_compilation_cache_max_size", 2 * 1024**3)  # 2 GB, least recently used evicted
