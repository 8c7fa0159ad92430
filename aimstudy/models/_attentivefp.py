"""A 2-D backbone: PyG's AttentiveFP (graph attention + GRU readout)."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.nn.models import AttentiveFP

from aimstudy.models._base import MultiTaskModel, make_heads
from aimstudy.models._registry import register_model


@register_model("attentivefp")
class AttentiveFPModel(MultiTaskModel):
    """AttentiveFP whose output (width h) is the shared representation, then ReLU and heads."""

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        n_tasks: int,
        hidden: int = 128,
        layers: int = 2,
        timesteps: int = 2,
        dropout: float = 0.0,
        head_hidden: int = 0,
    ) -> None:
        super().__init__()
        if edge_dim < 1:
            raise ValueError("model 'attentivefp' needs edge features (edge_dim >= 1)")
        self.net = AttentiveFP(
            node_dim,
            hidden,
            hidden,
            edge_dim,
            num_layers=layers,
            num_timesteps=timesteps,
            dropout=dropout,
        )
        self.heads = make_heads(hidden, n_tasks, head_hidden)

    def encode(self, batch: object) -> Tensor:
        out = self.net(batch.x.float(), batch.edge_index, batch.edge_attr.float(), batch.batch)
        return out.relu()  # [B, h]
