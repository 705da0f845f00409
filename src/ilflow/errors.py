"""User-facing errors. The CLI prints their message without a traceback and exits with status 2."""


class IlflowError(Exception):
    """A failure the user can fix: the message names the offending input and what to do."""

    exit_code = 2


class ConfigError(IlflowError):
    """A campaign file or command-line value is invalid."""


class SpeciesError(IlflowError):
    """A species (SMILES) cannot be turned into a molecule."""


class PackingError(IlflowError):
    """A box cannot be packed (density too high, PACKMOL missing or failing)."""


class ExternalProgramError(IlflowError):
    """An external program (PACKMOL, CP2K, ...) is missing or failed; the message holds its last lines."""
