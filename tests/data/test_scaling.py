"""Standardizer: masked statistics, round trip, constant targets."""

from __future__ import annotations

import torch

from aimstudy.data import Standardizer


def test_masked_mean_std_hand_computed() -> None:
    y = torch.tensor([[1.0, 10.0], [3.0, 0.0], [5.0, 30.0]])  # [3, 2]
    mask = torch.tensor([[True, True], [True, False], [True, True]])
    s = Standardizer.fit(y, mask)
    assert torch.allclose(s.mean, torch.tensor([3.0, 20.0]))
    assert torch.allclose(s.std, torch.tensor([(8 / 3) ** 0.5, 10.0]))  # population std
    z = s.transform(y)
    assert torch.allclose(z[0], torch.tensor([-(1.5**0.5), -1.0]), atol=1e-6)
    assert torch.allclose(s.inverse(z), y)


def test_constant_task_gets_unit_std_and_state_round_trip() -> None:
    y = torch.full((4, 1), 7.0)
    s = Standardizer.fit(y, torch.ones(4, 1, dtype=torch.bool))
    assert s.std.item() == 1.0 and torch.all(s.transform(y) == 0)
    again = Standardizer.from_state_dict(s.state_dict())
    assert torch.equal(again.mean, s.mean) and torch.equal(again.std, s.std)
