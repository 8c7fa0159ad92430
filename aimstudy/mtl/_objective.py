"""AIM's policy objective (aim-method.md Eq. 4-6), computed on the Gram matrix.

``||g_int||² = wᵀKw``, ``||g_i|| = sqrt(K_ii)``, ``g_int · g_i = (Kw)_i`` and, with the guidance
gradient appended as row N of ``K'``, ``g_guide · g_int = Σ_j w_j K'_{N,j}``.
"""

from __future__ import annotations

from torch import Tensor

_TINY = 1e-12
GUIDE_REDUCES = ("mean", "sum")


def reduce_guide(losses: Tensor, how: str = "mean") -> Tensor:
    """The guidance loss from per-task guidance losses [T]: their sum, or their mean.

    ``mean`` divides by the number of tasks labelled in the guidance batch, recognised by a
    non-zero masked loss (the trainer's masked loss is exactly 0, with a zero gradient, for a task
    without labels; a labelled task at exactly zero error has a zero gradient too, so leaving it
    out only rescales). With dense labels that is all T tasks. The mean keeps ``g_guide`` on the
    scale of one task's gradient, as the difficulty weights α (which sum to 1) keep the progress
    term, so neither λ_g nor λ_p has to absorb a factor T.
    """
    if how == "sum":
        return losses.sum()
    labelled = (losses.detach() != 0).sum().clamp_min(1)
    return losses.sum() / labelled.to(losses.dtype)


def magnitude_term(K: Tensor, w: Tensor) -> Tensor:
    """``(||g_int|| − Σ_i ||g_i||)²``: keeps the update from collapsing. ``K`` [N, N], ``w`` [N]."""
    g_norm = (w @ K @ w).clamp_min(_TINY).sqrt()
    return (g_norm - K.diagonal().clamp_min(0.0).sqrt().sum()) ** 2


def difficulty_weights(losses: Tensor, present: Tensor) -> Tensor:
    """``α_i = stopgrad(L_i / Σ_j L_j)`` over present tasks, 0 for absent ones. [N]."""
    values = losses.detach() * present
    return values / values.sum().clamp_min(_TINY)


def progress_term(K: Tensor, w: Tensor, alpha: Tensor) -> Tensor:
    """``Σ_i α_i (g_int · g_i)``: progress on the currently hardest tasks (to be maximised)."""
    return (alpha * (K @ w)).sum()


def guide_align_term(K_aug: Tensor, w: Tensor) -> Tensor:
    """``−(g_guide · g_int)``: first-order change of the guidance loss along the update."""
    n = w.shape[0]
    return -(w * K_aug[n, :n]).sum()
