"""Rotary position embeddings (Su et al. 2021, arXiv:2104.09864).

Positions come in per token, so left-padded batches and KV-cached decoding rotate
each query and key by its own position.
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Rotate pairs of channels (x[..., :d/2], x[..., d/2:]) by angle position * theta^(-2i/d)."""

    def __init__(self, head_dim: int, max_positions: int, theta: float = 10000.0) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)  # (P, hd/2)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.max_positions = max_positions

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` of shape (B, H, T, hd) by ``positions`` of shape (B, T)."""
        cos = self.cos[positions].unsqueeze(1).to(x.dtype)  # (B, 1, T, hd/2)
        sin = self.sin[positions].unsqueeze(1).to(x.dtype)
        half = x.shape[-1] // 2
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
