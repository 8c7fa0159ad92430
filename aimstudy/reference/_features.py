"""Fingerprint features of SMILES: Morgan count fingerprints plus RDKit 2-D descriptors.

The descriptors are named (RDKit's list grows between releases): a fitted model keeps the names
it was trained on and is featurized with exactly those later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors, rdFingerprintGenerator

RADIUS = 2
N_BITS = 2048
# scikit-learn's trees cast X to float32: a descriptor such as Ipc (up to ~1e40 and beyond)
# would become inf there. Trees only compare values, so capping changes no split but ties.
_CAP = 1e30


def descriptor_names() -> list[str]:
    """Every 2-D descriptor of the installed RDKit (`rdkit.Chem.Descriptors.descList`)."""
    return [name for name, _ in Descriptors.descList]


def _descriptor_functions(names: Sequence[str]) -> list[Callable[[Chem.Mol], float]]:
    """RDKit's functions of the named descriptors; ValueError naming those it lacks."""
    known = dict(Descriptors.descList)
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(
            f"RDKit {Chem.rdBase.rdkitVersion} lacks descriptor(s) {missing[:5]} the model was "
            "trained with; predict with the RDKit it was trained with, or retrain it"
        )
    return [known[n] for n in names]


def featurize(smiles: Sequence[str], descriptors: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """[N, N_BITS + D] float32 (Morgan counts radius 2, then the descriptors, NaN/inf -> 0,
    capped at ±1e30) and [N] bool: which SMILES RDKit parsed (the rows of the others are 0)."""
    functions = _descriptor_functions(descriptors)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS, fpSize=N_BITS)
    X = np.zeros((len(smiles), N_BITS + len(functions)), dtype=np.float64)  # [N, F]
    ok = np.zeros(len(smiles), dtype=bool)  # [N]
    RDLogger.DisableLog("rdApp.*")  # invalid SMILES are reported through `ok`, not stderr
    try:
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if text else None
            if mol is None:
                continue
            ok[i] = True
            X[i, :N_BITS] = generator.GetCountFingerprintAsNumPy(mol)
            X[i, N_BITS:] = [_value(fn, mol) for fn in functions]
    finally:
        RDLogger.EnableLog("rdApp.*")
    X = np.clip(np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0), -_CAP, _CAP)
    return X.astype(np.float32), ok


def _value(fn: Callable[[Chem.Mol], float], mol: Chem.Mol) -> float:
    """One descriptor; NaN where RDKit fails on the molecule (a few do on odd valences)."""
    try:
        return float(fn(mol))
    except Exception:  # RDKit raises RuntimeError, ValueError, ZeroDivisionError alike
        return float("nan")
