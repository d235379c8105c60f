"""Position-wise MLPs: SwiGLU (Shazeer 2020, arXiv:2002.05202) and ReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import ModelConfig


class SwiGLU(nn.Module):
    """y = W_down(silu(W_gate x) * W_up x)."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, hidden, bias=False)
        self.up = nn.Linear(d_model, hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class ReLUMLP(nn.Module):
    """y = W_down relu(W_up x); its activations are exactly sparse."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.relu(self.up(x)))


MLP_REGISTRY: dict[str, type[nn.Module]] = {"swiglu": SwiGLU, "relu": ReLUMLP}


def build_mlp(config: ModelConfig) -> nn.Module:
    """Build the MLP named by ``config.mlp`` (validated by ModelConfig)."""
    return MLP_REGISTRY[config.mlp](config.d_model, config.hidden_dim)
