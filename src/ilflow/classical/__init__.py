"""Initial data: classical MD with the shipped CL&P force field (OpenMM), or a bootstrap for any species."""

from ilflow.classical.bootstrap import bootstrap_frames
from ilflow.classical.forcefield import NoTemplateError, TypedMolecule, clandp, match_template, type_molecule
from ilflow.classical.run import ClassicalSettings, run_classical
from ilflow.classical.sampler import initial_frames
from ilflow.classical.system import build_system, type_box

__all__ = ["ClassicalSettings", "NoTemplateError", "TypedMolecule", "bootstrap_frames", "build_system", "clandp",
           "initial_frames", "match_template", "run_classical", "type_box", "type_molecule"]
