"""Reusable property tests for any ``MTLMethod`` (the Optuna pattern: pytest-only helpers live
in a ``pytest_*`` module, so ``import aimstudy.testing`` needs no pytest).

Subclass ``MTLMethodTestSuite`` in a test module and provide the ``make_method`` fixture, a
callable ``n_tasks -> MTLMethod``; every test below then runs against it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from aimstudy.mtl import MTLMethod, StepInputs
from aimstudy.testing._steps import run_steps
from aimstudy.testing._toy import ToyProblem

MethodFactory = Callable[[int], MTLMethod]


class MTLMethodTestSuite:
    """Properties every registered method must have. Only ``make_method`` is abstract."""

    n_tasks = 3

    @pytest.fixture
    def make_method(self) -> MethodFactory:
        raise NotImplementedError("subclasses provide make_method: n_tasks -> MTLMethod")

    def test_sets_finite_grads_of_right_shape(self, make_method: MethodFactory) -> None:
        problem = ToyProblem(self.n_tasks)
        diag = make_method(self.n_tasks).backward(problem.inputs())
        for p in [*problem.shared_params(), *problem.head_params()]:
            assert p.grad is not None and p.grad.shape == p.shape
            assert torch.isfinite(p.grad).all()
        assert problem.shared_grad().abs().sum() > 0
        assert diag["weights"].shape == (self.n_tasks,)
        assert torch.isfinite(diag["weights"]).all()

    def test_heads_get_their_own_gradient(self, make_method: MethodFactory) -> None:
        problem = ToyProblem(self.n_tasks)
        make_method(self.n_tasks).backward(problem.inputs())
        got = [p.grad.clone() for p in problem.head_params()]
        losses = problem.losses()
        for t in range(self.n_tasks):
            own = torch.autograd.grad(losses[t], problem.head_params(t), retain_graph=True)
            start = 2 * t  # weight and bias per head
            for g, o in zip(got[start : start + 2], own, strict=True):
                torch.testing.assert_close(g, o)

    def test_absent_task_takes_no_part(self, make_method: MethodFactory) -> None:
        problem = ToyProblem(self.n_tasks)
        present = torch.ones(self.n_tasks, dtype=torch.bool)
        present[1] = False
        diag = make_method(self.n_tasks).backward(problem.inputs(present=present))
        assert float(diag["weights"][1]) == 0.0
        for p in problem.head_params(1):
            assert torch.count_nonzero(p.grad) == 0
        assert torch.isfinite(problem.shared_grad()).all()
        assert problem.shared_grad().abs().sum() > 0

    def test_permutation_invariance(self, make_method: MethodFactory) -> None:
        method = make_method(self.n_tasks)
        if not method.permutation_invariant:
            pytest.skip(f"{method.name} does not claim permutation invariance")
        order = list(range(self.n_tasks))[::-1]
        base, perm = ToyProblem(self.n_tasks), ToyProblem(self.n_tasks, order=order)
        d_base = method.backward(base.inputs())
        d_perm = make_method(self.n_tasks).backward(perm.inputs())
        torch.testing.assert_close(perm.shared_grad(), base.shared_grad(), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(
            d_perm["weights"], d_base["weights"][order], rtol=1e-4, atol=1e-5
        )

    def test_deterministic_under_seed(self, make_method: MethodFactory) -> None:
        grads = []
        for _ in range(2):
            problem = ToyProblem(self.n_tasks)
            run_steps(make_method(self.n_tasks), problem, 3)
            grads.append(problem.shared_grad())
        torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)

    def test_reset_restores_initial_behaviour(self, make_method: MethodFactory) -> None:
        used = make_method(self.n_tasks)
        run_steps(used, ToyProblem(self.n_tasks, seed=1), 3)
        used.reset()
        self._assert_same_next_steps(used, make_method(self.n_tasks))

    def test_state_dict_resumes(self, make_method: MethodFactory) -> None:
        first = make_method(self.n_tasks)
        run_steps(first, ToyProblem(self.n_tasks, seed=1), 3)
        second = make_method(self.n_tasks)
        second.load_state_dict(first.state_dict())
        self._assert_same_next_steps(first, second)

    def _assert_same_next_steps(self, a: MTLMethod, b: MTLMethod) -> None:
        """Two more steps on a fresh problem give the same shared gradient for both methods."""
        results = []
        for method in (a, b):
            problem = ToyProblem(self.n_tasks)
            run_steps(method, problem, 2, seed=5)
            results.append(problem.shared_grad())
        torch.testing.assert_close(results[0], results[1], rtol=1e-6, atol=1e-7)

    def test_diagnose_gives_cosine_matrix(self, make_method: MethodFactory) -> None:
        problem = ToyProblem(self.n_tasks)
        diag = make_method(self.n_tasks).backward(problem.inputs(diagnose=True))
        cos = diag["cosine"]
        assert cos.shape == (self.n_tasks, self.n_tasks)
        torch.testing.assert_close(cos.diagonal(), torch.ones(self.n_tasks))
        torch.testing.assert_close(cos, cos.T)
        assert 0.0 <= diag["conflict_rate"] <= 1.0

    def test_wrong_loss_count_is_a_clear_error(self, make_method: MethodFactory) -> None:
        problem = ToyProblem(self.n_tasks)
        inputs = problem.inputs()
        bad = StepInputs(losses=inputs.losses[:-1], shared_params=inputs.shared_params)
        with pytest.raises(ValueError, match=rf"expected \[{self.n_tasks}\]"):
            make_method(self.n_tasks).backward(bad)
