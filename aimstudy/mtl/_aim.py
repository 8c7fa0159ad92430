"""AIM (Minot & Schneider 2025): a learned pairwise intervention on the task gradients.

Hand-written (torchjd has no AIM). All policy math is on the (N+1)x(N+1) Gram matrix of the task
gradients and the guidance gradient; the encoder gets ``Σ_j w_j g_j`` with ``w`` detached, the
heads their own gradients, and τ one Adam step on the policy objective per ``backward``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import Diagnostics, MTLMethod, StepInputs, conflict_rate, pair_mask
from ._engine import assign_grads
from ._intervene import AGGREGATES, gram_weights
from ._objective import difficulty_weights, guide_align_term, magnitude_term, progress_term
from ._policy import MatrixPolicy, ScalarPolicy, _Policy
from ._registry import register

GUIDE_MODES = ("align", "lookahead", "none")


class AIM(MTLMethod):
    """AIM with a scalar or matrix policy; every [choice] of aim-method.md is an option.

    ``k`` gate temperature, ``tau_init`` initial τ, ``aggregate`` sum|mean, ``conflict_only`` gate
    only conflicting pairs, ``lambda_g/lambda_m/lambda_p`` guidance, magnitude and progress weights,
    ``guide_mode`` align|lookahead|none, ``policy_lr`` the policy's Adam, ``grad_at`` params or
    representation (then ``guide_mode`` must be ``none``), ``engine`` the task-gradient engine.
    """

    needs_jacobian: ClassVar[bool] = True
    policy_cls: ClassVar[type[_Policy]] = MatrixPolicy

    def __init__(
        self,
        n_tasks: int,
        k: float = 10.0,
        tau_init: float = 0.0,
        aggregate: str = "sum",
        conflict_only: bool = False,
        lambda_g: float = 1.0,
        lambda_m: float = 0.01,
        lambda_p: float = 0.08,
        guide_mode: str = "align",
        policy_lr: float = 1e-3,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        _check_aim_options(k, aggregate, guide_mode, grad_at, lambda_g, lambda_m, lambda_p)
        self.k, self.aggregate, self.conflict_only = float(k), aggregate, bool(conflict_only)
        self.lambda_g, self.lambda_m, self.lambda_p = float(lambda_g), float(lambda_m), lambda_p
        self.guide_mode = guide_mode
        self.uses_guidance = guide_mode != "none" and lambda_g > 0
        self.policy = self.policy_cls(n_tasks, tau_init=tau_init, lr=policy_lr)

    def reset(self) -> None:
        self.policy.reset()

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.policy.optimizer}

    def _check(self, inputs: StepInputs) -> torch.Tensor:
        present = super()._check(inputs)
        if self.uses_guidance and inputs.guide_losses is None:
            raise ValueError(
                f"{self.name} with guide_mode={self.guide_mode!r} needs StepInputs.guide_losses; "
                "pass a guidance batch or set guide_mode='none'"
            )
        if self.uses_guidance and self.guide_mode == "lookahead":
            names = inputs.shared_param_names
            if names is None or len(names) != len(inputs.shared_params):
                raise ValueError(
                    f"{self.name} with guide_mode='lookahead' needs StepInputs.shared_param_names, "
                    f"one per shared parameter ({len(inputs.shared_params)})"
                )
        return present

    def _step(self, inputs: StepInputs, present: Tensor) -> Diagnostics:
        G, head_grads = self._task_gradients(inputs, present)  # [T, d]
        rows = G
        if self.uses_guidance and self.guide_mode == "align":
            rows = torch.cat([G, self._guide_gradient(inputs)[None]])  # [T+1, d]
        K_aug = rows @ rows.T  # [T(+1), T(+1)]
        T = self.n_tasks
        K = K_aug[:T, :T]
        tau = self.policy()
        w, W, C = gram_weights(K, tau, self.k, self.aggregate, self.conflict_only)
        self._apply_weights(inputs, w, G)
        assign_grads(inputs.head_params, head_grads)
        terms = self._objective(inputs, present, K_aug, G, w)
        loss = self.lambda_g * terms["loss_guide"] + self.lambda_m * terms["loss_magnitude"]
        loss = loss - self.lambda_p * terms["loss_progress"]
        if loss.requires_grad:
            self.policy.step(loss)
        return self._diagnostics(present, tau, W, C, w, terms, loss)

    def _guide_gradient(self, inputs: StepInputs) -> Tensor:
        """``g_guide = ∇_{θ_s} Σ_i L_i(guidance batch)`` flattened [d], a constant."""
        guide = inputs.guide_losses(None)  # type: ignore[misc]
        grads = torch.autograd.grad(
            guide.sum(), list(inputs.shared_params), allow_unused=True, materialize_grads=True
        )
        return torch.cat([g.reshape(-1) for g in grads]).detach()

    def _objective(
        self, inputs: StepInputs, present: Tensor, K_aug: Tensor, G: Tensor, w: Tensor
    ) -> dict[str, Tensor]:
        """The three terms of the policy loss, each differentiable in τ through ``w``."""
        T = self.n_tasks
        K = K_aug[:T, :T]
        alpha = difficulty_weights(inputs.losses, present)
        terms = {
            "loss_magnitude": magnitude_term(K, w),
            "loss_progress": progress_term(K, w, alpha),
            "loss_guide": w.new_zeros(()),
        }
        if self.uses_guidance and self.guide_mode == "align":
            terms["loss_guide"] = guide_align_term(K_aug, w)
        elif self.uses_guidance and self.guide_mode == "lookahead":
            terms["loss_guide"] = self._lookahead(inputs, G, w)
        return terms

    def _lookahead(self, inputs: StepInputs, G: Tensor, w: Tensor) -> Tensor:
        """Guidance loss at ``θ_s − lr · g_int(τ)`` through a functional call (first order)."""
        g_int = w @ G  # [d], differentiable in τ only (G is constant)
        override: dict[str, Tensor] = {}
        offset = 0
        for name, p in zip(inputs.shared_param_names, inputs.shared_params, strict=True):  # type: ignore[arg-type]
            n = p.numel()
            override[name] = p.detach() - inputs.lr * g_int[offset : offset + n].view_as(p)
            offset += n
        return inputs.guide_losses(override).sum()  # type: ignore[misc]

    def _diagnostics(
        self,
        present: Tensor,
        tau: Tensor,
        W: Tensor,
        C: Tensor,
        w: Tensor,
        terms: dict[str, Tensor],
        loss: Tensor,
    ) -> Diagnostics:
        pairs = pair_mask(present)
        n_pairs = max(int(pairs.sum()), 1)
        tau_m = self.policy.matrix(self.n_tasks) if tau.dim() == 0 else tau.detach().clone()
        return {
            "tau": tau_m,
            "gate": W.detach(),
            "cosine": C.detach(),
            "weights": w.detach(),
            "mean_tau": float((tau_m * pairs).sum()) / n_pairs,
            "mean_gate": float((W.detach() * pairs).sum()) / n_pairs,
            "conflict_rate": conflict_rate(C.detach(), present),
            "loss_policy": float(loss.detach()),
            **{name: float(v.detach()) for name, v in terms.items()},
        }


def _check_aim_options(
    k: float,
    aggregate: str,
    guide_mode: str,
    grad_at: str,
    lambda_g: float,
    lambda_m: float,
    lambda_p: float,
) -> None:
    """One-line ValueErrors for bad AIM options, before anything is built."""
    if not k > 0:
        raise ValueError(f"k (gate temperature) must be > 0; got {k!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {list(AGGREGATES)}; got {aggregate!r}")
    if guide_mode not in GUIDE_MODES:
        raise ValueError(f"guide_mode must be one of {list(GUIDE_MODES)}; got {guide_mode!r}")
    for name, value in (("lambda_g", lambda_g), ("lambda_m", lambda_m), ("lambda_p", lambda_p)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0; got {value!r}")
    if grad_at == "representation" and guide_mode != "none" and lambda_g > 0:
        raise ValueError(
            "grad_at='representation' needs guide_mode='none' (a guidance batch has its own "
            "representation, so its gradient there cannot be compared)"
        )


@register("aim-scalar")
class AIMScalar(AIM):
    """AIM-Scalar: one learned threshold for every pair."""

    policy_cls: ClassVar[type[_Policy]] = ScalarPolicy


@register("aim-matrix")
class AIMMatrix(AIM):
    """AIM-Matrix: a learned [N, N] threshold matrix (ordered pairs)."""

    policy_cls: ClassVar[type[_Policy]] = MatrixPolicy
