"""QM9 table: units, atomization energies, task sets (read from qm9pack, no featurization)."""

from __future__ import annotations

import numpy as np
import pytest

from aimstudy.data import DataConfig, load_dataset
from aimstudy.data._qm9 import ATOMREF_HARTREE, N_MOLECULES, resolve_tasks

HA = 27.211386246


@pytest.fixture(scope="module")
def qm9_table():
    return load_dataset(DataConfig(name="qm9", tasks="qm9_12"), geometry=False)


def test_all_molecules_and_twelve_tasks(qm9_table) -> None:
    assert len(qm9_table) == N_MOLECULES == 130_831
    assert [t.name for t in qm9_table.tasks] == [
        "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U", "H", "G", "cv",
    ]  # fmt: skip
    assert not np.isnan(qm9_table.targets).any()


def test_methane_values_hand_computed(qm9_table) -> None:
    """Row 0 is CH4; raw values from qm9pack's CSV, converted by hand."""
    assert qm9_table.smiles[0] == "C"
    row = dict(zip([t.name for t in qm9_table.tasks], qm9_table.targets[0], strict=True))
    assert row["mu"] == pytest.approx(0.0)
    assert row["alpha"] == pytest.approx(13.21)
    assert row["homo"] == pytest.approx(-0.3877 * HA)  # -10.5498 eV
    assert row["lumo"] == pytest.approx(0.1171 * HA)
    assert row["gap"] == pytest.approx(0.5048 * HA)
    assert row["r2"] == pytest.approx(35.3641)
    assert row["zpve"] == pytest.approx(0.044749 * HA)
    # atomization: total - (4 H + 1 C) atom references, in eV
    assert row["U0"] == pytest.approx((-40.47893 - (4 * -0.500273 - 37.846772)) * HA)
    assert row["U0"] == pytest.approx(-17.1722, abs=1e-3)  # PyG QM9 target 12 for methane
    assert row["U"] == pytest.approx((-40.476062 - (4 * -0.498857 - 37.845355)) * HA)
    assert row["H"] == pytest.approx((-40.475117 - (4 * -0.497912 - 37.844411)) * HA)
    assert row["G"] == pytest.approx((-40.498597 - (4 * -0.510927 - 37.861317)) * HA)
    assert row["cv"] == pytest.approx(6.469)


def test_units_and_report_factors() -> None:
    tasks = {t.name: t for t in resolve_tasks("nashmtl11")}
    assert list(tasks) == ["mu", "alpha", "homo", "lumo", "r2", "zpve", "U0", "U", "H", "G", "cv"]
    for name in ("homo", "lumo", "zpve", "U0", "U", "H", "G"):
        assert (tasks[name].unit, tasks[name].report_unit) == ("eV", "meV")
        assert tasks[name].report_factor == 1000.0
    assert (tasks["mu"].unit, tasks["alpha"].unit, tasks["r2"].unit) == ("D", "a0^3", "a0^2")
    assert tasks["cv"].unit == "cal/mol/K" and tasks["cv"].report_factor == 1.0


def test_atomrefs_match_pyg_in_ev() -> None:
    """The Hartree references equal PyG's eV atomrefs (targets 7-10) divided by HAR2EV."""
    pyg_h_u0 = -13.61312172  # PyG atomrefs[7][0], hydrogen U0 in eV
    assert ATOMREF_HARTREE["InternalEnergy_0K_au"][0] * HA == pytest.approx(pyg_h_u0, abs=1e-5)
    pyg_c_g = -1030.25891228  # PyG atomrefs[10][1], carbon G in eV
    assert ATOMREF_HARTREE["GibbsFreeEnergy_298K_au"][1] * HA == pytest.approx(pyg_c_g, abs=1e-4)


def test_list_of_columns_and_raw_column() -> None:
    tasks = resolve_tasks(["gap", "RotA_GHz"])
    assert [(t.name, t.unit) for t in tasks] == [("gap", "eV"), ("RotA_GHz", "GHz")]


def test_unknown_task_and_task_set() -> None:
    with pytest.raises(ValueError, match="unknown task 'foo'"):
        resolve_tasks(["mu", "foo"])
    with pytest.raises(ValueError, match="unknown task set 'nash'"):
        resolve_tasks("nash")
