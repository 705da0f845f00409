"""Unit conversions: the only place with conversion factors.

Internal units are eV, Å, amu, fs; configuration keys carry their unit in the name.
"""

AVOGADRO = 6.02214076e23  # 1/mol (exact, SI 2019)
ANGSTROM3_IN_CM3 = 1e-24  # 1 Å^3 in cm^3
AMU_IN_G = 1.0 / AVOGADRO  # 1 amu in g (1 g/mol per molecule)


def density_g_cm3(mass_amu: float, volume_A3: float) -> float:
    """Mass density in g/cm^3 of `mass_amu` (amu) in `volume_A3` (Å^3)."""
    return mass_amu * AMU_IN_G / (volume_A3 * ANGSTROM3_IN_CM3)


def volume_A3_for_density(mass_amu: float, density_g_cm3: float) -> float:
    """Volume in Å^3 that holds `mass_amu` (amu) at `density_g_cm3` (g/cm^3)."""
    return mass_amu * AMU_IN_G / (density_g_cm3 * ANGSTROM3_IN_CM3)

# Atomic units and pressures, with ASE's CODATA values so that every part of ilflow agrees with ASE.
from ase import units as _ase_units  # noqa: E402

HARTREE_EV = float(_ase_units.Hartree)  # 1 Hartree in eV
BOHR_A = float(_ase_units.Bohr)  # 1 bohr in Å
HARTREE_PER_BOHR_EV_A = HARTREE_EV / BOHR_A  # 1 Hartree/bohr in eV/Å
GPA_EV_A3 = float(_ase_units.GPa)  # 1 GPa in eV/Å^3
FS = float(_ase_units.fs)  # 1 fs in ASE's time unit, Å sqrt(amu / eV) (the MD engine's internal time unit)
KB_EV_K = float(_ase_units.kB)  # Boltzmann constant, eV/K
# SI, for transport coefficients (CODATA 2018 exact values)
BOLTZMANN_J_K = 1.380649e-23  # k_B, J/K
ELEMENTARY_CHARGE_C = 1.602176634e-19  # e, C
EV_A3_IN_PA = ELEMENTARY_CHARGE_C / 1e-30  # 1 eV/Å^3 in Pa (160.2 GPa)
GAS_CONSTANT_KJ_MOL_K = BOLTZMANN_J_K * AVOGADRO * 1e-3  # R, kJ/(mol K)
ANGSTROM_M = 1e-10  # 1 Å in m
A2_PS_IN_M2_S = 1e-8  # 1 Å^2/ps = 1e-20 m^2 / 1e-12 s
MPA_S_IN_PA_S = 1e-3  # 1 mPa s (= 1 cP) in Pa s
KJ_MOL_EV = float(_ase_units.kJ / _ase_units.mol)  # 1 kJ/mol in eV (OpenMM's energy unit)
BAR_EV_A3 = float(_ase_units.bar)  # 1 bar in eV/Å^3
