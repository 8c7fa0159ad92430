"""AIM: the intervention's limits, its Gram form, the policy objective and its training step."""

from __future__ import annotations

import pytest
import torch

from aimstudy.mtl import (
    StepInputs,
    difficulty_weights,
    get,
    gram_weights,
    intervene,
    magnitude_term,
    progress_term,
    reduce_guide,
)
from aimstudy.testing import ToyProblem, run_steps

torch.set_default_dtype(torch.float32)


def _sample_G(n: int = 4, d: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))  # [N, d]


def _hard_projection(G: torch.Tensor) -> torch.Tensor:
    """Simultaneous PCGrad by hand: remove from each g_i its component on every conflicting g_j."""
    out = torch.zeros(G.shape[1])
    for i in range(G.shape[0]):
        g = G[i].clone()
        for j in range(G.shape[0]):
            if j != i and G[i] @ G[j] < 0:
                g -= (G[i] @ G[j]) / (G[j] @ G[j]) * G[j]
        out += g
    return out


def test_tau_to_minus_infinity_gives_the_plain_sum() -> None:
    G = _sample_G()
    g_int, W = intervene(G, torch.tensor(-1e4))
    torch.testing.assert_close(g_int, G.sum(dim=0))
    assert float(W.abs().max()) == 0.0


def test_tau_zero_large_k_is_the_hard_simultaneous_projection() -> None:
    G = _sample_G(5, 9, seed=3)
    g_int, W = intervene(G, torch.tensor(0.0), k=1e6)
    torch.testing.assert_close(g_int, _hard_projection(G), rtol=1e-4, atol=1e-5)
    cos = torch.nn.functional.cosine_similarity(G[:, None], G[None, :], dim=-1)
    off = ~torch.eye(5, dtype=torch.bool)
    torch.testing.assert_close(W, ((cos < 0) & off).float())


def test_fixed_2x3_matrix_by_hand() -> None:
    G = torch.tensor([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
    g_int, _ = intervene(G, torch.tensor(0.0), k=1e6)
    # g1·g2 = -22: g1' = g1 + 22/38 g2, g2' = g2 + 22/18 g1
    expected = G[0] + 22 / 38 * G[1] + G[1] + 22 / 18 * G[0]
    torch.testing.assert_close(g_int, expected)


@pytest.mark.parametrize("aggregate", ["sum", "mean"])
@pytest.mark.parametrize("conflict_only", [False, True])
@pytest.mark.parametrize("matrix", [False, True])
def test_gram_form_equals_the_jacobian_reference(
    aggregate: str, conflict_only: bool, matrix: bool
) -> None:
    for seed in range(5):
        G = _sample_G(5, 30, seed) * torch.tensor([1.0, 0.0, 3.0, 1e-3, 1.0])[:, None]
        gen = torch.Generator().manual_seed(100 + seed)
        tau = torch.randn(5, 5, generator=gen) * 0.5 if matrix else torch.tensor(0.2)
        g_ref, W_ref = intervene(G, tau, 10.0, aggregate, conflict_only)
        w, W, _ = gram_weights(G @ G.T, tau, 10.0, aggregate, conflict_only)
        torch.testing.assert_close(w @ G, g_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(W, W_ref)


def test_zero_rows_take_part_in_no_pair() -> None:
    G = _sample_G(4, 6)
    G[2] = 0.0
    tau = torch.randn(4, 4)
    g_int, W = intervene(G, tau)
    assert float(W[2].abs().sum() + W[:, 2].abs().sum()) == 0.0
    keep = [0, 1, 3]
    g_sub, _ = intervene(G[keep], tau[keep][:, keep])
    torch.testing.assert_close(g_int, g_sub)


def test_sum_versus_mean_over_present_tasks() -> None:
    G = _sample_G(4, 6)
    G[1] = 0.0
    tau = torch.tensor(0.1)
    g_sum, _ = intervene(G, tau, aggregate="sum")
    g_mean, _ = intervene(G, tau, aggregate="mean")
    torch.testing.assert_close(g_mean, g_sum / 3)


def test_conflict_only_never_removes_aligned_components() -> None:
    G = _sample_G(5, 8, seed=1)
    C = torch.nn.functional.cosine_similarity(G[:, None], G[None, :], dim=-1)
    _, W = intervene(G, torch.tensor(5.0), conflict_only=True)
    assert float(W[C >= 0].abs().max()) == 0.0
    assert float(W[C < 0].min()) > 0.99
    # with every conflicting gate open, conflict_only is the hard projection at any tau >= 1
    g_int, _ = intervene(G, torch.tensor(1e3), conflict_only=True)
    torch.testing.assert_close(g_int, _hard_projection(G), rtol=1e-4, atol=1e-5)


def test_tiny_and_zero_norms_are_safe() -> None:
    G = _sample_G(3, 5)
    G[0] = 1e-30
    G[1] = 0.0
    g_int, W = intervene(G, torch.tensor(0.0))
    w, _, C = gram_weights(G @ G.T, torch.tensor(0.0))
    assert torch.isfinite(g_int).all() and torch.isfinite(W).all()
    assert torch.isfinite(w).all() and torch.isfinite(C).all()


def test_gradient_in_tau_matches_finite_differences() -> None:
    G = _sample_G(4, 10).double()
    K = G @ G.T
    losses = torch.rand(4, dtype=torch.float64) + 0.1
    alpha = difficulty_weights(losses, torch.ones(4, dtype=torch.bool))

    def objective(tau: torch.Tensor) -> torch.Tensor:
        w, _, _ = gram_weights(K, tau, k=3.0)
        return 0.01 * magnitude_term(K, w) - 0.08 * progress_term(K, w, alpha)

    tau = (torch.randn(4, 4, dtype=torch.float64) * 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(objective, (tau,))
    assert torch.autograd.gradcheck(lambda t: intervene(G, t, k=3.0)[0], (tau,))


def test_objective_terms_on_the_gram_matrix_match_the_jacobian() -> None:
    G, g_guide = _sample_G(4, 12), _sample_G(1, 12, seed=9)[0]
    losses = torch.tensor([0.5, 1.0, 2.0, 0.5])
    tau = torch.randn(4, 4) * 0.3
    g_int, _ = intervene(G, tau)
    A = torch.cat([G, g_guide[None]])
    K_aug = A @ A.T
    w, _, _ = gram_weights(K_aug[:4, :4], tau)
    alpha = losses / losses.sum()
    mag = (g_int.norm() - G.norm(dim=1).sum()) ** 2
    torch.testing.assert_close(magnitude_term(K_aug[:4, :4], w), mag)
    torch.testing.assert_close(progress_term(K_aug[:4, :4], w, alpha), (alpha * (G @ g_int)).sum())
    torch.testing.assert_close(-(w * K_aug[4, :4]).sum(), -(g_guide @ g_int))


def test_tau_shape_is_checked() -> None:
    G = _sample_G(3, 5)
    with pytest.raises(ValueError, match=r"expected a 0-d tensor .* or \[3, 3\]"):
        intervene(G, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="tau has shape"):
        intervene(G, torch.zeros(3))


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown MTL method 'aim'"):
        get("aim", 3)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lambda_x'\]"):
        get("aim-matrix", 3, lambda_x=1.0)
    with pytest.raises(ValueError, match="guide_mode must be one of"):
        get("aim-matrix", 3, guide_mode="ahead")
    with pytest.raises(
        ValueError, match=r"guide_reduce must be one of \['mean', 'sum'\]; got 'max'"
    ):
        get("aim-matrix", 3, guide_reduce="max")
    for bad in (0.0, -1.0, "big", True):
        with pytest.raises(ValueError, match="lookahead_step must be a number > 0"):
            get("aim-scalar", 3, lookahead_step=bad)
    with pytest.raises(ValueError, match="learn_policy must be true or false; got 'no'"):
        get("aim-scalar", 3, learn_policy="no")
    with pytest.raises(ValueError, match="grad_at='representation' needs guide_mode='none'"):
        get("aim-scalar", 3, grad_at="representation")
    problem = ToyProblem(3)
    inputs = problem.inputs()
    inputs.guide_losses = None
    with pytest.raises(ValueError, match="needs StepInputs.guide_losses"):
        get("aim-matrix", 3).backward(inputs)


def _jacobian(problem: ToyProblem) -> torch.Tensor:
    losses = problem.losses()
    rows = []
    for t in range(problem.n_tasks):
        grads = torch.autograd.grad(losses[t], problem.shared_params(), retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)  # [T, d]


@pytest.mark.parametrize("guide_mode", ["align", "lookahead", "none"])
def test_no_gradient_reaches_the_network_through_the_policy(guide_mode: str) -> None:
    problem = ToyProblem(3)
    method = get("aim-matrix", 3, guide_mode=guide_mode, policy_lr=0.1)
    tau_before = method.policy.tau.detach().clone()
    diag = method.backward(problem.inputs())
    G = _jacobian(problem)
    w, _, _ = gram_weights(G @ G.T, tau_before)
    torch.testing.assert_close(problem.shared_grad(), w @ G)  # τ before its own step
    torch.testing.assert_close(diag["weights"], w)
    assert not torch.equal(method.policy.tau.detach(), tau_before)  # the policy did step
    for p in problem.shared_params():
        assert not p.requires_grad or p.grad is not None


@pytest.mark.parametrize("guide_reduce", ["mean", "sum"])
def test_policy_step_follows_the_objective_gradient(guide_reduce: str) -> None:
    problem = ToyProblem(3)
    method = get("aim-matrix", 3, guide_mode="align", policy_lr=0.01, guide_reduce=guide_reduce)
    inputs = problem.inputs()
    G = _jacobian(problem)
    guide_losses = problem.guide_losses(None)  # [3], every task labelled
    guide = guide_losses.mean() if guide_reduce == "mean" else guide_losses.sum()
    grads = torch.autograd.grad(guide, problem.shared_params())
    g_guide = torch.cat([g.reshape(-1) for g in grads])
    tau = torch.zeros(3, 3, requires_grad=True)
    g_int, _ = intervene(G, tau)
    alpha = (inputs.losses / inputs.losses.sum()).detach()
    mag = (g_int.norm() - G.norm(dim=1).sum()) ** 2
    loss = -(g_guide @ g_int) + 0.01 * mag - 0.08 * (alpha * (G @ g_int)).sum()
    (grad,) = torch.autograd.grad(loss, tau)
    diag = method.backward(inputs)
    # Adam's first step moves every coordinate by lr against the sign of its gradient
    expected = -0.01 * torch.sign(grad)
    torch.testing.assert_close(method.policy.tau.detach(), expected, rtol=1e-3, atol=1e-6)
    torch.testing.assert_close(
        torch.tensor(diag["loss_policy"]), loss.detach(), rtol=1e-4, atol=1e-6
    )


def _lookahead_value(problem: ToyProblem, g_int: torch.Tensor, step: float) -> float:
    """``(s/r)(L(θ − r·g_int/s) − L(θ))`` by hand, L the mean guidance loss."""
    w_, b_ = problem.encoder.weight, problem.encoder.bias
    n = w_.numel()
    r = step * float(torch.cat([w_.reshape(-1), b_]).detach().norm())
    s = float(g_int.norm())
    ahead = {
        "weight": w_ - r / s * g_int[:n].view_as(w_),
        "bias": b_ - r / s * g_int[n:].view_as(b_),
    }
    after, before = problem.guide_losses(ahead).mean(), problem.guide_losses(None).mean()
    return float((after - before).detach()) * s / r


@pytest.mark.parametrize("lr", [1e-3, 0.5])
def test_lookahead_term_is_the_secant_of_the_guidance_loss(lr: float) -> None:
    """Its own step (a fraction of ||θ_s||), whatever the model's learning rate."""
    problem = ToyProblem(3)
    method = get(
        "aim-scalar", 3, guide_mode="lookahead", lookahead_step=0.05, lambda_m=0.0, lambda_p=0.0
    )
    diag = method.backward(problem.inputs(lr=lr))
    expected = _lookahead_value(problem, problem.shared_grad(), 0.05)
    assert diag["loss_guide"] == pytest.approx(expected, rel=1e-4)
    assert diag["loss_policy"] == pytest.approx(expected, rel=1e-4)


def _guide_grad_in_tau(mode: str, **opts: object) -> torch.Tensor:
    problem = ToyProblem(3)
    method = get("aim-matrix", 3, guide_mode=mode, **opts)  # type: ignore[arg-type]
    tau = torch.full((3, 3), 0.1, requires_grad=True)
    terms = method.policy_terms(problem.inputs(), tau)
    return torch.autograd.grad(terms["loss_guide"], tau)[0]


def test_lookahead_pulls_like_align_for_a_short_step() -> None:
    """First order: the secant's gradient in τ is align's, on the same scale."""
    align = _guide_grad_in_tau("align")
    short = _guide_grad_in_tau("lookahead", lookahead_step=1e-5)
    torch.testing.assert_close(short, align, rtol=1e-3, atol=1e-4)
    long = _guide_grad_in_tau("lookahead", lookahead_step=0.3)
    assert not torch.allclose(long, align, rtol=1e-2, atol=1e-3)  # beyond first order it differs


def test_guide_reduce_mean_is_the_sum_over_labelled_tasks() -> None:
    losses = torch.tensor([1.0, 0.0, 2.0, 3.0])  # task 1 has no label in the guidance batch
    assert float(reduce_guide(losses, "sum")) == 6.0
    assert float(reduce_guide(losses, "mean")) == 2.0
    assert float(reduce_guide(torch.zeros(3), "mean")) == 0.0
    mean = _guide_grad_in_tau("align", guide_reduce="mean")
    total = _guide_grad_in_tau("align", guide_reduce="sum")
    torch.testing.assert_close(total, 3 * mean)  # dense toy labels: the mean is the sum / 3


def test_frozen_policy_keeps_tau_and_still_reports() -> None:
    problem = ToyProblem(3)
    frozen = get("aim-matrix", 3, tau_init=0.2, learn_policy=False, policy_lr=0.5)
    assert frozen.uses_guidance is False
    for diag in run_steps(frozen, problem, 5):
        torch.testing.assert_close(diag["tau"], torch.full((3, 3), 0.2), rtol=0, atol=0)
        assert diag["gate"].shape == (3, 3) and diag["cosine"].shape == (3, 3)
        assert diag["mean_gate"] > 0
    assert frozen.policy.optimizer.state_dict()["state"] == {}  # never stepped
    learned = get("aim-matrix", 3, tau_init=0.2, policy_lr=0.5)
    taus = [d["tau"] for d in run_steps(learned, ToyProblem(3), 5)]
    assert not torch.equal(taus[-1], torch.full((3, 3), 0.2))


def test_frozen_scalar_policy_keeps_tau() -> None:
    method = get("aim-scalar", 3, tau_init=-0.1, learn_policy=False, policy_lr=0.5)
    for diag in run_steps(method, ToyProblem(3), 3):
        assert diag["mean_tau"] == pytest.approx(-0.1, abs=1e-7)
    assert float(method.policy.tau.detach()) == pytest.approx(-0.1, abs=1e-7)


def test_diagnostics_of_one_step() -> None:
    problem = ToyProblem(3)
    diag = get("aim-scalar", 3, tau_init=0.3).backward(problem.inputs())
    for key in ("tau", "gate", "cosine"):
        assert diag[key].shape == (3, 3)
    assert float(diag["gate"].diagonal().abs().sum()) == 0.0
    assert diag["mean_tau"] == pytest.approx(0.3, abs=2e-3)
    for key in ("loss_guide", "loss_magnitude", "loss_progress", "loss_policy", "mean_gate"):
        assert isinstance(diag[key], float)
    assert 0.0 <= diag["conflict_rate"] <= 1.0


def test_training_with_aim_lowers_the_losses() -> None:
    problem = ToyProblem(3)
    method = get("aim-matrix", 3, policy_lr=0.05)
    start = float(problem.losses().sum().detach())
    for _ in range(30):
        method.backward(problem.inputs())
        problem.sgd_step(0.05)
    assert float(problem.losses().sum().detach()) < 0.8 * start
    assert float(method.policy.tau.detach().abs().sum()) > 0


def test_step_inputs_row_count_must_match_n_tasks() -> None:
    problem = ToyProblem(3)
    inputs = problem.inputs()
    with pytest.raises(ValueError, match=r"expected \[4\] \(one loss per task, n_tasks=4\)"):
        get("aim-matrix", 4).backward(inputs)
    with pytest.raises(ValueError, match="present has shape"):
        get("aim-matrix", 3).backward(
            StepInputs(inputs.losses, torch.ones(2, dtype=torch.bool), inputs.shared_params)
        )
