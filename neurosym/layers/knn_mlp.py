"""kNN MLP: a ReLU MLP that computes only the k neurons with the largest pre-activation.

Shapes: M tokens (batch and time flattened), D model width, N neurons, K neurons kept
per token, C = sqrt(N) sub-keys per half for product keys.

With W_in (N, D) and W_out (D, N), the dense ReLU MLP is y = W_out relu(W_in x). Since
relu keeps only positive pre-activations, the neurons that matter are those with the
largest s_n = w_n . x, a maximum-inner-product search over the rows of W_in:

    S(x) = top_k { n : w_n . x },    y = sum_{n in S(x)} relu(w_n . x) W_out[:, n]

Training masks to the exact top-k (gradients flow through the kept neurons). At
inference the back-end finds S(x):

- ``exact``: score all N neurons, then keep the top k (reference, O(N D));
- ``faiss``: HNSW search over the rows of W_in (approximate; the reference back-end);
- ``product_keys`` (Lample et al. 2019, arXiv:1907.05242): W_in is not stored as N
  free rows but as two sub-key tables K1, K2 (C, D/2) with w_{(i,j)} = [K1_i ; K2_j].
  Then s_{(i,j)} = K1_i . x_1 + K2_j . x_2, and the exact top-k over all N = C^2
  neurons lies among the pairs whose ranks a, b in the sorted half-scores satisfy
  (a + 1)(b + 1) <= k: O(C D + k log k) instead of O(N D).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import KNNMLPConfig, ModelConfig
from neurosym.layers.knn_index import KeyIndex

GATHER_MAX_TOKENS = 8  # estimate: beyond this many tokens a masked dense product beats gathering rows


def _cache_key(weight: torch.Tensor) -> tuple[int, int]:
    """Changes whenever ``weight`` is replaced or modified in place (optimizer step, load_state_dict)."""
    return weight.data_ptr(), weight._version


class _GatherRows:
    """Keeps W_out transposed to (N, D) and contiguous, so that gathering neurons reads whole rows."""

    down: nn.Linear
    _rows: torch.Tensor | None = None
    _rows_key: tuple[int, int] | None = None

    def down_rows(self) -> torch.Tensor:
        key = _cache_key(self.down.weight)
        if self._rows is None or self._rows_key != key:
            self._rows = self.down.weight.detach().t().contiguous()
            self._rows_key = key
        return self._rows


class KNNMLP(_GatherRows, nn.Module):
    """ReLU MLP with top-k neurons per token; parameters ``up`` and ``down`` as in ReLUMLP.

    ``backend`` is ``exact`` or ``faiss`` (see the module doc); a dense ReLU checkpoint
    loads into it unchanged.
    """

    def __init__(self, d_model: int, hidden: int, config: KNNMLPConfig) -> None:
        super().__init__()
        if config.backend == "product_keys":
            raise ValueError("use ProductKeyMLP for the product_keys back-end (build_knn_mlp picks it)")
        self.up = nn.Linear(d_model, hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)
        self.k = config.neurons(hidden)
        self.backend = config.backend
        self.hnsw_m, self.ef_search = config.hnsw_m, config.ef_search
        self._index: KeyIndex | None = None
        self._index_key: tuple[int, int] | None = None

    @property
    def hidden(self) -> int:
        return self.up.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.backend == "exact":
            return self.down(self.masked_activations(x))
        ids = self.select(x.reshape(-1, x.shape[-1]))
        return self.compute_selected(x, ids)

    def masked_activations(self, x: torch.Tensor) -> torch.Tensor:
        """relu(W_in x) with all but the top-k neurons of each token set to zero; (..., N)."""
        hidden = F.relu(self.up(x))
        if self.k >= self.hidden:
            return hidden
        top = hidden.topk(self.k, dim=-1)
        return torch.zeros_like(hidden).scatter(-1, top.indices, top.values)

    def select(self, x: torch.Tensor) -> torch.Tensor:
        """Neuron ids (M, K) the back-end retrieves for tokens ``x`` (M, D); -1 pads."""
        if self.backend == "exact":
            return self.up(x).topk(self.k, dim=-1).indices
        index = self.faiss_index()
        _, ids = index.search(x.detach().float().cpu().numpy(), self.k)
        if ids.shape[1] < self.k:
            ids = np.pad(ids, ((0, 0), (0, self.k - ids.shape[1])), constant_values=-1)
        return torch.from_numpy(ids).to(x.device)

    def faiss_index(self) -> KeyIndex:
        """HNSW index over the rows of W_in, rebuilt when the weights change."""
        key = _cache_key(self.up.weight)
        if self._index is None or self._index_key != key:
            self._index = KeyIndex(self.up.in_features, "hnsw", hnsw_m=self.hnsw_m, ef_search=self.ef_search)
            self._index.add(self.up.weight.detach().float().cpu().numpy())
            self._index_key = key
        return self._index

    def compute_selected(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """y = sum over the neurons ``ids`` (M, K) of relu(w_n . x) W_out[:, n]; x is (..., D)."""
        flat = x.reshape(-1, x.shape[-1])
        valid = ids >= 0
        safe = ids.clamp(min=0)
        if flat.shape[0] > GATHER_MAX_TOKENS:
            # Many tokens: one dense product then a mask gives the same sum faster than gathers.
            hidden = F.relu(self.up(flat))
            keep = torch.zeros_like(hidden, dtype=torch.bool).scatter(-1, safe, valid)
            return self.down(hidden * keep).reshape(x.shape)
        w_in = self.up.weight[safe]  # (M, K, D)
        activation = F.relu(torch.einsum("mkd,md->mk", w_in, flat)) * valid
        out = weighted_rows(self.down_rows().to(x.dtype), safe, activation)
        return out.reshape(x.shape)


def weighted_rows(rows: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_k weights[m, k] rows[ids[m, k]] for ids and weights (M, K); (M, D).

    embedding_bag gathers and sums in one pass, without materializing the (M, K, D) rows.
    """
    return F.embedding_bag(ids, rows, per_sample_weights=weights, mode="sum")


def pair_ranks(k: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank pairs (a, b), 0-based, with (a + 1)(b + 1) <= k and a, b < side.

    The exact top-k of s1[i] + s2[j] over all pairs lies among them: a pair ranked
    (a, b) is beaten by the (a + 1)(b + 1) - 1 pairs with both ranks no larger.
    """
    first, second = [], []
    for a in range(min(k, side)):
        count = min(side, k // (a + 1))
        first.append(torch.full((count,), a, dtype=torch.long))
        second.append(torch.arange(count, dtype=torch.long))
    return torch.cat(first), torch.cat(second)


class ProductKeyMLP(_GatherRows, nn.Module):
    """ReLU MLP whose W_in is a product of two sub-key tables (see the module doc).

    Parameters: ``keys1`` and ``keys2`` (C, D/2) and ``down`` (a Linear from N = C^2
    neurons to D). Neuron n = i * C + j has w_n = [keys1[i]; keys2[j]].
    """

    def __init__(self, d_model: int, hidden: int, config: KNNMLPConfig) -> None:
        super().__init__()
        side = math.isqrt(hidden)
        if side * side != hidden or d_model % 2:
            raise ValueError(f"product keys need a square hidden width and an even d_model, got {hidden}, {d_model}")
        self.side, self.half = side, d_model // 2
        self.keys1 = nn.Parameter(torch.randn(side, self.half) * 0.02)
        self.keys2 = nn.Parameter(torch.randn(side, self.half) * 0.02)
        self.down = nn.Linear(hidden, d_model, bias=False)
        self.k = config.neurons(hidden)
        self.backend = config.backend
        first, second = pair_ranks(self.k, side)
        self.register_buffer("rank_first", first, persistent=False)
        self.register_buffer("rank_second", second, persistent=False)

    @property
    def hidden(self) -> int:
        return self.side * self.side

    def dense_weight(self) -> torch.Tensor:
        """Materialize the full W_in (N, D) of the sub-keys; row i * C + j is [keys1[i]; keys2[j]]."""
        left = self.keys1.unsqueeze(1).expand(-1, self.side, -1)
        right = self.keys2.unsqueeze(0).expand(self.side, -1, -1)
        return torch.cat((left, right), dim=-1).reshape(self.hidden, -1)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Compute every neuron's pre-activation (..., N) through the two half-products."""
        s1 = x[..., : self.half] @ self.keys1.t()
        s2 = x[..., self.half :] @ self.keys2.t()
        return (s1.unsqueeze(-1) + s2.unsqueeze(-2)).flatten(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.down(self.masked_activations(x))
        flat = x.reshape(-1, x.shape[-1])
        ids, values = self.retrieve(flat)
        out = weighted_rows(self.down_rows().to(x.dtype), ids, F.relu(values))
        return out.reshape(x.shape)

    def masked_activations(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(self.scores(x))
        if self.k >= self.hidden:
            return hidden
        top = hidden.topk(self.k, dim=-1)
        return torch.zeros_like(hidden).scatter(-1, top.indices, top.values)

    def retrieve(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Find the exact top-k neuron ids and pre-activations, each (M, K), for tokens ``x`` (M, D)."""
        v1, i1 = (x[:, : self.half] @ self.keys1.t()).sort(dim=-1, descending=True)
        v2, i2 = (x[:, self.half :] @ self.keys2.t()).sort(dim=-1, descending=True)
        candidates = v1[:, self.rank_first] + v2[:, self.rank_second]  # (M, P)
        values, best = candidates.topk(self.k, dim=-1)
        ids = i1.gather(1, self.rank_first[best]) * self.side + i2.gather(1, self.rank_second[best])
        return ids, values

    def select(self, x: torch.Tensor) -> torch.Tensor:
        return self.retrieve(x)[0]

def build_knn_mlp(config: ModelConfig) -> nn.Module:
    """Build the kNN MLP of ``config.knn_mlp`` (validated by ModelConfig)."""
    assert config.knn_mlp is not None
    if config.knn_mlp.backend == "product_keys":
        return ProductKeyMLP(config.d_model, config.hidden_dim, config.knn_mlp)
    return KNNMLP(config.d_model, config.hidden_dim, config.knn_mlp)


def exact_top_k(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Ids (M, K) of the exact top-k neurons for tokens ``x`` (M, D), by scoring every neuron."""
    scores = mlp.scores(x) if isinstance(mlp, ProductKeyMLP) else mlp.up(x)
    return scores.topk(mlp.k, dim=-1).indices


def top_k_recall(found: torch.Tensor, exact: torch.Tensor, hidden: int) -> float:
    """Mean fraction of the exact ids (M, K) that ``found`` (M, K') contains; ids < ``hidden``, -1 ignored."""
    marks = torch.zeros(found.shape[0], hidden + 1, dtype=torch.bool, device=found.device)
    marks.scatter_(1, torch.where(found < 0, hidden, found), True)
    return float(marks.gather(1, exact).float().mean())
