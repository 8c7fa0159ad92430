"""Oracle tests: where aimstudy wraps a method torchjd also has, the outputs must agree."""

from __future__ import annotations

import pytest
import torch
from torchjd import aggregation as agg
from torchjd import scalarization as sc

from aimstudy.mtl import get
from aimstudy.testing import ToyProblem

pytestmark = pytest.mark.filterwarnings("ignore:You are solving a parameterized problem")

FIXED = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])  # [2, 3], conflicting rows

AGGREGATORS = {
    "pcgrad": lambda n: agg.PCGrad(),
    "cagrad": lambda n: agg.CAGrad(c=0.4),
    "mgda": lambda n: agg.MGDA(),
    "imtlg": lambda n: agg.IMTLG(),
    "alignedmtl": lambda n: agg.AlignedMTL(),
    "upgrad": lambda n: agg.UPGrad(),
    "nashmtl": lambda n: agg.NashMTL(n_tasks=n),
}


def _sampled(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    n = 2 + seed % 4
    return torch.randn(n, 10, generator=gen) * (torch.rand(n, 1, generator=gen) * 3 + 0.1)


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
def test_aggregation_matches_torchjd_on_sampled_matrices(name: str) -> None:
    for seed in range(6):
        G = _sampled(seed)
        torch.manual_seed(seed)
        ours = get(name, G.shape[0]).aggregate(G)
        torch.manual_seed(seed)
        theirs = AGGREGATORS[name](G.shape[0])(G)
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
def test_aggregation_matches_torchjd_on_a_fixed_2x3_matrix(name: str) -> None:
    torch.manual_seed(0)
    ours = get(name, 2).aggregate(FIXED)
    torch.manual_seed(0)
    theirs = AGGREGATORS[name](2)(FIXED)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_upgrad_fixed_matrix_reference_values() -> None:
    """torchjd's documented UPGrad result on the 2x3 matrix, checked by hand there."""
    torch.testing.assert_close(
        get("upgrad", 2).aggregate(FIXED), torch.tensor([0.2929, 1.9004, 1.9004]), atol=1e-4, rtol=0
    )


def test_pcgrad_on_two_tasks_by_hand() -> None:
    g1, g2 = FIXED
    dot = g1 @ g2  # -22 < 0: both are projected
    expected = (g1 - dot / (g2 @ g2) * g2) + (g2 - dot / (g1 @ g1) * g1)
    torch.testing.assert_close(get("pcgrad", 2).aggregate(FIXED), expected)


@pytest.mark.parametrize("name", ["pcgrad", "upgrad", "mgda", "cagrad"])
def test_backward_on_a_model_matches_torchjd_on_its_jacobian(name: str) -> None:
    problem = ToyProblem(3)
    losses = problem.losses()
    rows = [
        torch.cat(
            [
                g.reshape(-1)
                for g in torch.autograd.grad(x, problem.shared_params(), retain_graph=True)
            ]
        )
        for x in losses
    ]
    J = torch.stack(rows)  # [3, d]
    torch.manual_seed(1)
    get(name, 3).backward(problem.inputs())
    torch.manual_seed(1)
    torch.testing.assert_close(problem.shared_grad(), AGGREGATORS[name](3)(J), rtol=1e-4, atol=1e-6)


SCALARIZERS = {
    "ls": lambda n: sc.Sum(),
    "uw": lambda n: sc.UW(n),
    "rlw": lambda n: sc.Random(),
    "dwa": lambda n: sc.DWA(),
    "famo": lambda n: sc.FAMO(n),
}


@pytest.mark.parametrize("name", sorted(SCALARIZERS))
def test_scalarized_methods_match_torchjd(name: str) -> None:
    """Three steps (with an epoch end between) on the same model: same encoder gradient."""
    ours, theirs = ToyProblem(3), ToyProblem(3)
    method, scalarizer = get(name, 3), SCALARIZERS[name](3)
    for step in range(3):
        torch.manual_seed(step)
        method.backward(ours.inputs())
        torch.manual_seed(step)
        theirs.zero_grad()
        losses = theirs.losses()
        torch.autograd.backward(
            scalarizer(losses), inputs=theirs.shared_params(), retain_graph=True
        )
        torch.autograd.backward(losses.sum(), inputs=theirs.head_params())  # heads: own gradient
        torch.testing.assert_close(ours.shared_grad(), theirs.shared_grad(), rtol=1e-5, atol=1e-7)
        if name == "uw":  # UW's log-variances are stepped by the method's own Adam
            scalarizer.log_var.grad = None
            with torch.no_grad():
                scalarizer.log_var.copy_(method.scalarizer.log_var)
        for p in (ours, theirs):
            p.sgd_step()
        if name == "famo":  # both learn from the same batch's losses after the step
            with torch.no_grad():
                method.after_step(ours.losses())
                scalarizer.update(theirs.losses())
        method.on_epoch_end()
        if name == "dwa":
            scalarizer.step()
