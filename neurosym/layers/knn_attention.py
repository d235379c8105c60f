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
moments of the keys in O(hd^3) per head (the idea of Taylor linear attention).

Decoding keeps the older keys of every sequence and head in a faiss index (exact,
HNSW or IVF) that follows the KV cache. The index is dropped when a forward call
starts without a cache, and each decode step adds the keys that have just left the
window. With k + window >= S, A(i) contains every key and the layer equals dense
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

    ``scores`` (.., T, S) are the query-key scores. ``allowed`` (broadcastable) marks
    the keys a query may attend to (causal and not padding). ``query_index`` (T,) is
    each query's position among the S keys.
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


def new_key_index(head_dim: int, config: KNNAttentionConfig) -> KeyIndex:
    return KeyIndex(head_dim, config.index, hnsw_m=config.hnsw_m, ef_search=config.ef_search,
                    nlist=config.ivf_nlist, nprobe=config.ivf_nprobe)


def taylor_tail_logits(
    scores: torch.Tensor, q: torch.Tensor, keys: torch.Tensor, tail: torch.Tensor, scale: float
) -> torch.Tensor:
    """Return logits (B, H, T, S) that give each tail key the weight exp(s_c) (1 + t + t^2 / 2).

    ``tail`` marks, per query, the allowed keys that are neither retrieved nor in the
    window. c is their mean key, s_c = q . c * scale and t = s - s_c. The polynomial is
    positive for every t, so its logarithm exists. Other entries are -inf.
    """
    count = tail.sum(-1, keepdim=True).clamp(min=1)
    center = torch.matmul(tail.to(keys.dtype), keys) / count  # (B, H, T, hd)
    center_score = (q * center).sum(-1, keepdim=True) * scale
    offset = scores - center_score
    logits = center_score + torch.log1p(offset + 0.5 * offset * offset)
    return logits.masked_fill(~tail, float("-inf"))


def _as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Return ``tensor`` as float32 numpy, a view unless it lives off the CPU or in another dtype."""
    return tensor.detach().float().cpu().numpy()


class TaylorMoments:
    """Running moments of the older keys and values, per sequence and head, in float64.

    With phi(k) = [1, k, vec(k k^T)], it keeps M = sum_j phi(k_j) [1, v_j]^T, shape
    (1 + hd + hd^2, 1 + hd). For a tail centre score s_c and p = a . k (a the scaled
    query), 1 + t + t^2/2 with t = p - s_c equals alpha0 + alpha1 p + p^2/2, where
    alpha1 = 1 - s_c and alpha0 = 1 - s_c + s_c^2/2. So the Taylor sums of all older
    keys are one product psi^T M with psi = [alpha0, alpha1 a, vec(a a^T)/2], O(hd^3)
    per head whatever the number of keys. The retrieved keys' own terms are then
    subtracted.
    """

    BLOCK = 256  # pending keys kept before they are folded into the moments

    def __init__(self, batch: int, heads: int, dim: int) -> None:
        self.dim = dim
        self.sums = np.zeros((batch, heads, 1 + dim + dim * dim, 1 + dim))
        # Keys not yet folded into ``sums`` enter each tail explicitly, because folding one
        # key at a time costs a full (1 + hd + hd^2) x (1 + hd) update per decode step.
        self.pending_keys = np.zeros((batch, heads, 0, dim))
        self.pending_right = np.zeros((batch, heads, 0, 1 + dim))  # [w, w v] with w = 0 for padding

    @staticmethod
    def features(keys: np.ndarray) -> np.ndarray:
        """Return phi(k) = [1, k, vec(k k^T)] for keys (..., n, hd), as (..., n, 1 + hd + hd^2)."""
        outer = (keys[..., :, None] * keys[..., None, :]).reshape(*keys.shape[:-1], -1)
        return np.concatenate((np.ones_like(keys[..., :1]), keys, outer), axis=-1)

    def add(self, keys: np.ndarray, values: np.ndarray, weight: np.ndarray | None = None) -> None:
        """Add ``keys`` and ``values`` (B, H, n, hd). A ``weight`` (B, n) of 0 leaves padding out."""
        values = values.astype(np.float64)
        w = np.ones_like(values[..., :1]) if weight is None else np.broadcast_to(
            weight[:, None, :, None], values[..., :1].shape)
        right = np.concatenate((w, values * w), axis=-1)
        self.pending_keys = np.concatenate((self.pending_keys, keys.astype(np.float64)), axis=2)
        self.pending_right = np.concatenate((self.pending_right, right), axis=2)
        if self.pending_keys.shape[2] >= self.BLOCK:
            self.flush()

    def flush(self) -> None:
        """Fold the pending keys into the moments."""
        for start in range(0, self.pending_keys.shape[2], 1024):
            phi = self.features(self.pending_keys[:, :, start : start + 1024])
            self.sums += np.swapaxes(phi, -1, -2) @ self.pending_right[:, :, start : start + 1024]
        self.pending_keys = self.pending_keys[:, :, :0]
        self.pending_right = self.pending_right[:, :, :0]

    def tail(
        self, a: np.ndarray, keys: np.ndarray, values: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return Taylor sums of all older keys except the retrieved ``keys``/``values`` (B, H, K, hd).

        ``a`` is the scaled query (B, H, hd), and ``valid`` (B, H, K) marks real retrievals.
        Returns (numerator (B, H, hd), denominator (B, H), s_c (B, H)). The caller
        multiplies the sums by exp(s_c).
        """
        a = a.astype(np.float64)
        mask = valid.astype(np.float64)[..., None]
        retrieved_keys = keys * mask
        right = np.concatenate((mask, values * mask), axis=-1)  # (B, H, K, 1 + hd)
        pending_weight = self.pending_right[..., :1]
        count = self.sums[..., 0, 0] + pending_weight.sum((2, 3)) - valid.sum(-1)
        key_sum = self.sums[..., 1 : 1 + self.dim, 0] + (pending_weight * self.pending_keys).sum(2) - retrieved_keys.sum(2)
        center = (a * key_sum).sum(-1) / np.maximum(count, 1)  # s_c: the score of the tail's mean key
        alpha0 = 1 - center + 0.5 * center * center
        alpha1 = 1 - center
        outer = (a[..., :, None] * a[..., None, :]).reshape(*a.shape[:-1], -1)
        psi = np.concatenate((alpha0[..., None], alpha1[..., None] * a, 0.5 * outer), axis=-1)
        totals = (psi[..., None, :] @ self.sums)[..., 0, :]  # (B, H, 1 + hd), the folded keys
        p = (self.pending_keys @ a[..., None])[..., 0]
        poly = alpha0[..., None] + alpha1[..., None] * p + 0.5 * p * p
        totals = totals + (poly[..., None, :] @ self.pending_right)[..., 0, :]  # now all older keys
        p = (retrieved_keys @ a[..., None])[..., 0]  # (B, H, K)
        poly = alpha0[..., None] + alpha1[..., None] * p + 0.5 * p * p
        totals = totals - (poly[..., None, :] @ right)[..., 0, :]
        totals[count <= 0] = 0.0
        return totals[..., 1:], totals[..., 0], center


class DecodeIndex:
    """Side state of one kNN attention layer while decoding with a KV cache.

    Contains a faiss index per sequence and head of the keys older than the window,
    and their running moments with ``tail="taylor"``. ``count`` keys are in it. A decode
    step runs in numpy on the CPU, because faiss needs the query there anyway and small
    numpy operations cost less than torch's per-call overhead.
    """

    def __init__(self, config: KNNAttentionConfig, batch: int, heads: int, head_dim: int) -> None:
        self.config = config
        self.batch = batch
        self.indexes = [[new_key_index(head_dim, config) for _ in range(heads)] for _ in range(batch)]
        self.moments = TaylorMoments(batch, heads, head_dim) if config.tail == "taylor" else None
        self.count = 0

    def extend(self, keys: torch.Tensor, values: torch.Tensor, stop: int, allowed: torch.Tensor | None) -> None:
        """Add keys ``count .. stop - 1`` of the cache ``keys``/``values`` (B, H, S, hd)."""
        if stop <= self.count:
            return
        block = _as_numpy(keys[:, :, self.count : stop])
        for b, row in enumerate(self.indexes):
            for h, index in enumerate(row):
                index.add(block[b, h])
        if self.moments is not None:
            weight = None if allowed is None else allowed[:, self.count : stop].cpu().numpy().astype(np.float64)
            self.moments.add(block, _as_numpy(values[:, :, self.count : stop]), weight)
        self.count = stop

    def select(self, q: np.ndarray, length: int, allowed: np.ndarray | None) -> np.ndarray:
        """Return key ids (B, H, k + window) for queries ``q`` (B, H, hd): retrieved older keys, then the window.

        -1 is padding. ``allowed`` (B, S) marks real keys, so that padding keys are never chosen.
        """
        batch, heads, _ = q.shape
        k, window = self.config.k, self.config.window
        ids = np.full((batch, heads, k), -1, dtype=np.int64)
        for b in range(batch):
            extra = 0 if allowed is None else int((~allowed[b]).sum())
            for h in range(heads):
                _, found = self.indexes[b][h].search(q[b, h : h + 1], k + extra)
                found = found[0][found[0] >= 0]
                if allowed is not None:
                    found = found[allowed[b, found]]
                found = found[:k]
                ids[b, h, : len(found)] = found
        start = max(0, length - window)
        recent = np.broadcast_to(np.arange(start, length), (batch, heads, length - start)).copy()
        if allowed is not None:
            recent[~np.broadcast_to(allowed[:, None, start:length], recent.shape)] = -1
        return np.concatenate((ids, recent), axis=-1)

    def attend(
        self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float, allowed: torch.Tensor | None
    ) -> torch.Tensor:
        """Run one decode step of queries (B, H, hd) against the cache (B, H, S, hd).

        ``allowed`` is (B, S) or None.
        """
        batch, heads, length, _ = keys.shape
        self.extend(keys, values, max(0, length - self.config.window), allowed)

        allowed_np = None if allowed is None else allowed.cpu().numpy()
        query = _as_numpy(q)
        ids = self.select(query, length, allowed_np)
        valid = ids >= 0
        rows = np.arange(batch)[:, None, None]
        columns = np.arange(heads)[None, :, None]
        safe = np.maximum(ids, 0)
        # NOTE: on a GPU, or with a bf16 cache, _as_numpy copies the whole cache at every
        # step. Gathering the chosen rows on the device first would avoid that.
        chosen_k = _as_numpy(keys)[rows, columns, safe].astype(np.float64)  # (B, H, K, hd)
        chosen_v = _as_numpy(values)[rows, columns, safe].astype(np.float64)
        a = query.astype(np.float64) * scale
        scores = (chosen_k @ a[..., None])[..., 0]
        scores[~valid] = -np.inf
        shift = scores.max(-1)
        if self.moments is not None:
            k = self.config.k
            tail_numerator, tail_denominator, center = self.moments.tail(
                a, chosen_k[:, :, :k], chosen_v[:, :, :k], valid[:, :, :k])
            shift = np.maximum(shift, center)
        weights = np.exp(scores - shift[..., None])
        numerator = (weights[..., None, :] @ chosen_v)[..., 0, :]
        denominator = weights.sum(-1)
        if self.moments is not None:
            tail_scale = np.exp(center - shift)
            numerator = numerator + tail_scale[..., None] * tail_numerator
            denominator = denominator + tail_scale * tail_denominator
        out = numerator / denominator[..., None]
        return torch.from_numpy(out).to(device=q.device, dtype=q.dtype)


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
        """Drop the decoding index, so the next cached step rebuilds it from the cache."""
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
        # NOTE: with an external memory attached, decoding takes the exact O(S) path at every
        # step, because the faiss decoding index does not combine with memory hits yet.
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
        """Attend (B, H, T, hd) with an exact top-k in torch, so gradients flow through the selected scores."""
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
        """Attend from one query per sequence to its retrieved older keys plus the window."""
        batch, heads, total, head_dim = k.shape
        older = max(0, total - self.knn.window)
        if self._state is None or self._state.batch != batch or self._state.count > older:
            self._state = DecodeIndex(self.knn, batch, heads, head_dim)
        allowed = None if mask is None else mask[:, 0, -1, :]  # (B, S)
        return self._state.attend(q, k, v, self.scale, allowed)

    def _write_memory(self, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> None:
        assert self.memory is not None
        if mask is not None:
            real = mask[:, 0].any(dim=1)[:, -keys.shape[2]:]  # (B, T): keys some query can attend to
            for b in range(keys.shape[0]):
                self.memory.add_row(b, keys[b][:, real[b]], values[b][:, real[b]])
            return
        self.memory.add(keys, values)


@dataclass
class MemoryHits:
    """Entries retrieved from a :class:`KNNMemory` for each query."""

    keys: torch.Tensor  # (B, H, T, K, hd)
    values: torch.Tensor  # (B, H, T, K, hd)
    valid: torch.Tensor  # (B, H, T, K) bool, False where a row has fewer than K entries
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
        """Return the number of entries stored for sequence ``row`` (per head)."""
        return len(self.keys[row][0])

    def add(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append ``keys`` and ``values`` (B, H, n, hd), with row b going to sequence b's memory."""
        self._check(keys, "keys", batched=True)
        self._check(values, "values", batched=True)
        for b in range(self.batch):
            self.add_row(b, keys[b], values[b])

    def add_row(self, row: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Append ``keys`` and ``values`` (H, n, hd) to sequence ``row`` only."""
        if not 0 <= row < self.batch:
            raise IndexError(f"row {row} is outside 0..{self.batch - 1}")
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
        """Search the top-``k`` entries by inner product for ``queries`` (B, H, T, hd) within each row."""
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
                raise IndexError(f"row {row} is outside 0..{self.batch - 1}")
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
            from neurosym.checkpoint import swap_in_folder

            swap_in_folder(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> KNNMemory:
        """Read a memory written by :meth:`save`. A missing or inconsistent file raises CheckpointError."""
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
                f"KNN memory row {b}, head {h} in {folder} is inconsistent: index contains {index.ntotal} keys "
                f"of dim {index.d}, arrays {keys.shape} and {values.shape}, metadata says {size}"
            )
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = self.options["ef_search"]
        elif isinstance(index, faiss.IndexIVF):
            index.nprobe = self.options["nprobe"]
        self.indexes[b][h].index = index
        self.keys[b][h], self.values[b][h] = keys, values
