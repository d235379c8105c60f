"""kNN attention: each query attends to a dense local window plus its top-k older keys.

Shapes: B batch, H heads, T query length, S key length (cache plus new tokens), hd
head dimension, K keys retrieved per query.

With query i and keys j <= i, let W(i) = {j : i - window < j <= i} be the local window
and O(i) = {j : j <= i - window} the older keys. The layer computes

    A(i) = W(i)  union  top_k { j in O(i) : q_i . k_j }
    y_i  = sum_{j in A(i)} softmax_j(q_i . k_j / sqrt(hd)) v_j

Training and prefill find top_k exactly in torch (the selected scores keep their
gradients). With ``tail="taylor"`` the remaining older keys T(i) also count, each with
weight exp(s_c) (1 + t + t^2/2), t = s - s_c, a second-order Taylor expansion of
exp(s) around the score s_c of their mean key; decoding gets these sums from running
moments of the keys in O(hd^3) per head (the idea of Taylor linear attention). Decoding keeps the older keys of every sequence and head in a faiss
index (exact, HNSW or IVF) that follows the KV cache: it is dropped when a forward
call starts without a cache, and each decode step adds the keys that have just left
the window. With k + window >= S, A(i) holds every key and the layer equals dense
causal attention.

:class:`KNNMemory` is an external key/value memory in the style of the Memorizing
Transformer (Wu et al. 2022, arXiv:2203.08913): segments of a long document write
their keys and values into it, and later segments attend to the top-k retrieved
entries jointly with their local keys.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch
import torch.nn.functional as F

from neurosym.config import KNNAttentionConfig, ModelConfig
from neurosym.errors import CheckpointError
from neurosym.layers.attention import CausalSelfAttention, KVPair
from neurosym.layers.knn_index import IndexKind, KeyIndex
from neurosym.layers.rope import RotaryEmbedding

MEMORY_FORMAT_VERSION = 1


def knn_attention_mask(
    scores: torch.Tensor, allowed: torch.Tensor, query_index: torch.Tensor, k: int, window: int
) -> torch.Tensor:
    """Return the boolean (.., T, S) mask of A(i): the local window plus the top-k older keys.

    ``scores`` (.., T, S) are the query-key scores, ``allowed`` (broadcastable) marks
    the keys a query may see (causal and not padding), ``query_index`` (T,) is each
    query's position among the S keys.
    """
    key_index = torch.arange(scores.shape[-1], device=scores.device)
    local = key_index.view(1, -1) > (query_index.view(-1, 1) - window)  # (T, S)
    in_window = allowed & local
    older = allowed & ~local
    count = min(k, scores.shape[-1])
    masked = scores.detach().masked_fill(~older, float("-inf"))
    kth = masked.topk(count, dim=-1).values[..., -1:]  # -inf when fewer than k older keys
    return in_window | (older & (masked >= kth))


def causal_allowed(mask: torch.Tensor | None, query_index: torch.Tensor, length: int) -> torch.Tensor:
    """Combine the causal rule with an optional (B, 1, T, S) mask into a boolean tensor."""
    key_index = torch.arange(length, device=query_index.device)
    causal = key_index.view(1, -1) <= query_index.view(-1, 1)
    return causal if mask is None else causal & mask


def build_key_indexes(
    keys: torch.Tensor, config: KNNAttentionConfig, count: int | None = None
) -> list[list[KeyIndex]]:
    """One index per sequence and head holding ``keys[:, :, :count]`` ((B, H, S, hd) keys)."""
    batch, heads, length, head_dim = keys.shape
    count = length if count is None else count
    indexes = [[new_key_index(head_dim, config) for _ in range(heads)] for _ in range(batch)]
    if count > 0:
        extend_key_indexes(indexes, keys, 0, count)
    return indexes


def new_key_index(head_dim: int, config: KNNAttentionConfig) -> KeyIndex:
    return KeyIndex(head_dim, config.index, hnsw_m=config.hnsw_m, ef_search=config.ef_search,
                    nlist=config.ivf_nlist, nprobe=config.ivf_nprobe)


def extend_key_indexes(indexes: list[list[KeyIndex]], keys: torch.Tensor, start: int, stop: int) -> None:
    """Add ``keys[:, :, start:stop]`` to every (sequence, head) index."""
    block = keys[:, :, start:stop].detach().float().cpu().numpy()
    for b, row in enumerate(indexes):
        for h, index in enumerate(row):
            index.add(block[b, h])


def retrieve_older(
    queries: torch.Tensor, indexes: list[list[KeyIndex]], k: int, allowed: torch.Tensor | None
) -> torch.Tensor:
    """Ids (B, H, k) of the best older keys for one query per sequence and head; -1 pads.

    ``queries`` is (B, H, hd); ``allowed`` (B, S) marks real keys (None: all), so that
    padding retrieved from an index is skipped.
    """
    batch, heads, _ = queries.shape
    flat = queries.detach().float().cpu().numpy()
    out = np.full((batch, heads, k), -1, dtype=np.int64)
    allowed_np = None if allowed is None else allowed.cpu().numpy()
    for b in range(batch):
        extra = 0 if allowed_np is None else int((~allowed_np[b]).sum())
        for h in range(heads):
            _, ids = indexes[b][h].search(flat[b, h : h + 1], k + extra)
            found = ids[0][ids[0] >= 0]
            if allowed_np is not None:
                found = found[allowed_np[b, found]]
            found = found[:k]
            out[b, h, : len(found)] = found
    return torch.from_numpy(out).to(queries.device)


def sparse_attend(
    q: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    ids: torch.Tensor,
    scale: float,
    tail: TailSums | None = None,
) -> torch.Tensor:
    """Attend from ``q`` (B, H, hd) to the keys named by ``ids`` (B, H, K), -1 skipped; (B, H, hd).

    With ``tail``, the keys not named join the softmax through their Taylor sums.
    """
    valid = ids >= 0
    index = ids.clamp(min=0).unsqueeze(-1).expand(-1, -1, -1, keys.shape[-1])  # (B, H, K, hd)
    chosen_k = keys.gather(2, index)
    chosen_v = values.gather(2, index)
    scores = torch.einsum("bhd,bhkd->bhk", q, chosen_k) * scale
    scores = scores.masked_fill(~valid, float("-inf"))
    if tail is None:
        return torch.einsum("bhk,bhkd->bhd", F.softmax(scores, dim=-1), chosen_v)
    scores = scores.double()
    shift = torch.maximum(scores.amax(-1), tail.center_score)  # (B, H)
    exact = torch.exp(scores - shift.unsqueeze(-1))
    tail_scale = torch.exp(tail.center_score - shift)
    numerator = torch.einsum("bhk,bhkd->bhd", exact, chosen_v.double()) + tail_scale.unsqueeze(-1) * tail.numerator
    denominator = exact.sum(-1) + tail_scale * tail.denominator
    return (numerator / denominator.unsqueeze(-1)).to(q.dtype)


def taylor_tail_logits(
    scores: torch.Tensor, q: torch.Tensor, keys: torch.Tensor, tail: torch.Tensor, scale: float
) -> torch.Tensor:
    """Logits (B, H, T, S) that give each tail key the weight exp(s_c) (1 + t + t^2 / 2).

    ``tail`` marks, per query, the allowed keys that are neither retrieved nor in the
    window; c is their mean key, s_c = q . c * scale and t = s - s_c. The polynomial is
    positive for every t, so its logarithm exists. Other entries are -inf.
    """
    count = tail.sum(-1, keepdim=True).clamp(min=1)
    center = torch.matmul(tail.to(keys.dtype), keys) / count  # (B, H, T, hd)
    center_score = (q * center).sum(-1, keepdim=True) * scale
    offset = scores - center_score
    logits = center_score + torch.log1p(offset + 0.5 * offset * offset)
    return logits.masked_fill(~tail, float("-inf"))


@dataclass
class TailSums:
    """Taylor sums over one decode step's tail keys, per sequence and head (float64).

    With t_j = q . (k_j - c) * scale: ``denominator`` = sum_j (1 + t_j + t_j^2 / 2),
    ``numerator`` = sum_j (1 + t_j + t_j^2 / 2) v_j, both to be multiplied by
    exp(``center_score``).
    """

    numerator: torch.Tensor  # (B, H, hd)
    denominator: torch.Tensor  # (B, H)
    center_score: torch.Tensor  # (B, H)


class TaylorMoments:
    """Running moments of the older keys and values, per sequence and head, in float64.

    Holds n, sum k, sum k k^T, sum v, sum k v^T and sum (k k^T) v, so the Taylor sums
    of any tail (all older keys minus the retrieved ones) around any centre cost
    O(hd^3) per head, independent of how many keys there are.
    """

    BLOCK = 1024  # keys per update, bounding the (n, hd^2) outer-product buffer

    def __init__(self, batch: int, heads: int, dim: int, device: torch.device) -> None:
        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(batch, heads, *shape, dtype=torch.float64, device=device)

        self.count = zeros()
        self.key_sum, self.key_outer = zeros(dim), zeros(dim, dim)
        self.value_sum, self.key_value = zeros(dim), zeros(dim, dim)
        self.key_key_value = zeros(dim * dim, dim)

    def add(self, keys: torch.Tensor, values: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        """Add ``keys`` and ``values`` (B, H, n, hd); ``weight`` (B, n) zeroes padding out."""
        for start in range(0, keys.shape[2], self.BLOCK):
            k = keys[:, :, start : start + self.BLOCK].double()
            v = values[:, :, start : start + self.BLOCK].double()
            if weight is None:
                self.count += k.shape[2]
            else:
                w = weight[:, start : start + self.BLOCK].double()
                k, v = k * w[:, None, :, None], v * w[:, None, :, None]
                self.count += w.sum(-1, keepdim=True)
            self.key_sum += k.sum(2)
            self.key_outer += k.transpose(-1, -2) @ k
            self.value_sum += v.sum(2)
            self.key_value += k.transpose(-1, -2) @ v
            outer = (k.unsqueeze(-1) * k.unsqueeze(-2)).flatten(-2)  # (B, H, n, hd^2)
            self.key_key_value += outer.transpose(-1, -2) @ v

    def tail(self, a: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, valid: torch.Tensor) -> TailSums:
        """Taylor sums of all older keys except the retrieved ``keys``/``values`` (B, H, K, hd).

        ``a`` is the scaled query (B, H, hd); ``valid`` (B, H, K) marks real retrievals.
        """
        a = a.double()
        mask = valid.double().unsqueeze(-1)
        rk, rv = keys.double() * mask, values.double() * mask
        count = self.count - valid.sum(-1)
        key_sum = self.key_sum - rk.sum(2)
        center_score = (a * key_sum).sum(-1) / count.clamp(min=1)
        p = torch.einsum("bhkd,bhd->bhk", rk, a)  # retrieved keys' scores, 0 where not valid
        sum_p = (a * key_sum).sum(-1)
        sum_p2 = torch.einsum("bhi,bhij,bhj->bh", a, self.key_outer, a) - (p * p).sum(-1)
        sum_v = self.value_sum - rv.sum(2)
        sum_pv = torch.einsum("bhi,bhil->bhl", a, self.key_value) - torch.einsum("bhk,bhkd->bhd", p, rv)
        outer = (a.unsqueeze(-1) * a.unsqueeze(-2)).flatten(-2)
        sum_p2v = torch.einsum("bhm,bhml->bhl", outer, self.key_key_value) - torch.einsum("bhk,bhkd->bhd", p * p, rv)
        c = center_score
        sum_t = sum_p - count * c
        sum_t2 = sum_p2 - 2 * c * sum_p + count * c * c
        sum_tv = sum_pv - c.unsqueeze(-1) * sum_v
        sum_t2v = sum_p2v - 2 * c.unsqueeze(-1) * sum_pv + (c * c).unsqueeze(-1) * sum_v
        empty = count <= 0
        denominator = (count + sum_t + 0.5 * sum_t2).masked_fill(empty, 0.0)
        numerator = (sum_v + sum_tv + 0.5 * sum_t2v).masked_fill(empty.unsqueeze(-1), 0.0)
        return TailSums(numerator, denominator, c)


def decode_ids(
    q: torch.Tensor,
    indexes: list[list[KeyIndex]],
    length: int,
    config: KNNAttentionConfig,
    allowed: torch.Tensor | None,
) -> torch.Tensor:
    """Key ids (B, H, k + window) one decode step attends to: retrieved older keys, then the window."""
    batch, heads, _ = q.shape
    retrieved = retrieve_older(q, indexes, config.k, allowed)
    start = max(0, length - config.window)
    window = torch.arange(start, length, device=q.device).expand(batch, heads, -1)
    if allowed is not None:
        window = window.masked_fill(~allowed[:, start:].unsqueeze(1), -1)
    return torch.cat((retrieved, window), dim=-1)


class DecodeIndex:
    """Side state of one kNN attention layer while decoding with a KV cache.

    Holds a faiss index per sequence and head of the keys older than the window (and,
    with ``tail="taylor"``, their running moments); ``count`` keys are in it.
    """

    def __init__(self, config: KNNAttentionConfig, batch: int, heads: int, head_dim: int,
                 device: torch.device) -> None:
        self.config = config
        self.batch = batch
        self.indexes = [[new_key_index(head_dim, config) for _ in range(heads)] for _ in range(batch)]
        self.moments = TaylorMoments(batch, heads, head_dim, device) if config.tail == "taylor" else None
        self.count = 0

    def extend(self, keys: torch.Tensor, values: torch.Tensor, stop: int, allowed: torch.Tensor | None) -> None:
        """Add keys ``count .. stop - 1`` of the cache ``keys``/``values`` (B, H, S, hd)."""
        if stop <= self.count:
            return
        extend_key_indexes(self.indexes, keys, self.count, stop)
        if self.moments is not None:
            weight = None if allowed is None else allowed[:, self.count : stop]
            self.moments.add(keys[:, :, self.count : stop], values[:, :, self.count : stop], weight)
        self.count = stop

    def attend(
        self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float, allowed: torch.Tensor | None
    ) -> torch.Tensor:
        """One decode step: (B, H, hd) queries against the cache (B, H, S, hd); ``allowed`` (B, S) or None."""
        length = keys.shape[2]
        self.extend(keys, values, max(0, length - self.config.window), allowed)
        ids = decode_ids(q, self.indexes, length, self.config, allowed)
        tail = None
        if self.moments is not None:
            retrieved = ids[..., : self.config.k]
            index = retrieved.clamp(min=0).unsqueeze(-1).expand(-1, -1, -1, keys.shape[-1])
            tail = self.moments.tail(q * scale, keys.gather(2, index), values.gather(2, index), retrieved >= 0)
        return sparse_attend(q, keys, values, ids, scale, tail)


class KNNAttention(CausalSelfAttention):
    """Causal attention over the local window plus the top-k older keys (see the module doc).

    Its parameters are those of :class:`CausalSelfAttention`, so a dense checkpoint
    loads into it unchanged.
    """

    def __init__(self, config: ModelConfig, rope: RotaryEmbedding) -> None:
        super().__init__(config, rope)
        if config.knn_attention is None:
            raise ValueError("KNNAttention needs ModelConfig.knn_attention to be set")
        self.knn = config.knn_attention
        self.scale = self.head_dim ** -0.5
        self._state: DecodeIndex | None = None  # follows the KV cache while decoding
        self.memory: KNNMemory | None = None
        self.memory_k = 32
        self.memory_write = True

    def attach_memory(self, memory: KNNMemory | None, k: int = 32, write: bool = True) -> None:
        """Let queries also attend to the top-``k`` entries of an external memory.

        With ``write``, each forward call then appends its own keys and values to it.
        Pass None to detach.
        """
        if memory is not None and (memory.n_heads != self.n_heads or memory.head_dim != self.head_dim):
            raise ValueError(
                f"memory has {memory.n_heads} heads of size {memory.head_dim}, "
                f"this layer {self.n_heads} of size {self.head_dim}"
            )
        self.memory, self.memory_k, self.memory_write = memory, k, write

    def reset_index(self) -> None:
        """Drop the decoding index; the next cached step rebuilds it from the cache."""
        self._state = None

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: KVPair | None = None,
    ) -> tuple[torch.Tensor, KVPair]:
        batch, length, _ = x.shape
        q, k, v = self.qkv(x).split(self.n_heads * self.head_dim, dim=-1)
        q = self.rope(q.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2), positions)
        k = self.rope(k.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2), positions)
        v = v.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        new_k, new_v = k, v
        if past is None:
            self.reset_index()
        else:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        if past is not None and length == 1 and not self.training and self.memory is None:
            y = self._decode_step(q[:, :, 0], k, v, mask).unsqueeze(2)
        else:
            y = self._attend_exact(q, k, v, mask)
        if self.memory is not None and self.memory_write:
            self._write_memory(new_k, new_v, mask)
        y = y.transpose(1, 2).reshape(batch, length, -1)
        return self.out(y), (k, v)

    def _attend_exact(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Exact top-k in torch; gradients flow through the selected scores. (B, H, T, hd)."""
        length, total = q.shape[2], k.shape[2]
        query_index = torch.arange(total - length, total, device=q.device)
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # (B, H, T, S)
        allowed = causal_allowed(mask, query_index, total)
        selected = knn_attention_mask(scores, allowed, query_index, self.knn.k, self.knn.window)
        if self.knn.tail == "taylor":
            tail_logits = taylor_tail_logits(scores, q, k, allowed & ~selected, self.scale)
            scores = torch.where(selected, scores, tail_logits)
        else:
            scores = scores.masked_fill(~selected, float("-inf"))
        values = v
        if self.memory is not None:
            hits = self.memory.search(q, self.memory_k)
            memory_scores = torch.einsum("bhtd,bhtkd->bhtk", q, hits.keys) * self.scale
            scores = torch.cat((memory_scores.masked_fill(~hits.valid, float("-inf")), scores), dim=-1)
            weights = F.softmax(scores, dim=-1)
            weights = F.dropout(weights, self.dropout, self.training)
            from_memory = torch.einsum("bhtk,bhtkd->bhtd", weights[..., : hits.keys.shape[3]], hits.values)
            return from_memory + torch.matmul(weights[..., hits.keys.shape[3]:], values)
        weights = F.dropout(F.softmax(scores, dim=-1), self.dropout, self.training)
        return torch.matmul(weights, values)

    def _decode_step(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """One query per sequence: search the index of older keys, attend to those plus the window."""
        batch, heads, total, head_dim = k.shape
        older = max(0, total - self.knn.window)
        if self._state is None or self._state.batch != batch or self._state.count > older:
            self._state = DecodeIndex(self.knn, batch, heads, head_dim, k.device)
        allowed = None if mask is None else mask[:, 0, -1, :]  # (B, S)
        return self._state.attend(q, k, v, self.scale, allowed)

    def _write_memory(self, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> None:
        assert self.memory is not None
        if mask is not None:
            real = mask[:, 0].any(dim=1)[:, -keys.shape[2]:]  # (B, T): keys some query may see
            for b in range(keys.shape[0]):
                self.memory.add_row(b, keys[b][:, real[b]], values[b][:, real[b]])
            return
        self.memory.add(keys, values)


@dataclass
class MemoryHits:
    """Entries retrieved from a :class:`KNNMemory` for each query."""

    keys: torch.Tensor  # (B, H, T, K, hd)
    values: torch.Tensor  # (B, H, T, K, hd)
    valid: torch.Tensor  # (B, H, T, K) bool; False where a row holds fewer than K entries
    ids: torch.Tensor  # (B, H, T, K) entry ids within the row and head, -1 where not valid


class KNNMemory:
    """External key/value memory: one faiss index per sequence (batch row) and head.

    Rows never share an index, so a search for row b only returns entries written by
    row b. ``reset(rows)`` clears chosen rows when their documents end. ``save`` and
    ``load`` keep it on disk: one faiss index file per row and head, the keys and
    values as ``.npy`` arrays and ``memory.json`` with the layout, written to a
    temporary folder that is then renamed into place.
    """

    def __init__(
        self,
        batch: int,
        n_heads: int,
        head_dim: int,
        kind: IndexKind = "exact",
        hnsw_m: int = 16,
        ef_search: int = 64,
        nlist: int = 64,
        nprobe: int = 8,
    ) -> None:
        if batch <= 0 or n_heads <= 0 or head_dim <= 0:
            raise ValueError(f"batch, n_heads and head_dim must be positive, got {batch}, {n_heads}, {head_dim}")
        self.batch, self.n_heads, self.head_dim, self.kind = batch, n_heads, head_dim, kind
        self.options = {"hnsw_m": hnsw_m, "ef_search": ef_search, "nlist": nlist, "nprobe": nprobe}
        self.indexes = [[self._new_index() for _ in range(n_heads)] for _ in range(batch)]
        self.keys = [[np.zeros((0, head_dim), np.float32) for _ in range(n_heads)] for _ in range(batch)]
        self.values = [[np.zeros((0, head_dim), np.float32) for _ in range(n_heads)] for _ in range(batch)]

    def _new_index(self) -> KeyIndex:
        return KeyIndex(self.head_dim, self.kind, **self.options)

    def size(self, row: int) -> int:
        """Entries held for sequence ``row`` (per head)."""
        return len(self.keys[row][0])

    def add(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append ``keys`` and ``values`` (B, H, n, hd), row b to sequence b's memory."""
        self._check(keys, "keys", batched=True)
        self._check(values, "values", batched=True)
        for b in range(self.batch):
            self.add_row(b, keys[b], values[b])

    def add_row(self, row: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append ``keys`` and ``values`` (H, n, hd) to sequence ``row`` only."""
        if not 0 <= row < self.batch:
            raise IndexError(f"row {row} outside 0..{self.batch - 1}")
        self._check(keys, "keys", batched=False)
        key_block = keys.detach().float().cpu().numpy()
        value_block = values.detach().float().cpu().numpy()
        for h in range(self.n_heads):
            self.indexes[row][h].add(key_block[h])
            self.keys[row][h] = np.concatenate((self.keys[row][h], key_block[h]))
            self.values[row][h] = np.concatenate((self.values[row][h], value_block[h]))

    def _check(self, tensor: torch.Tensor, name: str, batched: bool) -> None:
        expected = (self.batch, self.n_heads) if batched else (self.n_heads,)
        if tensor.dim() != len(expected) + 2 or tuple(tensor.shape[: len(expected)]) != expected \
                or tensor.shape[-1] != self.head_dim:
            raise ValueError(
                f"{name} must have shape {(*expected, 'n', self.head_dim)}, got {tuple(tensor.shape)}"
            )

    def search(self, queries: torch.Tensor, k: int) -> MemoryHits:
        """Top-``k`` entries by inner product for ``queries`` (B, H, T, hd) within each row."""
        self._check(queries, "queries", batched=True)
        batch, heads, length, dim = queries.shape
        flat = queries.detach().float().cpu().numpy()
        ids = np.full((batch, heads, length, k), -1, dtype=np.int64)
        keys = np.zeros((batch, heads, length, k, dim), np.float32)
        values = np.zeros_like(keys)
        for b in range(batch):
            for h in range(heads):
                _, found = self.indexes[b][h].search(flat[b, h], k)
                if found.size == 0:
                    continue
                width = found.shape[1]
                ids[b, h, :, :width] = found
                safe = np.maximum(found, 0)
                keys[b, h, :, :width] = self.keys[b][h][safe]
                values[b, h, :, :width] = self.values[b][h][safe]
        device, dtype = queries.device, queries.dtype
        valid = torch.from_numpy(ids >= 0).to(device)
        return MemoryHits(torch.from_numpy(keys).to(device, dtype), torch.from_numpy(values).to(device, dtype),
                          valid, torch.from_numpy(ids).to(device))

    def reset(self, rows: list[int] | None = None) -> None:
        """Forget the entries of ``rows`` (default: every row)."""
        for row in range(self.batch) if rows is None else rows:
            if not 0 <= row < self.batch:
                raise IndexError(f"row {row} outside 0..{self.batch - 1}")
            self.indexes[row] = [self._new_index() for _ in range(self.n_heads)]
            self.keys[row] = [np.zeros((0, self.head_dim), np.float32) for _ in range(self.n_heads)]
            self.values[row] = [np.zeros((0, self.head_dim), np.float32) for _ in range(self.n_heads)]

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the memory to ``directory`` (replaced as a whole, never half-written)."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for b in range(self.batch):
                for h in range(self.n_heads):
                    faiss.write_index(self.indexes[b][h].index, str(staging / f"index_{b}_{h}.faiss"))
                    np.save(staging / f"keys_{b}_{h}.npy", self.keys[b][h])
                    np.save(staging / f"values_{b}_{h}.npy", self.values[b][h])
            meta = {"format": MEMORY_FORMAT_VERSION, "batch": self.batch, "n_heads": self.n_heads,
                    "head_dim": self.head_dim, "kind": self.kind, "options": self.options,
                    "sizes": [self.size(b) for b in range(self.batch)]}
            (staging / "memory.json").write_text(json.dumps(meta, indent=2))
            from neurosym.checkpoint import _swap_in

            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> KNNMemory:
        """Read a memory written by :meth:`save`; a missing or inconsistent file raises CheckpointError."""
        folder = Path(directory)
        meta_path = folder / "memory.json"
        try:
            meta = json.loads(meta_path.read_text())
            memory = cls(meta["batch"], meta["n_heads"], meta["head_dim"], meta["kind"], **meta["options"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"cannot read KNN memory metadata {meta_path}: {exc}") from exc
        if meta.get("format") != MEMORY_FORMAT_VERSION:
            raise CheckpointError(f"{meta_path} has format {meta.get('format')!r}, expected {MEMORY_FORMAT_VERSION}")
        for b in range(memory.batch):
            for h in range(memory.n_heads):
                memory._load_head(folder, b, h, meta["sizes"][b])
        return memory

    def _load_head(self, folder: Path, b: int, h: int, size: int) -> None:
        path = folder / f"index_{b}_{h}.faiss"
        try:
            index = faiss.read_index(str(path))
            keys = np.load(folder / f"keys_{b}_{h}.npy", allow_pickle=False)
            values = np.load(folder / f"values_{b}_{h}.npy", allow_pickle=False)
        except (OSError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"cannot read KNN memory files for row {b}, head {h} in {folder}: {exc}") from exc
        shapes_ok = keys.shape == (size, self.head_dim) and values.shape == keys.shape
        if not shapes_ok or index.ntotal != size or index.d != self.head_dim:
            raise CheckpointError(
                f"KNN memory row {b}, head {h} in {folder} is inconsistent: index holds {index.ntotal} keys "
                f"of dim {index.d}, arrays {keys.shape} and {values.shape}, metadata says {size}"
            )
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = self.options["ef_search"]
        elif isinstance(index, faiss.IndexIVF):
            index.nprobe = self.options["nprobe"]
        self.indexes[b][h].index = index
        self.keys[b][h], self.values[b][h] = keys, values
