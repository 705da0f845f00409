"""Generate src/ilflow/potentials/data/d3_reference.npz from torch-dftd's MIT-licensed parameter file.

  pip download --no-deps torch-dftd==0.5.3 -d /tmp/tdftd && unzip -o /tmp/tdftd/*.whl -d /tmp/tdftd
  python scripts/make_d3_reference.py /tmp/tdftd/torch_dftd/nn/params/dftd3_params.npz

Source: torch-dftd 0.5.3 (Preferred Networks, MIT licence), whose table holds the DFT-D3 reference data of
Grimme et al. (J. Chem. Phys. 132, 154104 (2010)). The C6 and reference-CN values are stored exactly;
the covalent radii, <r4>/<r2> factors and pairwise zero-damping radii were rounded to float32 and converted
with a Bohr radius of 0.52917726 Å, so they are rebuilt here from the published precision (Å with 2 or 4
decimals, <r4>/<r2> with 4 decimals) with the CODATA-2018 Bohr radius that simple-dftd3 uses. The data
agree with simple-dftd3 1.7.0 for H-Rn (Z = 1-86); for Fr-Pu (87-94) simple-dftd3 has newer references.

Output arrays (index = atomic number, 0 unused; atomic units):
  c6ref (95, 95, 5, 5)  reference C6 (Ha bohr^6), 0 for absent references
  cnref (95, 5)         reference coordination numbers, -1 for absent references
  rcov (95,)            covalent radii x 4/3 (bohr)
  r4r2 (95,)            sqrt(0.5 <r4>/<r2> sqrt(Z)), so that C8 = 3 C6 r4r2_i r4r2_j
  rvdw (95, 95)         zero-damping cutoff radii (bohr), used by the three-body term (x 4/3)
"""

import sys
from pathlib import Path

import numpy as np

TORCH_BOHR_A = 0.52917726
BOHR_A = 0.529177210903  # CODATA 2018, as in simple-dftd3


def main(source: str) -> None:
    d = np.load(source)
    z = np.arange(95)
    c6ab = d["c6ab"]
    c6ref = np.where(c6ab[..., 0] > 0, c6ab[..., 0], 0.0)
    cnref = np.full((95, 5), -1.0)
    for element in range(1, 95):
        row = c6ab[element, element, :, 0, 1]  # CN of each reference of `element`
        valid = c6ab[element, element, :, 0, 0] > 0
        cnref[element, valid] = row[valid]
    rcov = 4.0 / 3.0 * np.round(d["rcov"] * TORCH_BOHR_A * 0.75, 2) / BOHR_A
    r4r2 = np.sqrt(0.5 * np.round(d["r2r4"] ** 2 * 2.0 / np.sqrt(np.maximum(z, 1)), 4) * np.sqrt(z))
    rvdw = np.round(d["r0ab"] * TORCH_BOHR_A, 4) / BOHR_A
    out = Path(__file__).resolve().parents[1] / "src" / "ilflow" / "potentials" / "data" / "d3_reference.npz"
    np.savez_compressed(out, c6ref=c6ref, cnref=cnref, rcov=rcov, r4r2=r4r2, rvdw=rvdw)
    print(f"written {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1])
