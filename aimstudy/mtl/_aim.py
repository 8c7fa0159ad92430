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
from ._objective import (
    GUIDE_REDUCES,
    difficulty_weights,
    guide_align_term,
    magnitude_term,
    progress_term,
    reduce_guide,
)
from ._policy import MatrixPolicy, ScalarPolicy, _Policy
from ._registry import register

GUIDE_MODES = ("align", "lookahead", "none")
LOOKAHEAD_STEP = 1e-4  # look-ahead distance / ||θ_s||; chosen in docs/policy-objective.md
_TINY = 1e-12


class AIM(MTLMethod):
    """AIM with a scalar or matrix policy; every [choice] of aim-method.md is an option.

    Gate: ``k`` temperature, ``tau_init`` initial τ, ``aggregate`` sum|mean, ``conflict_only``
    gate only conflicting pairs. Policy objective, minimised in τ by the policy's Adam
    (``policy_lr``): ``lambda_g·L_guide + lambda_m·(||g_int|| − Σ||g_i||)² −
    lambda_p·Σ α_i g_int·g_i`` (docs/policy-objective.md: each term, its scale, and the measured
    pull of each on τ, all within 10× of one another at the defaults).

    - ``guide_mode``: ``align`` (``L_guide = −g_guide·g_int``), ``lookahead`` (the secant of the
      guidance loss over a step of ``lookahead_step·||θ_s||`` along ``−g_int``, independent of the
      model's learning rate; its pull matches ``align``'s to first order) or ``none``.
    - ``guide_reduce``: ``mean`` (default) takes ``g_guide`` and the lookahead loss on the mean of
      the guidance batch's task losses over its labelled tasks, on the scale of the progress term
      whose α sum to 1; ``sum`` is the behaviour before issue 11 (guidance ~T× the other terms).
    - ``learn_policy=False`` keeps τ at ``tau_init`` for the whole trial: the frozen-τ control.
      No policy step and no guidance batch (``uses_guidance`` is False); the same diagnostics.
    - ``grad_at`` params or representation (then ``guide_mode`` must be ``none``), ``engine`` the
      task-gradient engine.
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
        guide_reduce: str = "mean",
        lookahead_step: float = LOOKAHEAD_STEP,
        learn_policy: bool = True,
        policy_lr: float = 1e-3,
        grad_at: str = "params",
        engine: str = "loop",
    ) -> None:
        super().__init__(n_tasks, grad_at=grad_at, engine=engine)
        lambdas = {"lambda_g": lambda_g, "lambda_m": lambda_m, "lambda_p": lambda_p}
        _check_aim_options(k, aggregate, guide_mode, grad_at, lambdas)
        _check_policy_options(guide_reduce, lookahead_step, learn_policy)
        self.k, self.aggregate, self.conflict_only = float(k), aggregate, bool(conflict_only)
        self.lambda_g, self.lambda_m, self.lambda_p = float(lambda_g), float(lambda_m), lambda_p
        self.guide_mode, self.guide_reduce = guide_mode, guide_reduce
        self.lookahead_step, self.learn_policy = float(lookahead_step), learn_policy
        # a frozen τ needs no guidance gradient: the trial then never draws a guidance batch
        self.uses_guidance = learn_policy and guide_mode != "none" and lambda_g > 0
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
        K_aug = self._gram(inputs, G)  # [T(+1), T(+1)]
        tau = self.policy() if self.learn_policy else self.policy().detach()
        w, W, C = self._weights_at(K_aug, tau)
        self._apply_weights(inputs, w, G)
        assign_grads(inputs.head_params, head_grads)
        terms = self._objective(inputs, present, K_aug, G, w)
        loss = self.policy_loss(terms)
        if self.learn_policy and loss.requires_grad:
            self.policy.step(loss)
        return self._diagnostics(present, tau, W, C, w, terms, loss)

    def policy_terms(self, inputs: StepInputs, tau: Tensor | None = None) -> dict[str, Tensor]:
        """The objective's three terms (unweighted) at ``tau`` (default the current τ).

        Differentiable in ``tau``; sets no ``.grad`` and steps nothing, so a measurement
        (benchmarks/bench_policy_pull.py) can take each term's gradient in τ on its own.
        """
        present = self._check(inputs)
        G, _ = self._task_gradients(inputs, present)
        K_aug = self._gram(inputs, G)
        w, _, _ = self._weights_at(K_aug, self.policy() if tau is None else tau)
        return self._objective(inputs, present, K_aug, G, w)

    def policy_loss(self, terms: dict[str, Tensor]) -> Tensor:
        """``λ_g·loss_guide + λ_m·loss_magnitude − λ_p·loss_progress`` (minimised in τ)."""
        loss = self.lambda_g * terms["loss_guide"] + self.lambda_m * terms["loss_magnitude"]
        return loss - self.lambda_p * terms["loss_progress"]

    def _gram(self, inputs: StepInputs, G: Tensor) -> Tensor:
        """``K = G Gᵀ``, with ``g_guide`` appended as row and column T for ``align``.

        Built in blocks (``G Gᵀ``, ``G g_guide``, ``g_guide·g_guide``), not from ``G`` with
        ``g_guide`` stacked under it: that would copy the whole [T, d] Jacobian once more.
        """
        K = G @ G.T  # [T, T]
        if not (self.uses_guidance and self.guide_mode == "align"):
            return K
        g = self._guide_gradient(inputs)  # [d]
        cross = G @ g  # [T]
        top = torch.cat([K, cross[:, None]], dim=1)  # [T, T+1]
        return torch.cat([top, torch.cat([cross, (g @ g)[None]])[None]])  # [T+1, T+1]

    def _weights_at(self, K_aug: Tensor, tau: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        T = self.n_tasks
        return gram_weights(K_aug[:T, :T], tau, self.k, self.aggregate, self.conflict_only)

    def _guide_gradient(self, inputs: StepInputs) -> Tensor:
        """``g_guide = ∇_{θ_s}`` of the reduced guidance loss (``guide_reduce``), flat [d]."""
        guide = reduce_guide(inputs.guide_losses(None), self.guide_reduce)  # type: ignore[misc]
        grads = torch.autograd.grad(
            guide, list(inputs.shared_params), allow_unused=True, materialize_grads=True
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
        """``(s/r)·(L(θ_s − r·g_int/s) − L(θ_s))``: the secant form of ``align``.

        ``L`` is the reduced guidance loss, ``s = ||g_int||`` and ``r = lookahead_step·||θ_s||``
        (both constants). The look-ahead point lies a fixed fraction of the encoder's norm away
        along ``−g_int``, whatever the gradients' scale, and the quotient's gradient in τ is
        ``−∇L(θ')·∂g_int/∂τ``: ``align``'s with ``g_guide`` taken at the look-ahead point, so the
        two have one scale and ``lookahead_step → 0`` gives ``align`` (docs/policy-objective.md).
        """
        g_int = w @ G  # [d], differentiable in τ only (G is constant)
        params = list(inputs.shared_params)
        theta_norm = torch.sqrt(sum(p.detach().square().sum() for p in params))  # type: ignore[arg-type]
        scale = self.lookahead_step * theta_norm / g_int.detach().norm().clamp_min(_TINY)
        override: dict[str, Tensor] = {}
        offset = 0
        for name, p in zip(inputs.shared_param_names, params, strict=True):  # type: ignore[arg-type]
            n = p.numel()
            override[name] = p.detach() - scale * g_int[offset : offset + n].view_as(p)
            offset += n
        guide_losses = inputs.guide_losses
        after = reduce_guide(guide_losses(override), self.guide_reduce)  # type: ignore[misc]
        with torch.no_grad():
            before = reduce_guide(guide_losses(None), self.guide_reduce)  # type: ignore[misc]
        return (after - before) / scale.clamp_min(_TINY)

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
    k: float, aggregate: str, guide_mode: str, grad_at: str, lambdas: dict[str, float]
) -> None:
    """One-line ValueErrors for bad AIM options, before anything is built."""
    if not k > 0:
        raise ValueError(f"k (gate temperature) must be > 0; got {k!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {list(AGGREGATES)}; got {aggregate!r}")
    if guide_mode not in GUIDE_MODES:
        raise ValueError(f"guide_mode must be one of {list(GUIDE_MODES)}; got {guide_mode!r}")
    for name, value in lambdas.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0; got {value!r}")
    if grad_at == "representation" and guide_mode != "none" and lambdas["lambda_g"] > 0:
        raise ValueError(
            "grad_at='representation' needs guide_mode='none' (a guidance batch has its own "
            "representation, so its gradient there cannot be compared)"
        )


def _check_policy_options(guide_reduce: str, lookahead_step: float, learn_policy: bool) -> None:
    """One-line ValueErrors for the options of issue 11 (reduction, lookahead step, frozen τ)."""
    if guide_reduce not in GUIDE_REDUCES:
        raise ValueError(f"guide_reduce must be one of {list(GUIDE_REDUCES)}; got {guide_reduce!r}")
    number = isinstance(lookahead_step, int | float) and not isinstance(lookahead_step, bool)
    if not (number and lookahead_step > 0):
        raise ValueError(f"lookahead_step must be a number > 0; got {lookahead_step!r}")
    if not isinstance(learn_policy, bool):
        raise ValueError(f"learn_policy must be true or false; got {learn_policy!r}")


@register("aim-scalar")
class AIMScalar(AIM):
    """AIM-Scalar: one learned threshold for every pair."""

    policy_cls: ClassVar[type[_Policy]] = ScalarPolicy


@register("aim-matrix")
class AIMMatrix(AIM):
    """AIM-Matrix: a learned [N, N] threshold matrix (ordered pairs)."""

    policy_cls: ClassVar[type[_Policy]] = MatrixPolicy
