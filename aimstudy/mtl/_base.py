"""The one interface every multi-task method implements: ``MTLMethod.backward(StepInputs)``.

Every method reduces to per-task weights ``w`` [T]: the shared encoder gets ``Σ_i w_i ∇L_i`` (from a
Jacobian, a Gramian or the losses alone) and each head the ordinary gradient of its own loss. Two
bases cover all methods: ``GramianMethod`` (needs the task gradients) and ``ScalarizedMethod``
(needs only the loss values).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ._engine import ENGINES, assign_flat_grad, assign_grads, task_gradients

GRAD_AT = ("params", "representation")
Diagnostics = dict[str, Any]


@dataclass
class StepInputs:
    """What the trainer hands a method for one step (see docs/architecture.md, "mtl").

    ``losses`` [T] per-task losses on the primary batch (0 for a task without labels), ``present``
    [T] bool (None = all present), ``shared_params`` the encoder, ``head_params`` the heads,
    ``representation`` [B, H] the heads' input (for ``grad_at="representation"``),
    ``guide_losses(params_override) -> [T]`` losses on a guidance batch, ``shared_param_names``
    (keys of ``params_override`` for ``guide_mode="lookahead"``), ``lr`` the model learning rate
    (informational: AIM's lookahead has its own step, ``lookahead_step``),
    ``diagnose`` also compute the gradient-cosine matrix when the method would not.
    """

    losses: Tensor
    present: Tensor | None = None
    shared_params: Sequence[Tensor] = ()
    head_params: Sequence[Tensor] = ()
    representation: Tensor | None = None
    guide_losses: Callable[[dict[str, Tensor] | None], Tensor] | None = None
    shared_param_names: Sequence[str] | None = None
    lr: float = 1e-3
    diagnose: bool = False


def cosine_from_gram(K: Tensor, eps: float = 1e-12) -> Tensor:
    """Pairwise cosine [T, T] from a Gram matrix; zero rows give zero cosines."""
    norms = K.diagonal().clamp_min(0.0).sqrt()  # [T]
    return K / (norms[:, None] * norms[None, :]).clamp_min(eps)


def pair_mask(present: Tensor) -> Tensor:
    """[T, T] bool: ordered pairs (i, j), i != j, with both tasks present."""
    n = present.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=present.device)
    return present[:, None] & present[None, :] & off


def conflict_rate(cosine: Tensor, present: Tensor) -> float:
    """Fraction of present ordered pairs whose gradients conflict (cosine < 0)."""
    pairs = pair_mask(present)
    n = int(pairs.sum())
    return float(((cosine < 0) & pairs).sum()) / n if n else 0.0


class MTLMethod(nn.Module, ABC):
    """Base of all methods: validates inputs, sets ``.grad`` of shared and head parameters.

    ``uses_guidance`` says whether the trainer must pass ``guide_losses``; ``permutation_invariant``
    whether relabelling the tasks permutes the output accordingly (tested by the property suite);
    ``needs_losses_after_step`` whether the trainer must call ``after_step`` with the same batch's
    losses recomputed after the model step (FAMO; the others pay nothing for it).
    Optimizers a method owns (returned by ``_optimizers``) are saved in ``state_dict``.
    """

    name: ClassVar[str] = ""
    uses_guidance: bool = False
    permutation_invariant: ClassVar[bool] = True
    needs_jacobian: ClassVar[bool] = False
    needs_losses_after_step: ClassVar[bool] = False

    def __init__(self, n_tasks: int, grad_at: str = "params", engine: str = "loop") -> None:
        super().__init__()
        if not isinstance(n_tasks, int) or n_tasks < 1:
            raise ValueError(f"n_tasks must be a positive int; got {n_tasks!r}")
        if grad_at not in GRAD_AT:
            raise ValueError(f"grad_at must be one of {list(GRAD_AT)}; got {grad_at!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}; got {engine!r}")
        self.n_tasks = n_tasks
        self.grad_at = grad_at
        self.engine = engine

    # -- public API -------------------------------------------------------------------------
    def backward(self, inputs: StepInputs) -> Diagnostics:
        """Set ``.grad`` of ``inputs.shared_params`` and ``inputs.head_params``; return diagnostics.

        Diagnostics are detached: [T, T] / [T] tensors on CPU and Python floats for scalars.
        """
        present = self._check(inputs)
        diag = self._step(inputs, present)
        return {k: (v.detach().cpu() if isinstance(v, Tensor) else v) for k, v in diag.items()}

    def after_step(self, losses_after: Tensor) -> None:
        """The per-task losses [T] of the batch just used, recomputed after the model step.

        The trainer calls it right after ``optimizer.step()`` (under ``torch.no_grad``), and only
        for a method whose ``needs_losses_after_step`` is True; a no-op here.
        """

    def reset(self) -> None:
        """Forget all state (learned weights, histories, optimizer moments)."""

    def on_epoch_end(self) -> None:
        """Called by the trainer once per epoch; only epoch-based methods (DWA) use it."""

    # -- state ---------------------------------------------------------------------------------
    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers this method owns, saved with ``state_dict``."""
        return {}

    def get_extra_state(self) -> dict[str, Any]:
        # deep copies: an optimizer's state_dict shares its moment tensors with the live optimizer
        return {name: copy.deepcopy(opt.state_dict()) for name, opt in self._optimizers().items()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        for name, opt in self._optimizers().items():
            if name in state:
                opt.load_state_dict(state[name])

    # -- helpers for subclasses ----------------------------------------------------------------
    @abstractmethod
    def _step(self, inputs: StepInputs, present: Tensor) -> Diagnostics:
        """Compute and assign the gradients; ``present`` [T] bool is validated."""

    def _check(self, inputs: StepInputs) -> Tensor:
        """Validate shapes before any heavy work; return the ``present`` mask [T] bool."""
        T = self.n_tasks
        losses = inputs.losses
        if not isinstance(losses, Tensor) or losses.dim() != 1 or losses.shape[0] != T:
            shape = list(losses.shape) if isinstance(losses, Tensor) else type(losses).__name__
            raise ValueError(
                f"{self.name}: StepInputs.losses has shape {shape}; expected [{T}] "
                f"(one loss per task, n_tasks={T})"
            )
        present = inputs.present
        if present is None:
            present = torch.ones(T, dtype=torch.bool, device=losses.device)
        elif present.shape != (T,):
            raise ValueError(
                f"{self.name}: StepInputs.present has shape {list(present.shape)}; expected [{T}]"
            )
        if len(inputs.shared_params) == 0:
            raise ValueError(f"{self.name}: StepInputs.shared_params is empty")
        if self.grad_at == "representation" and inputs.representation is None:
            raise ValueError(
                f"{self.name}: grad_at='representation' needs StepInputs.representation"
            )
        return present.to(torch.bool)

    def _grad_targets(self, inputs: StepInputs) -> list[Tensor]:
        """Tensors the task gradients are taken at: the encoder or the representation."""
        if self.grad_at == "representation":
            return [inputs.representation]  # type: ignore[list-item]
        return list(inputs.shared_params)

    def _task_gradients(self, inputs: StepInputs, present: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``G`` [T, d] at the grad targets (zero rows for absent tasks) and the head gradients."""
        return task_gradients(
            inputs.losses, present, self._grad_targets(inputs), inputs.head_params, self.engine
        )

    def _apply_weights(self, inputs: StepInputs, w: Tensor, G: Tensor | None) -> None:
        """Shared update ``Σ_i w_i ∇L_i``: from ``G`` at the parameters, else one backward."""
        w = w.detach()
        if G is not None and self.grad_at == "params":
            assign_flat_grad(inputs.shared_params, w @ G)
            return
        grads = torch.autograd.grad(
            (w * inputs.losses).sum(),
            list(inputs.shared_params),
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        assign_grads(inputs.shared_params, grads)


class GramianMethod(MTLMethod):
    """A method whose weights come from the task gradients (their Gram matrix or the Jacobian).

    Absent tasks are dropped before ``_weights`` is called and get weight 0: they take part in no
    pair.
    """

    needs_jacobian: ClassVar[bool] = True

    @abstractmethod
    def _weights(self, G: Tensor, K: Tensor) -> Tensor:
        """Weights [m] from the present tasks' Jacobian ``G`` [m, d] and Gramian ``K`` [m, m]."""

    def weights(self, G: Tensor, present: Tensor | None = None, K: Tensor | None = None) -> Tensor:
        """Weights [T] for a Jacobian ``G`` [T, d] (Gramian ``K`` if known); absent tasks get 0."""
        if present is None:
            present = (G != 0).any(dim=1)
        if K is None:
            K = G @ G.T  # [T, T]
        idx = torch.nonzero(present).flatten()
        w = G.new_zeros(G.shape[0])
        if len(idx) > 0:
            w[idx] = self._weights(G[idx], K[idx][:, idx]).to(w.dtype)
        return w

    def aggregate(self, G: Tensor, present: Tensor | None = None) -> Tensor:
        """The shared update ``Σ_i w_i g_i`` [d] that ``backward`` would set for Jacobian ``G``."""
        return self.weights(G, present) @ G

    def _step(self, inputs: StepInputs, present: Tensor) -> Diagnostics:
        G, head_grads = self._task_gradients(inputs, present)  # [T, d]
        K = G @ G.T  # [T, T]
        w = self.weights(G, present, K)
        self._apply_weights(inputs, w, G)
        assign_grads(inputs.head_params, head_grads)
        cos = cosine_from_gram(K)
        return {"weights": w, "cosine": cos, "conflict_rate": conflict_rate(cos, present)}


class ScalarizedMethod(MTLMethod):
    """A method that combines the loss values only (LS, UW, DWA, RLW, FAMO).

    The weights are the derivatives of the scalarized loss in each task loss, so the shared update
    is ``Σ_i w_i ∇L_i``; learnable parameters of the scalarizer get their gradient from the same
    scalar and are stepped by the method's own optimizer.
    """

    def _own_params(self) -> list[Tensor]:
        return []

    @abstractmethod
    def _scalarize(self, losses: Tensor, present: Tensor) -> Tensor:
        """Scalar loss from detached task losses [T] (absent entries must not matter)."""

    def _own_step(self, grads: Sequence[Tensor]) -> None:
        """Step the method's own parameters with their gradients (no-op by default)."""

    def _step(self, inputs: StepInputs, present: Tensor) -> Diagnostics:
        x = inputs.losses.detach().clone().requires_grad_(True)  # [T]
        scalar = self._scalarize(x, present)
        own = self._own_params()
        grads = torch.autograd.grad(scalar, [x, *own], allow_unused=True, materialize_grads=True)
        w = grads[0] * present  # [T]
        self._own_step(grads[1:])
        diag: Diagnostics = {"weights": w}
        if inputs.diagnose:
            G, _ = self._task_gradients(inputs, present)
            cos = cosine_from_gram(G @ G.T)
            diag.update(cosine=cos, conflict_rate=conflict_rate(cos, present))
        self._apply_losses(inputs, w, present)
        return diag

    def _apply_losses(self, inputs: StepInputs, w: Tensor, present: Tensor) -> None:
        """Shared gets ``Σ w_i ∇L_i``, heads ``Σ_present ∇L_i``; one pass when they coincide."""
        shared, heads = list(inputs.shared_params), list(inputs.head_params)
        own_loss = (inputs.losses * present).sum()
        opts: dict[str, Any] = {"retain_graph": True, "allow_unused": True}
        if torch.equal(w, present.to(w.dtype)):
            grads = torch.autograd.grad(own_loss, shared + heads, materialize_grads=True, **opts)
            assign_grads(shared + heads, grads)
            return
        self._apply_weights(inputs, w, None)
        if heads:
            grads = torch.autograd.grad(own_loss, heads, materialize_grads=True, **opts)
            assign_grads(heads, grads)
