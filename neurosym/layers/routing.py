"""Conditional depth: early exit, skip-layer and mixture-of-depths.

Dimension legend: B batch, T tokens in this call, S keys (cache plus new), D model
width, V vocabulary, k tokens routed through a block, L blocks.

All three features decide per token whether a block runs. A token that does not run
a block keeps its hidden state (the residual path). Later tokens still attend to it:
its keys and values at every later block come from the last hidden state it computed
(the state is copied forward), as in CALM (Schuster et al. 2022, arXiv:2207.07061).
Every decision reads the token's own state only, and a token's state depends only on
earlier tokens, so the rules are causal at inference. The one exception is the top-k
router of mixture-of-depths during training. It reads the whole sequence, so a causal
predictor replaces it at inference (Raposo et al. 2024, arXiv:2404.02258).

- Early exit: after each exit block l, logits_l = W_out Norm_l(h_l) through the shared
  LM head with the block's own norm. A token stops when conf(softmax(logits_l)) >
  threshold, where conf is max_v p_v (``max_prob``) or 1 - H(p) / log V (``entropy``);
  both lie in [0, 1], so threshold 1.0 never exits. Training adds the auxiliary loss
  ``early_exit`` = loss_weight * sum_l w_l CE(logits_l), with w_l proportional to l + 1.
- Skip-layer: ``static`` blocks never run. With ``dynamic``, block l is skipped for a
  token when the previous block it ran barely changed it: cos(h_in, h_out) > similarity
  predicts that block l would change it as little (an estimate, not a learned part).
  Dynamic skipping applies at inference only.
- Mixture-of-depths: a router r_t = w_r . h_t per routed block. Training sends the top
  ceil(capacity * T) tokens of each sequence through the block, gathered. It writes
  h_t + sigmoid(r_t) * (f(h)_t - h_t) back so that the router trains, and the other
  tokens keep h_t.
  A small MLP predictor, trained with binary cross-entropy on the top-k choices from a
  detached input (auxiliary loss ``mod_predictor_<l>``), makes the choice at inference:
  token t runs the block when predictor(h_t) > 0, and routed tokens attend only to
  routed keys, as in training. Capacity 1.0 routes nothing: the block is dense.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import ModelConfig
from neurosym.layers.attention import CausalSelfAttention
from neurosym.layers.norm import RMSNorm

if TYPE_CHECKING:
    from neurosym.model import ForwardContext, TransformerPlus

IGNORE_INDEX = -100

# Cache entry of a block: (keys, values), or (keys, values, routed keys (B, S) bool) for
# a routed block. It is None for a block that is skipped statically.
CacheEntry = tuple[torch.Tensor, ...] | None


class MoDRouter(nn.Module):
    """Router score r_t = w . h_t and its causal predictor, an MLP on the detached h_t."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        hidden = max(8, d_model // 8)
        self.router = nn.Linear(d_model, 1, bias=False)
        self.predictor = nn.Sequential(nn.Linear(d_model, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Return the router logits (B, T) for hidden states (B, T, D)."""
        return self.router(x).squeeze(-1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Return the predictor logits (B, T). A logit > 0 means "route this token"."""
        return self.predictor(x.detach()).squeeze(-1)


@dataclass
class DepthStats:
    """Counts of tokens and block evaluations over eval-mode forward passes."""

    tokens: int = 0
    block_evaluations: int = 0

    @property
    def layers_per_token(self) -> float:
        return self.block_evaluations / self.tokens if self.tokens else 0.0

    def reset(self) -> None:
        self.tokens = 0
        self.block_evaluations = 0


class DepthControl(nn.Module):
    """Parameters of the conditional-depth features: exit norms and routers.

    The LM head is shared with the final output, and each exit block gets its own norm.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        exit_layers = config.early_exit.exit_layers(config.n_layers) if config.early_exit else []
        self.exit_norms = nn.ModuleDict({str(i): RMSNorm(config.d_model, config.norm_eps) for i in exit_layers})
        mod = config.mixture_of_depths
        routed = [i for i in range(config.n_layers) if mod is not None and mod.applies_to(i)]
        self.routers = nn.ModuleDict({str(i): MoDRouter(config.d_model) for i in routed})
        self.stats = DepthStats()

    def exit_weights(self) -> dict[int, float]:
        """Return the layer weights of the exit losses, proportional to depth and summing to 1."""
        layers = [int(i) for i in self.exit_norms]
        total = sum(i + 1 for i in layers)
        return {i: (i + 1) / total for i in layers}


def confidence(logits: torch.Tensor, criterion: str) -> torch.Tensor:
    """Return the confidence in [0, 1] of each token's prediction from logits (..., V)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    if criterion == "max_prob":
        return logp.max(dim=-1).values.exp()
    entropy = -(logp.exp() * logp).sum(-1)
    return 1.0 - entropy / math.log(logits.shape[-1])


def shifted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Compute the next-token cross-entropy: logits at t predict labels at t + 1."""
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )


def cache_length(past_key_values: list[CacheEntry] | None) -> int:
    """Return the number of cached positions, read from the first block that keeps a cache."""
    for entry in past_key_values or []:
        if entry is not None:
            return entry[0].shape[2]
    return 0


def project_kv(
    block: nn.Module, x: torch.Tensor, positions: torch.Tensor, past: CacheEntry
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Project the keys and values of ``block`` for states ``x`` (B, T, D), skipping the rest of it.

    This is what an exited token costs at a later block. Returns None when the block's
    attention is not the plain :class:`CausalSelfAttention`. The caller then runs the
    whole block and keeps the old states.
    """
    attn = getattr(block, "attn", None)
    norm = getattr(block, "attn_norm", None)
    if type(attn) is not CausalSelfAttention or norm is None:
        return None
    batch, length, _ = x.shape
    width = attn.n_heads * attn.head_dim
    _, k, v = attn.qkv(norm(x)).split(width, dim=-1)
    k = attn.rope(k.view(batch, length, attn.n_heads, attn.head_dim).transpose(1, 2), positions)
    v = v.view(batch, length, attn.n_heads, attn.head_dim).transpose(1, 2)
    if past is not None:
        k = torch.cat((past[0], k), dim=2)
        v = torch.cat((past[1], v), dim=2)
    return k, v


def routed_key_mask(
    mask: torch.Tensor | None, routed_keys: torch.Tensor, query_length: int
) -> torch.Tensor:
    """Restrict the (B, 1, T, S) attention mask to routed keys, keeping each query's own key.

    ``routed_keys`` is (B, S). A query that can attend to no key would give NaN, so the
    diagonal stays allowed. The output of an unrouted query is discarded anyway.
    """
    batch, total = routed_keys.shape
    past_length = total - query_length
    device = routed_keys.device
    query_index = torch.arange(past_length, total, device=device).unsqueeze(1)
    key_index = torch.arange(total, device=device).unsqueeze(0)
    if mask is None:
        mask = (key_index <= query_index).view(1, 1, query_length, total)
    allowed = mask & routed_keys[:, None, None, :]
    diagonal = (key_index == query_index).view(1, 1, query_length, total)
    return allowed | diagonal


class DepthRunner:
    """Runner for the blocks of a :class:`TransformerPlus` with its conditional-depth features.

    One runner serves one forward pass. :meth:`run` returns the logits (B, T, V) and
    the cache entries, and adds auxiliary losses and internals to the context.
    """

    def __init__(self, model: TransformerPlus, context: ForwardContext, labels: torch.Tensor | None) -> None:
        self.model = model
        self.config = model.config
        self.depth: DepthControl = model.depth
        self.context = context
        self.labels = labels
        self.training = model.training
        self.early_exit = self.config.early_exit
        self.skip = self.config.skip_layers
        self.mod = self.config.mixture_of_depths

    def run(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past_key_values: list[CacheEntry] | None,
        use_cache: bool,
    ) -> tuple[torch.Tensor, list[CacheEntry]]:
        batch, length, _ = x.shape
        internals = self.context.internals
        active: torch.Tensor | None = None  # (B, T) tokens still computing; None: all
        exit_logits: torch.Tensor | None = None
        exit_layer = torch.full((batch, length), self.config.n_layers - 1, dtype=torch.long, device=x.device)
        evaluations = torch.zeros((batch, length), dtype=torch.long, device=x.device)
        similarity: torch.Tensor | None = None  # (B, T) cos(h_in, h_out) of the last block each token ran
        presents: list[CacheEntry] = []

        for index, block in enumerate(self.model.blocks):
            past = past_key_values[index] if past_key_values else None
            if self.skip is not None and self.skip.skips_statically(index):
                presents.append(None)
                if internals is not None:
                    internals.hidden_states.append(x)  # one state per block, unchanged here
                continue
            run = self._run_mask(index, active, similarity)
            before = x
            if str(index) in self.depth.routers and self.mod.capacity < 1.0:
                x, present, ran = self._routed_block(index, block, x, positions, mask, past, run)
            else:
                x, present = self._plain_block(block, x, positions, mask, past, run)
                ran = run
            evaluations += 1 if ran is None else ran.long()
            if self.skip is not None and self.skip.dynamic and not self.training:
                changed = F.cosine_similarity(before.float(), x.float(), dim=-1)
                similarity = changed if similarity is None or ran is None else torch.where(ran, changed, similarity)
            if use_cache:
                presents.append(present)
            if internals is not None:
                internals.hidden_states.append(x)
            if str(index) in self.depth.exit_norms:
                active, exit_logits = self._exit(index, x, active, exit_logits, exit_layer)

        logits = self.model.lm_head(self.model.final_norm(x))
        if exit_logits is not None:
            exited = exit_layer < self.config.n_layers - 1
            logits = torch.where(exited.unsqueeze(-1), exit_logits.to(logits.dtype), logits)
        if not self.training:
            self.depth.stats.tokens += batch * length
            self.depth.stats.block_evaluations += int(evaluations.sum())
        if internals is not None and self.early_exit is not None:
            internals.add("early_exit", {"exit_layer": exit_layer, "evaluations": evaluations})
        return logits, presents

    # -- decisions ----------------------------------------------------------
    def _run_mask(self, index: int, active: torch.Tensor | None, similarity: torch.Tensor | None) -> torch.Tensor | None:
        """Return the tokens (B, T) that run block ``index``, or None when all of them run."""
        run = active
        if similarity is not None and self.skip.skips_dynamically(index):
            keep = similarity <= self.skip.similarity
            run = keep if run is None else run & keep
            if self.context.internals is not None:
                self.context.internals.add("skip_layers", {"layer": index, "skipped": ~keep})
        return run

    def _exit(
        self,
        index: int,
        x: torch.Tensor,
        active: torch.Tensor | None,
        exit_logits: torch.Tensor | None,
        exit_layer: torch.Tensor,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Apply exit head ``index``: add its weighted loss, and stop confident tokens at inference."""
        threshold = self.early_exit.threshold
        deciding = not self.training and threshold < 1.0
        if self.labels is None and not deciding:
            return active, exit_logits
        logits = self.model.lm_head(self.depth.exit_norms[str(index)](x))
        if self.labels is not None:
            weight = self.early_exit.loss_weight * self.depth.exit_weights()[index]
            term = weight * shifted_cross_entropy(logits, self.labels)
            previous = self.context.aux_losses.get("early_exit")
            self.context.aux_losses["early_exit"] = term if previous is None else previous + term
        if not deciding:
            return active, exit_logits
        stop = confidence(logits, self.early_exit.criterion) > threshold
        if active is not None:
            stop &= active
        exit_logits = logits if exit_logits is None else torch.where(stop.unsqueeze(-1), logits, exit_logits)
        exit_layer.masked_fill_(stop, index)
        active = ~stop if active is None else active & ~stop
        return active, exit_logits

    # -- block execution ------------------------------------------------------
    def _plain_block(
        self,
        block: nn.Module,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: CacheEntry,
        run: torch.Tensor | None,
    ) -> tuple[torch.Tensor, CacheEntry]:
        past_kv = None if past is None else (past[0], past[1])
        if run is not None and not bool(run.any()):
            # No token runs the block: only the keys and values of the copied-forward states are needed.
            kv = project_kv(block, x, positions, past_kv)
            if kv is not None:
                return x, kv
        if run is not None and x.shape[1] == 1 and not bool(run.all()):
            split = self._split_rows(block, x, positions, mask, past_kv, run[:, 0])
            if split is not None:
                return split
        # NOTE: with several tokens per row (prefill), stopped tokens still run the block
        # and keep their old state, so the saving is counted but not realised in time.
        y, present = block(x, positions, mask, past_kv, self.context)
        if run is None:
            return y, present
        return torch.where(run.unsqueeze(-1), y, x), present

    def _split_rows(
        self,
        block: nn.Module,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: tuple[torch.Tensor, torch.Tensor] | None,
        running: torch.Tensor,
    ) -> tuple[torch.Tensor, CacheEntry] | None:
        """Decode one token per row: run the block on the running rows, project keys and values for the rest.

        ``running`` is (B,) bool. Returns None when the block's attention has no key/value projection
        that can run alone.
        """
        rows = running.nonzero().squeeze(1)
        idle = (~running).nonzero().squeeze(1)
        positions = positions.expand(x.shape[0], 1)

        def pick(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
            return None if past is None else (past[0][index], past[1][index])

        idle_kv = project_kv(block, x[idle], positions[idle], pick(idle))
        if idle_kv is None:
            return None
        row_mask = None if mask is None else mask.expand(x.shape[0], *mask.shape[1:])[rows]
        y, (row_k, row_v) = block(x[rows], positions[rows], row_mask, pick(rows), self.context)
        keys = row_k.new_empty((x.shape[0], *row_k.shape[1:]))
        values = torch.empty_like(keys)
        keys[rows], keys[idle] = row_k, idle_kv[0]
        values[rows], values[idle] = row_v, idle_kv[1]
        out = x.clone()
        out[rows] = y
        return out, (keys, values)

    def _routed_block(
        self,
        index: int,
        block: nn.Module,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: CacheEntry,
        run: torch.Tensor | None,
    ) -> tuple[torch.Tensor, CacheEntry, torch.Tensor]:
        router: MoDRouter = self.depth.routers[str(index)]
        if self.training:
            return self._routed_top_k(index, router, block, x, positions, mask, past)
        routed = router.predict(x) > 0  # (B, T), causal: one token at a time
        # NOTE: at inference the whole batch runs the block under a routed-keys mask. This is
        # exact but also computes the unrouted tokens, because only training gathers.
        past_routed = past[2] if past is not None else routed.new_zeros((x.shape[0], 0))
        routed_keys = torch.cat((past_routed, routed), dim=1)  # (B, S)
        block_mask = routed_key_mask(mask, routed_keys, x.shape[1])
        past_kv = None if past is None else (past[0], past[1])
        y, present = block(x, positions, block_mask, past_kv, self.context)
        weight = torch.sigmoid(router.score(x)).unsqueeze(-1)
        update = routed if run is None else routed & run
        x = torch.where(update.unsqueeze(-1), x + weight * (y - x), x)
        if self.context.internals is not None:
            self.context.internals.add("mixture_of_depths", {"layer": index, "routed": update})
        return x, (present[0], present[1], routed_keys), update

    def _routed_top_k(
        self,
        index: int,
        router: MoDRouter,
        block: nn.Module,
        x: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        past: CacheEntry,
    ) -> tuple[torch.Tensor, CacheEntry, torch.Tensor]:
        """Gather the top-k tokens of each sequence, run the block on them and scatter back (training)."""
        if past is not None:
            raise ValueError("mixture-of-depths top-k routing runs on whole sequences. Train without a KV cache")
        batch, length, width = x.shape
        scores = router.score(x)  # (B, T)
        k = max(1, math.ceil(self.mod.capacity * length))
        chosen = scores.topk(k, dim=1).indices.sort(dim=1).values  # (B, k), in sequence order
        routed = torch.zeros((batch, length), dtype=torch.bool, device=x.device).scatter(1, chosen, True)
        gather = chosen.unsqueeze(-1).expand(batch, k, width)
        xs = x.gather(1, gather)
        ps = positions.expand(batch, length).gather(1, chosen)
        ms = None
        if mask is not None:
            full = mask.expand(batch, 1, length, length)
            ms = full.gather(2, chosen[:, None, :, None].expand(batch, 1, k, length))
            ms = ms.gather(3, chosen[:, None, None, :].expand(batch, 1, k, k))
        ys, present = block(xs, ps, ms, None, self.context)
        if self.mod.predictor_weight > 0:
            bce = F.binary_cross_entropy_with_logits(router.predict(x), routed.float())
            self.context.aux_losses[f"mod_predictor_{index}"] = self.mod.predictor_weight * bce
        weight = torch.sigmoid(scores.gather(1, chosen)).unsqueeze(-1)
        x = x.scatter(1, gather, xs + weight * (ys - xs))
        if self.context.internals is not None:
            self.context.internals.add("mixture_of_depths", {"layer": index, "routed": routed})
        return x, None, routed


def uses_depth_features(config: ModelConfig) -> bool:
    """Return whether any conditional-depth feature is on."""
    return any(getattr(config, name) is not None for name in ("early_exit", "skip_layers", "mixture_of_depths"))


def forward_flops(config: ModelConfig, length: int) -> dict[str, float]:
    """Count the FLOPs (2 per multiply-add) of one forward pass over ``length`` tokens.

    Mixture-of-depths blocks count only their ceil(capacity * T) routed tokens (with
    attention among them) plus the router and predictor on every token. Early-exit
    heads count one LM-head product per exit block and token, as in training. Skip
    layers and exits at inference are not counted: they depend on the data.
    """
    d, hidden, vocab = config.d_model, config.hidden_dim, config.vocab_size
    mlp_matrices = 3 if config.mlp == "swiglu" else 2
    mod = config.mixture_of_depths

    def block(tokens: int) -> float:
        projections = 2 * tokens * (4 * d * d + mlp_matrices * d * hidden)
        attention = 2 * 2 * d * tokens * (tokens + 1) / 2  # scores and weighted values, causal
        return projections + attention

    blocks = 0.0
    routing = 0.0
    for index in range(config.n_layers):
        if mod is not None and mod.applies_to(index) and mod.capacity < 1.0:
            blocks += block(max(1, math.ceil(mod.capacity * length)))
            predictor_hidden = max(8, d // 8)
            routing += 2 * length * (d + d * predictor_hidden + predictor_hidden)
        else:
            blocks += block(length)
    heads = 2 * length * d * vocab
    exits = 0.0
    if config.early_exit is not None:
        exits = heads * len(config.early_exit.exit_layers(config.n_layers))
    return {"blocks": blocks, "routing": routing, "lm_head": heads, "exit_heads": exits,
            "total": blocks + routing + heads + exits}
