"""Labelers: a list of Atoms in, the same list out, each labelled or an explicit failure record."""

from ilflow.config.reference import AseReference, Cp2kReference, XtbReference
from ilflow.reference.base import LabelError, Labeler, LabelFailure, check_geometry, settings_hash


def make_labeler(config) -> Labeler:
    """The labeler for a campaign's `reference` section."""
    if isinstance(config, XtbReference):
        from ilflow.reference.xtb import XtbLabeler

        return XtbLabeler(config)
    if isinstance(config, Cp2kReference):
        from ilflow.reference.cp2k import Cp2kLabeler

        return Cp2kLabeler(config)
    if isinstance(config, AseReference):
        from ilflow.reference.ase_calc import AseLabeler

        return AseLabeler(config)
    raise TypeError(f"no labeler for {type(config).__name__}")


__all__ = ["LabelError", "LabelFailure", "Labeler", "check_geometry", "make_labeler", "settings_hash"]
