"""Run a method for a few optimisation steps on a toy problem, as the trainer would."""

from __future__ import annotations

import torch

from aimstudy.mtl import MTLMethod
from aimstudy.testing._toy import ToyProblem


def run_steps(method: MTLMethod, problem: ToyProblem, n: int, seed: int = 0) -> list[dict]:
    """``n`` steps of ``method`` on ``problem`` with SGD in between; returns the diagnostics.

    Like the trainer, it hands ``after_step`` the batch's losses after the step when the method
    asks for them (``needs_losses_after_step``).
    """
    torch.manual_seed(seed)
    out = []
    for _ in range(n):
        out.append(method.backward(problem.inputs()))
        problem.sgd_step()
        if method.needs_losses_after_step:
            with torch.no_grad():
                method.after_step(problem.losses())
        method.on_epoch_end()
    return out
