"""AIM's guidance pass made cheaper (issue 15, part 6) gives the results of the code before it.

The reference figures below were produced by the trainer *before* the change (gathered batches,
the Gram matrix in blocks), on one thread: per step the primary batch's mean loss, the guidance
term, the policy loss and the sum of the encoder weights `w`, then τ and the encoder's norm after
the steps. The new code must give them to float tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch_geometric.data import Batch

from aimstudy.data import prepare
from aimstudy.train import TrialConfig
from aimstudy.train._loaders import collate, epoch_batches
from aimstudy.train._trial import _Trial

N_STEPS = 4
CASES: dict[str, dict[str, Any]] = {
    "gin-align": {"model": "gin", "model_options": {"hidden": 16, "layers": 2}},
    "gin-lookahead": {
        "model": "gin",
        "model_options": {"hidden": 16, "layers": 2},
        "method_options": {"guide_mode": "lookahead"},
    },
    "mpnn-align": {
        "model": "mpnn",
        "model_options": {"hidden": 8, "edge_hidden": 8, "rounds": 2, "set2set_steps": 2},
        "featurizer": "3d",
    },
}

# generated with `_trajectory` on the code before the change (see the module docstring)
REFERENCE: dict[str, dict[str, list[float]]] = {
    "gin-align": {
        "loss": [6.002016, 5.644089, 4.925636, 4.262989],
        "loss_guide": [-21448.32, -20666.98, -18085, -13912.41],
        "loss_policy": [-22835.6, -22625.11, -19863.33, -14949.53],
        "weights_sum": [35.94906, 25.84027, 40.05067, 38.80787],
        "tau": [-0.1102827, 0.3420161, 0.001830943, -0.00321309],
        "shared_norm": [8.780419],
    },
    "gin-lookahead": {
        "loss": [6.002016, 5.644089, 4.925636, 4.262989],
        "loss_guide": [-21408.87, -20616.69, -18032.21, -13888.91],
        "loss_policy": [-22796.15, -22574.81, -19810.54, -14926.03],
        "weights_sum": [35.94906, 25.84027, 40.05067, 38.80786],
        "tau": [-0.1102867, 0.3420421, 0.001832468, -0.003212667],
        "shared_norm": [8.780419],
    },
    "mpnn-align": {
        "loss": [1.144627, 1.196787, 0.4925749, 1.191058],
        "loss_guide": [-0.1167716, -0.1210763, 0.08134708, 0.1041835],
        "loss_policy": [-0.1193266, -0.0673619, 0.1017829, 0.08246864],
        "weights_sum": [30.88957, 48.85312, 51.12795, 33.84135],
        "tau": [-0.04411973, 0.2214868, 0.003985134, 0.0009144503],
        "shared_norm": [9.388347],
    },
}


class _Steps:
    """Stands in for EpochDiagnostics: keeps each step's diagnostics."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, diag: dict[str, Any]) -> None:
        self.rows.append(diag)


def _trajectory(case: str, tiny_qm9: Any, tmp_path: Path) -> dict[str, list[float]]:
    opts = dict(CASES[case])
    data = tiny_qm9(featurizer=opts.pop("featurizer", "2d"))
    cfg = TrialConfig(
        dataset=data,
        method="aim-matrix",
        n_train=48,
        guidance_fraction=0.25,
        batch_size=8,
        epochs=1,
        seed=3,
        threads=1,
        **opts,
    )
    torch.set_num_threads(1)
    trial = _Trial(cfg, tmp_path, [])
    trial.state.model.train()
    steps, losses = _Steps(), []
    batches = epoch_batches(trial.train_set, cfg.batch_size, cfg.seed, 1)
    for step in range(1, N_STEPS + 1):
        losses.append(trial._step(next(batches), 1, step, cfg.lr, steps))  # type: ignore[arg-type]
    shared = trial.state.model.shared_parameters()
    tau = trial.state.method.policy.matrix(11).detach()
    return {
        "loss": losses,
        "loss_guide": [float(r["loss_guide"]) for r in steps.rows],
        "loss_policy": [float(r["loss_policy"]) for r in steps.rows],
        "weights_sum": [float(r["weights"].sum()) for r in steps.rows],
        "tau": [float(tau.sum()), float(tau.abs().sum()), float(tau[0, 1]), float(tau[5, 2])],
        "shared_norm": [float(torch.sqrt(sum(p.detach().square().sum() for p in shared)))],
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_guidance_pass_gives_the_results_of_the_code_before(
    case: str, tiny_qm9: Any, tmp_path: Path
) -> None:
    got = _trajectory(case, tiny_qm9, tmp_path)
    want = REFERENCE[case]
    assert set(got) == set(want)
    for key, values in want.items():
        assert got[key] == pytest.approx(values, rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("featurizer", ["2d", "3d"])
def test_gathered_batch_equals_pyg_collate(featurizer: str, tiny_qm9: Any) -> None:
    """`collate` on stored graphs gathers them in one go; PyG's `from_data_list` is the oracle."""
    prepared = prepare(tiny_qm9(featurizer=featurizer), n_train=48, guidance_fraction=0.25)
    for dataset in (prepared.train, prepared.guide, prepared.val):
        for indices in ([0], [3, 1, 2], list(range(len(dataset)))[::-2]):
            fast = collate(dataset, indices)
            slow = Batch.from_data_list([dataset[i] for i in indices])
            _assert_same_batch(fast, slow)


def _assert_same_batch(fast: Batch, slow: Batch) -> None:
    assert type(fast).__name__ == type(slow).__name__
    assert sorted(fast.keys()) == sorted(slow.keys())
    for key in sorted(slow.keys()):
        a, b = fast[key], slow[key]
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), key
    assert fast.num_graphs == slow.num_graphs
    for attr in ("_slice_dict", "_inc_dict"):
        fd, sd = getattr(fast, attr), getattr(slow, attr)
        assert sorted(fd) == sorted(sd), attr
        for key in sd:
            assert torch.equal(fd[key], sd[key]), (attr, key)
    restored = fast.to_data_list()
    for a, b in zip(restored, slow.to_data_list(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in sorted(b.keys()))
