"""ilflow: from a liquid given as SMILES to a learned potential, long MD and observables."""

from importlib.metadata import PackageNotFoundError, version

from ilflow.errors import IlflowError

try:
    __version__ = version("ilflow")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["IlflowError", "__version__"]
