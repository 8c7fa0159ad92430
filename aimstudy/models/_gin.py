"""A 2-D backbone: GINE convolutions (GIN with edge features), sum pooling."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import GINEConv, global_add_pool, global_mean_pool

from aimstudy.models._base import MultiTaskModel, make_heads
from aimstudy.models._registry import register_model

_POOLS = {"sum": global_add_pool, "mean": global_mean_pool}


@register_model("gin")
class GIN(MultiTaskModel):
    """Linear(node_dim→h); `layers` × GINEConv(MLP)+LayerNorm+ReLU with residuals; pooling;
    Linear(h→h)+ReLU. LayerNorm (not BatchNorm) keeps sum aggregation over dense 3-D graphs
    from blowing up activations without making a graph's output depend on its batch."""

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        n_tasks: int,
        hidden: int = 128,
        layers: int = 3,
        pool: str = "sum",
        dropout: float = 0.0,
        head_hidden: int = 0,
    ) -> None:
        super().__init__()
        if pool not in _POOLS:
            raise ValueError(f"model 'gin': pool must be one of {sorted(_POOLS)}, got {pool!r}")
        self.pool = _POOLS[pool]
        self.embed = nn.Linear(node_dim, hidden)
        self.convs = nn.ModuleList(
            GINEConv(
                nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)),
                train_eps=True,
                edge_dim=max(edge_dim, 1),
            )
            for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.edge_dim = edge_dim
        self.dropout = nn.Dropout(dropout)
        self.shared = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = make_heads(hidden, n_tasks, head_hidden)

    def encode(self, batch: object) -> Tensor:
        h = self.embed(batch.x.float())  # [n, h]
        edge_attr = _edge_attr(batch, self.edge_dim)  # [e, max(edge_dim, 1)]
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + self.dropout(norm(conv(h, batch.edge_index, edge_attr)).relu())  # [n, h]
        return self.shared(self.pool(h, batch.batch))  # [B, h]


def _edge_attr(batch: object, edge_dim: int) -> Tensor:
    """Edge features as float, or a column of ones for graphs without edge features."""
    if edge_dim < 1 or getattr(batch, "edge_attr", None) is None:
        return batch.edge_index.new_ones((batch.edge_index.size(1), 1)).float()
    return batch.edge_attr.float()
