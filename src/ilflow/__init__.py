"""ilflow: from a liquid given as SMILES to a learned potential, long MD and observables.

Importing ilflow changes no JAX setting: `configure_jax()` (64-bit mode, persistent compilation cache) runs
when a command starts, when you call it, or at the first library entry point that needs it.
"""

from importlib.metadata import PackageNotFoundError, version

from ilflow.errors import IlflowError
from ilflow.runtime import configure_jax

try:
    __version__ = version("ilflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["IlflowError", "__version__", "configure_jax"]
