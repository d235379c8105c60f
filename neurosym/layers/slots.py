"""Symbol slots: tokens gather into a few slots, each slot binds one entity of a codebook.

Dimension legend: B batch, T tokens, S slots, E codebook entries (entities),
K slot and codebook width, D model width.

For a token u, a position t >= u and a slot s (x is the normed residual stream):

    a[u, s]    = softmax_s( (W_k x[u]) . q[s] / sqrt(K) )              slots compete for each token
    n[t, s]    = sum_{u <= t} g[s]^(t-u) a[u, s]                        decayed prefix mass
    m[t, s]    = sum_{u <= t} g[s]^(t-u) a[u, s] W_v x[u] / (n + eps)   decayed prefix mean: the slot state
    l[t, s, e] = beta cos(W_b m[t, s], c[e])                            binding logits, codebook C (E, K)
    z[t, s]    = one-hot choice of an entry from l[t, s]                discrete binding
    r[t, s]    = softmax_s( (W_q x[t]) . m[t, s] / sqrt(K) )            read attention over slots
    y[t]       = W_o sum_s r[t, s] z[t, s] C^                          added to the residual stream

C^ is C with unit rows and beta = 10: cosine logits start at a useful scale, whereas
a dot product of three small-initialised factors starts near zero and learns only
the entities' prior frequency first.

The competition is slot attention's (Locatello et al. 2020, arXiv:2006.15055),
normalised over slots per token; the iterative refinement is replaced by a causal
prefix mean so that position t reads only slots built from tokens u <= t (and, in a
packed sequence, only from tokens its mask allows; padding never contributes). Each
slot has a learned retention g[s] in (0, 1), initially 0.5: with the plain mean
(g = 1) a slot that has gathered several entities binds their average, so binding at
a mention could not follow the entity just mentioned (in our runs, a start at 0.88
learned only the most frequent entity in 80 steps; 0.5 bound every mention right
within 30); slots that need a longer memory can learn g near 1.

Binding choice. The default is straight-through Gumbel-softmax (Jang et al. 2017,
arXiv:1611.01144): the forward pass uses a one-hot entry, the gradient flows through
the soft sample, so the codebook, W_b and the slot states all learn from the LM loss,
and the supervised binding loss is a plain cross-entropy on the same logits l. Vector
quantisation (van den Oord et al. 2017, arXiv:1711.00937) is kept as ``binding="vq"``:
nearest entry by distance, a straight-through copy of the entry and a commitment loss;
it needs no sampling noise, so it suits users who want deterministic training, but
with a small codebook rows that are never nearest receive no gradient, which is why
it is not the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neurosym.config import ModelConfig
from neurosym.layers.norm import RMSNorm

IGNORE_INDEX = -100
_EPS = 1e-6
_BIND_SCALE = 10.0


@dataclass
class SlotRecord:
    """What one slot layer did in one forward pass (all tensors detached).

    - ``assign`` (B, T, S): the share of token t that goes to each slot.
    - ``entity`` (B, T, S): the codebook row each slot binds at position t.
    - ``score`` (B, T, S): the probability of that row under the binding distribution.
    - ``read`` (B, T, S): token t's read attention over the slots.
    - ``valid`` (B, T): True for the tokens that fed the slots.
    """

    layer: int
    assign: torch.Tensor
    entity: torch.Tensor
    score: torch.Tensor
    read: torch.Tensor
    valid: torch.Tensor


class SymbolSlots(nn.Module):
    """S slots over a codebook of E entity embeddings; returns the (B, T, D) read-back."""

    def __init__(self, config: ModelConfig, index: int = 0) -> None:
        super().__init__()
        if config.slots is None:
            raise ValueError("SymbolSlots needs ModelConfig.slots; switch the feature on first")
        self.index = index
        self.cfg = config.slots
        width = self.cfg.slot_dim(config.d_model)
        self.width = width
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.key = nn.Linear(config.d_model, width, bias=False)
        self.value = nn.Linear(config.d_model, width, bias=False)
        self.query = nn.Linear(config.d_model, width, bias=False)
        self.bind = nn.Linear(width, width, bias=False)
        self.out = nn.Linear(width, config.d_model, bias=False)
        self.slot_queries = nn.Parameter(torch.randn(self.cfg.n_slots, width))  # (S, K)
        self.codebook = nn.Parameter(torch.randn(self.cfg.n_entities, width))  # (E, K)
        self.retention_logit = nn.Parameter(torch.full((self.cfg.n_slots,), 0.0))  # g = sigmoid(.)

    # -- one formula per step ----------------------------------------------
    def assignment(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> a (B, T, S): slots compete for each token."""
        logits = self.key(x) @ self.slot_queries.t() / math.sqrt(self.width)
        return logits.float().softmax(-1)

    def retention(self) -> torch.Tensor:
        """g (S,): how much of its past a slot keeps per token, in [0.01, 1)."""
        return torch.sigmoid(self.retention_logit.float()).clamp(min=1e-2)

    def slot_states(
        self, assign: torch.Tensor, values: torch.Tensor, visible: torch.Tensor | None, valid: torch.Tensor | None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decayed prefix mean of the values each slot gathered: m (B, T, S, K).

        ``visible`` (B, T, T) marks the tokens u that each position t may read (packed
        sequences; the decay then counts ``positions`` (B, T), not indices); when it is
        None the prefix is a scan over u <= t, with tokens where ``valid`` (B, T) is
        False left out.
        """
        values = values.float()
        mixed = assign.unsqueeze(-1) * values.unsqueeze(2)  # (B, T, S, K)
        if visible is None:
            if valid is not None:
                assign = assign * valid.unsqueeze(-1)
                mixed = mixed * valid.view(*valid.shape, 1, 1)
            total, mass = decayed_prefix_sum(torch.cat((mixed, assign.unsqueeze(-1)), -1), self.retention()).split(
                [values.shape[-1], 1], dim=-1)
            return total / (mass + _EPS)
        if positions is None:
            positions = torch.arange(assign.shape[1], device=assign.device).expand(assign.shape[:2])
        distance = (positions.unsqueeze(2) - positions.unsqueeze(1)).clamp(min=0).float()  # (B, T, U)
        decay = self.retention().view(1, -1, 1, 1) ** distance.unsqueeze(1)  # (B, S, T, U)
        weights = decay * visible.unsqueeze(1).float()
        mass = torch.einsum("bstu,bus->bts", weights, assign)
        total = torch.einsum("bstu,busk->btsk", weights, mixed)
        return total / (mass.unsqueeze(-1) + _EPS)

    def entries(self) -> torch.Tensor:
        """C^ (E, K): the codebook with unit rows."""
        return F.normalize(self.codebook.float(), dim=-1)

    def projected(self, states: torch.Tensor) -> torch.Tensor:
        """W_b m with unit rows (B, T, S, K); VQ's nearest entry by distance is the one by cosine."""
        return F.normalize(self.bind(states).float(), dim=-1)

    def binding_logits(self, states: torch.Tensor) -> torch.Tensor:
        """(B, T, S, K) -> l (B, T, S, E): scaled cosine similarity to each entry."""
        return _BIND_SCALE * self.projected(states) @ self.entries().t()

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        """One-hot entries z (B, T, S, E), straight-through Gumbel-softmax while training."""
        if self.cfg.binding == "gumbel" and self.training:
            # Gumbel(0, 1) noise as -log(-log U); uniform sampling is cheaper than exponential_ on CPUs.
            uniform = torch.rand_like(logits, dtype=torch.float32).clamp_(1e-9, 1.0 - 1e-7)
            soft = ((logits.float() - (-uniform.log()).log()) / self.cfg.temperature).softmax(-1)
            hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
            return hard + soft - soft.detach()
        hard = F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
        if self.cfg.binding == "gumbel":
            soft = (logits.float() / self.cfg.temperature).softmax(-1)
            return hard + soft - soft.detach()  # keeps gradients in eval-mode fine-tuning
        return hard

    def entity_values(self, states: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """The bound entity embeddings (B, T, S, K); VQ copies the entry straight through."""
        entries = chosen @ self.entries()
        if self.cfg.binding == "vq":
            projected = self.projected(states)
            return projected + (entries - projected).detach()
        return entries

    def read_back(self, x: torch.Tensor, states: torch.Tensor, entities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token t attends over slots: returns y (B, T, D) and r (B, T, S)."""
        scores = torch.einsum("btk,btsk->bts", self.query(x).float(), states) / math.sqrt(self.width)
        read = scores.softmax(-1)
        mixed = torch.einsum("bts,btsk->btk", read, entities.float())
        return self.out(mixed.to(x.dtype)), read

    def commitment_loss(self, states: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """VQ: ||sg(h) - c||^2 moves entries, beta ||h - sg(c)||^2 keeps h near its entry."""
        projected = self.projected(states)
        entries = chosen.detach() @ self.entries()
        codebook_term = (projected.detach() - entries).pow(2).mean()
        commit_term = (projected - entries.detach()).pow(2).mean()
        return codebook_term + self.cfg.commitment * commit_term

    @staticmethod
    def binding_loss(assign: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-log sum_s a[t, s] p(target | slot s at t), averaged over tokens with a target.

        ``targets`` (B, T) holds a codebook row per entity mention and IGNORE_INDEX
        elsewhere; the token's own slot mixture decides which slots must bind it.
        """
        labelled = targets != IGNORE_INDEX
        if not bool(labelled.any()):
            return logits.new_zeros(())
        log_p = logits.float().log_softmax(-1)  # (B, T, S, E)
        index = targets.clamp(min=0).view(*targets.shape, 1, 1).expand(*targets.shape, log_p.shape[2], 1)
        target_log_p = log_p.gather(-1, index).squeeze(-1)  # (B, T, S)
        per_token = -torch.logsumexp(target_log_p + assign.clamp_min(1e-9).log(), dim=-1)
        return per_token[labelled].mean()

    # -- the layer ----------------------------------------------------------
    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, context: object | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the read-back (B, T, D) for the residual stream ``x`` (B, T, D).

        ``mask`` is the block's attention mask: None (plain causal) or (B or 1, 1, T, T)
        boolean; ``positions`` (B, T) are the tokens' positions (packed sequences). ``context`` is the model's ForwardContext: its ``inputs`` may carry
        ``entity_targets`` (B, T); the binding (and VQ commitment) losses go to its
        ``aux_losses`` and a :class:`SlotRecord` to its ``internals``.
        """
        if context is not None and getattr(context, "past_length", 0):
            raise ValueError("symbol slots cannot continue from a KV cache; generate without past_key_values")
        h = self.norm(x)
        visible, valid = split_mask(mask, x.shape[0], x.shape[1])
        assign = self.assignment(h)
        states = self.slot_states(assign, self.value(h), visible, valid, positions)
        logits = self.binding_logits(states)
        chosen = self.choose(logits)
        y, read = self.read_back(h, states, self.entity_values(states, chosen))
        if context is not None:
            self._add_losses(context, assign, logits, states, chosen)
            self._record(context, assign, logits, read, valid, x.shape[:2])
        return y

    def _add_losses(
        self, context: object, assign: torch.Tensor, logits: torch.Tensor, states: torch.Tensor, chosen: torch.Tensor
    ) -> None:
        aux = context.aux_losses
        targets = context.inputs.get("entity_targets")
        if targets is not None and self.training and self.cfg.supervision_weight > 0:
            if targets.shape != assign.shape[:2]:
                raise ValueError(
                    f"entity_targets must have shape {tuple(assign.shape[:2])} like input_ids, got {tuple(targets.shape)}"
                )
            loss = self.binding_loss(assign, logits, targets.to(logits.device))
            aux[f"slots.{self.index}.binding"] = self.cfg.supervision_weight * loss
        if self.cfg.binding == "vq" and self.training:
            aux[f"slots.{self.index}.commitment"] = self.commitment_loss(states, chosen)

    def _record(
        self, context: object, assign: torch.Tensor, logits: torch.Tensor, read: torch.Tensor,
        valid: torch.Tensor | None, shape: torch.Size,
    ) -> None:
        internals = getattr(context, "internals", None)
        if internals is None:
            return
        probs = logits.detach().float().softmax(-1)
        score, entity = probs.max(-1)
        if valid is None:
            valid = torch.ones(shape, dtype=torch.bool, device=assign.device)
        internals.add("slots", SlotRecord(self.index, assign.detach(), entity, score, read.detach(), valid))


_CHUNK = 16


def decayed_prefix_sum(items: torch.Tensor, retention: torch.Tensor) -> torch.Tensor:
    """out[:, t, s] = sum_{u <= t} retention[s]^(t-u) items[:, u, s] for items (B, T, S, F).

    Within a chunk of 16 tokens the sum is a cumulative sum of items scaled by
    g^-u (finite in float32 for g >= 0.01); the total carries across chunks.
    """
    batch, length, slots, width = items.shape
    log_g = retention.float().log().view(1, 1, slots, 1)
    outputs = []
    carry = items.new_zeros((batch, 1, slots, width), dtype=torch.float32)
    for start in range(0, length, _CHUNK):
        chunk = items[:, start:start + _CHUNK].float()
        steps = torch.arange(chunk.shape[1], device=items.device, dtype=torch.float32).view(1, -1, 1, 1)
        scaled = (chunk * torch.exp(-steps * log_g)).cumsum(1) * torch.exp(steps * log_g)
        out = scaled + carry * torch.exp((steps + 1) * log_g)
        carry = out[:, -1:]
        outputs.append(out)
    return torch.cat(outputs, 1).to(items.dtype)


def split_mask(mask: torch.Tensor | None, batch: int, length: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Turn a block mask into (visible (B, T, T) or None, valid (B, T) or None).

    A plain causal mask, with or without left padding, gives ``visible`` None and the
    cheap cumulative sum; any other mask (packed branches) is used as it is.
    """
    if mask is None:
        return None, None
    if mask.dim() != 4 or mask.shape[-1] != length or mask.shape[-2] != length:
        raise ValueError(f"slots need a (B, 1, {length}, {length}) mask without KV cache, got {tuple(mask.shape)}")
    rows = mask[:, 0].expand(batch, length, length)
    valid = rows[:, -1, :]  # the last query sees every real key of a causal, left-padded row
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=mask.device)
    expected = (causal & valid.unsqueeze(1)) | (eye & ~valid.unsqueeze(2))
    if torch.equal(rows, expected):
        return None, valid
    return rows, None
