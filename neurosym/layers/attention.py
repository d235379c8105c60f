"""Causal multi-head self-attention with rotary positions and a KV cache.

Shapes: B batch, T query length, S key length (cache plus new tokens), H heads,
hd head dimension, D = H * hd model width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import ModelConfig
from neurosym.layers.rope import RotaryEmbedding

KVPair = tuple[torch.Tensor, torch.Tensor]  # keys and values, each (B, H, S, hd)


class CausalSelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(hd) + mask) V over heads, using torch's fused SDPA kernel."""

    def __init__(self, config: ModelConfig, rope: RotaryEmbedding) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)
        self.dropout = config.dropout
        self.rope = rope

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: KVPair | None = None,
    ) -> tuple[torch.Tensor, KVPair]:
        """Attend from ``x`` (B, T, D) to the cached and new keys.

        ``mask`` is None for plain causal attention over an unpadded sequence, or a
        boolean (B, 1, T, S) tensor in which True marks an allowed key.
        """
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).split(self.n_heads * self.head_dim, dim=-1)
        q = q.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        q = self.rope(q, positions)
        k = self.rope(k, positions)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)  # (B, H, S, hd)
            v = torch.cat((past[1], v), dim=2)
        dropout = self.dropout if self.training else 0.0
        if mask is None:
            # Without a cache, T == S and is_causal applies the lower-triangular mask.
            y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None, dropout_p=dropout)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(batch, length, -1)
        return self.out(y), (k, v)


def build_attention_mask(
    key_padding: torch.Tensor | None, query_length: int, past_length: int
) -> torch.Tensor | None:
    """Return the (B, 1, T, S) boolean mask, or None when plain causal masking suffices.

    ``key_padding`` is (B, S) with True for real tokens. Query i sits at index
    ``past_length + i`` and sees keys j <= that index that are not padding.
    """
    if key_padding is None:
        if past_length == 0 or query_length == 1:
            return None
        key_padding_all = None
    else:
        key_padding_all = key_padding.bool()
    total = past_length + query_length
    device = key_padding.device if key_padding is not None else None
    query_index = torch.arange(past_length, total, device=device).unsqueeze(1)  # (T, 1)
    key_index = torch.arange(total, device=device).unsqueeze(0)  # (1, S)
    causal = key_index <= query_index  # (T, S)
    if key_padding_all is None:
        return causal.view(1, 1, query_length, total)
    mask = causal.unsqueeze(0) & key_padding_all.unsqueeze(1)  # (B, T, S)
    # A padded query row would have no allowed key; let it see itself to avoid NaNs.
    diagonal = torch.zeros_like(mask)
    diagonal[:, torch.arange(query_length), past_length + torch.arange(query_length)] = True
    mask = mask | (diagonal & ~mask.any(-1, keepdim=True))
    return mask.unsqueeze(1)
