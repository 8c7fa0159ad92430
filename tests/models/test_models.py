"""Backbones: registry, shapes, the shared/head split, and the MPNN's edge-network reuse."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import NNConv

from aimstudy.models import MPNN, SingleTaskEnsemble, build_model, model_options, names


def _graph(n: int, node_dim: int = 11, edge_dim: int = 5) -> Data:
    pairs = torch.combinations(torch.arange(n), 2).T if n > 1 else torch.zeros(2, 0).long()
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)  # [2, e] complete graph
    return Data(
        x=torch.randn(n, node_dim),
        edge_index=edge_index,
        edge_attr=torch.randn(edge_index.size(1), edge_dim),
    )


@pytest.fixture
def batch() -> Batch:
    return Batch.from_data_list([_graph(n) for n in (3, 1, 7, 5)])


def test_registry_lists_the_backbones() -> None:
    assert {"mpnn", "gin", "attentivefp"} <= set(names())
    assert model_options("mpnn")["hidden"] == 64


@pytest.mark.parametrize("name", ["mpnn", "gin", "attentivefp"])
def test_shapes_and_parameter_split(name: str, batch: Batch) -> None:
    model = build_model(name, node_dim=11, edge_dim=5, n_tasks=4, hidden=32)
    z = model.encode(batch)
    assert z.shape == (4, 32)
    pred = model(batch)
    assert pred.shape == (4, 4)
    assert torch.allclose(model.predict_from(z), pred)
    shared = {id(p) for p in model.shared_parameters()}
    heads = {id(p) for p in model.task_parameters()}
    assert not shared & heads
    assert shared | heads == {id(p) for p in model.parameters()}
    # Each head output depends on its own head only.
    pred[:, 2].sum().backward()
    grads = [p.grad for p in model.head_parameters(1)]
    assert all(g is None or float(g.abs().sum()) == 0 for g in grads)


def test_mpnn_matches_the_benchmark_size() -> None:
    model = build_model("mpnn", node_dim=11, edge_dim=5, n_tasks=11)
    # The [11, 616,960] Jacobian of aim-method.md: the encoder has 616,960 parameters.
    assert sum(p.numel() for p in model.shared_parameters()) == 616_960
    assert sum(p.numel() for p in model.task_parameters()) == 11 * 65


def test_mpnn_edge_network_once_equals_textbook_nnconv(batch: Batch) -> None:
    """Feeding precomputed edge weights gives exactly what NNConv with the edge MLP gives."""
    model = MPNN(node_dim=11, edge_dim=5, n_tasks=2)
    reference = NNConv(64, 64, model.edge_net, aggr="mean")
    reference.load_state_dict(model.conv.state_dict(), strict=False)
    reference.lin.load_state_dict(model.conv.lin.state_dict())
    with torch.no_grad():
        reference.bias.copy_(model.conv.bias)
    h = torch.randn(batch.num_nodes, 64)
    fast = model.conv(h, batch.edge_index, model.edge_net(batch.edge_attr))
    slow = reference(h, batch.edge_index, batch.edge_attr)
    assert torch.allclose(fast, slow, atol=1e-6)

    def textbook(b: Batch) -> torch.Tensor:
        h = model.embed(b.x).relu()
        for _ in range(3):
            h = model.gru(reference(h, b.edge_index, b.edge_attr).relu(), h)
        return model.shared(model.set2set(h, b.batch))

    assert torch.allclose(model.encode(batch), textbook(batch), atol=1e-5)

    # Same gradients too: the edge message has its own backward (see _EdgeMessage).
    common = [*model.embed.parameters(), *model.edge_net.parameters(), *model.gru.parameters()]
    common += [*model.set2set.parameters(), *model.shared.parameters()]
    probe = torch.randn(4, 64)
    fast_grads = torch.autograd.grad((model.encode(batch) * probe).sum(), common)
    slow_grads = torch.autograd.grad((textbook(batch) * probe).sum(), common)
    for fast_g, slow_g in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(fast_g, slow_g, atol=1e-5, rtol=1e-4)


def test_mpnn_task_jacobian_is_the_same_with_every_engine(batch: Batch) -> None:
    """The custom edge message supports vmap, so the batched engine agrees with the loop."""
    from aimstudy.mtl._engine import jacobians

    model = MPNN(node_dim=11, edge_dim=5, n_tasks=3, hidden=16, edge_hidden=8)
    losses = list(model(batch).pow(2).mean(dim=0))  # [3] scalars
    params = list(model.shared_parameters())
    loop = jacobians(losses, params, "loop")
    batched = jacobians(losses, params, "batched")
    for a, b in zip(loop, batched, strict=True):
        assert a.abs().sum() > 0 or a.numel() == 0
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("name", ["mpnn", "gin", "attentivefp"])
def test_prediction_does_not_depend_on_batch_order(name: str) -> None:
    graphs = [_graph(n) for n in (4, 2, 6)]
    model = build_model(name, node_dim=11, edge_dim=5, n_tasks=3).eval()
    a = model(Batch.from_data_list(graphs))
    b = model(Batch.from_data_list(graphs[::-1]))
    assert torch.allclose(a, b.flip(0), atol=1e-5)


def test_bad_names_and_options_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="unknown name 'nope'"):
        build_model("nope", 11, 5, 2)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['widht'\]"):
        build_model("gin", 11, 5, 2, widht=3)
    with pytest.raises(ValueError, match="pool"):
        build_model("gin", 11, 5, 2, pool="max")


def test_ensemble_members_are_independent(batch: Batch) -> None:
    members = [build_model("gin", 11, 5, 1, hidden=16) for _ in range(3)]
    model = SingleTaskEnsemble(members)
    pred = model(batch)
    assert pred.shape == (4, 3)
    assert torch.allclose(model.predict_from(model.encode(batch)), pred)
    pred[:, 0].sum().backward()
    touched = [
        any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in m.parameters())
        for m in members
    ]
    assert touched == [True, False, False]
    n_all = len(list(model.parameters()))
    assert len(model.shared_parameters()) + len(model.task_parameters()) == n_all
