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

NOTE: in the 300-step benchmark runs the assignment a stayed close to uniform, so
slots did not specialise in one entity each. The binding followed each mention
through the retention alone. Nothing here yet pushes slots to compete harder.

Binding choice. The default is straight-through Gumbel-softmax (Jang et al. 2017,
arXiv:1611.01144): the forward pass uses a one-hot entry, and the gradient flows
through the soft sample. So the codebook, W_b and the slot states all learn from the
LM loss, and the supervised binding loss is a plain cross-entropy on the same logits
l. Vector quantisation (van den Oord et al. 2017, arXiv:1711.00937) is kept as
``binding="vq"``: nearest entry by distance, a straight-through copy of the entry and
a commitment loss. It needs no sampling noise, so it suits users who want deterministic training, but
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
    """Record of one slot layer's forward pass, with all tensors detached.

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
    """Layer of S slots over a codebook of E entity embeddings, returning the (B, T, D) read-back."""

    def __init__(self, config: ModelConfig, index: int = 0) -> None:
        super().__init__()
        if config.slots is None:
            raise ValueError("SymbolSlots needs ModelConfig.slots. Set it to enable the feature first")
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
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute decayed prefix sums: totals (B, S, T, K) and masses n (B, S, T), so m = totals / n.

        The mean itself is never formed. Binding reads W_b m through a cosine, which the
        positive factor 1 / n does not change. Read attention divides its (B, T, S)
        scores by n instead of dividing the (B, S, T, K) totals. ``visible`` (B, T, T)
        marks the tokens u that each position t may read (packed sequences; the decay
        then counts ``positions`` (B, T), not indices). When it is None the prefix is
        u <= t, without the tokens where ``valid`` (B, T) is False.
        """
        assign = assign.transpose(1, 2)  # (B, S, T)
        if valid is not None:
            assign = assign * valid.unsqueeze(1)
        if visible is None:
            return decayed_prefix_sums(assign, values.float(), self.retention())
        if positions is None:
            positions = torch.arange(assign.shape[2], device=assign.device).expand(assign.shape[0], -1)
        distance = (positions.unsqueeze(2) - positions.unsqueeze(1)).clamp(min=0).float()  # (B, T, U)
        decay = self.retention().view(1, -1, 1, 1) ** distance.unsqueeze(1)  # (B, S, T, U)
        weights = decay * visible.unsqueeze(1) * assign.unsqueeze(2)  # (B, S, T, U)
        return weights @ values.float().unsqueeze(1), weights.sum(-1)

    def entries(self) -> torch.Tensor:
        """C^ (E, K): the codebook with unit rows."""
        return F.normalize(self.codebook.float(), dim=-1)

    def projected(self, totals: torch.Tensor) -> torch.Tensor:
        """W_b m with unit rows (B, S, T, K); VQ's nearest entry by distance is the one by cosine."""
        return F.normalize(self.bind(totals).float(), dim=-1)

    def binding_logits(self, projected: torch.Tensor) -> torch.Tensor:
        """(B, S, T, K) -> l (B, S, T, E): scaled cosine similarity to each entry."""
        return _BIND_SCALE * projected @ self.entries().t()

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        """One-hot entries z (B, S, T, E), straight-through Gumbel-softmax while training."""
        if self.cfg.binding == "gumbel" and self.training:
            # Gumbel(0, 1) noise as -log(-log U); uniform sampling is cheaper than exponential_ on CPUs.
            uniform = torch.rand_like(logits, dtype=torch.float32).clamp_(1e-9, 1.0 - 1e-7)
            soft = ((logits.float() - (-uniform.log()).log()) / self.cfg.temperature).softmax(-1)
            return (_one_hot_like(soft) - soft).detach() + soft
        hard = _one_hot_like(logits.float())
        if self.cfg.binding == "gumbel" and torch.is_grad_enabled():
            soft = (logits.float() / self.cfg.temperature).softmax(-1)
            return (hard - soft).detach() + soft  # keeps gradients in eval-mode fine-tuning
        return hard

    def entity_values(self, projected: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Return the bound entity embeddings (B, S, T, K). VQ copies the entry straight through."""
        entries = chosen @ self.entries()
        if self.cfg.binding == "vq":
            return projected + (entries - projected).detach()
        return entries

    def read_back(
        self, x: torch.Tensor, totals: torch.Tensor, mass: torch.Tensor, entities: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token t attends over slots by q . m / sqrt(K): returns y (B, T, D) and r (B, T, S)."""
        query = self.query(x).float().unsqueeze(1)  # (B, 1, T, K)
        scores = (query * totals).sum(-1) / (mass + _EPS) / math.sqrt(self.width)  # (B, S, T)
        read = scores.transpose(1, 2).softmax(-1)  # (B, T, S)
        mixed = (read.transpose(1, 2).unsqueeze(-1) * entities.float()).sum(1)  # (B, T, K)
        return self.out(mixed.to(x.dtype)), read

    def commitment_loss(self, projected: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """VQ: ||sg(h) - c||^2 moves entries, beta ||h - sg(c)||^2 keeps h near its entry."""
        entries = chosen.detach() @ self.entries()
        codebook_term = (projected.detach() - entries).pow(2).mean()
        commit_term = (projected - entries.detach()).pow(2).mean()
        return codebook_term + self.cfg.commitment * commit_term

    @staticmethod
    def binding_loss(assign: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Return -log sum_s a[t, s] p(target | slot s at t), averaged over tokens with a target.

        ``targets`` (B, T) contains a codebook row per entity mention and IGNORE_INDEX
        elsewhere. The token's own slot mixture decides which slots must bind it.
        """
        labelled = targets != IGNORE_INDEX
        if not bool(labelled.any()):
            return logits.new_zeros(())
        log_p = logits.float().log_softmax(-1)  # (B, S, T, E)
        slots = log_p.shape[1]
        index = targets.clamp(min=0).view(targets.shape[0], 1, targets.shape[1], 1).expand(-1, slots, -1, 1)
        target_log_p = log_p.gather(-1, index).squeeze(-1).transpose(1, 2)  # (B, T, S)
        per_token = -torch.logsumexp(target_log_p + assign.clamp_min(1e-9).log(), dim=-1)
        return per_token[labelled].mean()

    # -- the layer ----------------------------------------------------------
    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, context: object | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the read-back (B, T, D) for the residual stream ``x`` (B, T, D).

        ``mask`` is the block's attention mask: None (plain causal) or a (B or 1, 1, T, T)
        boolean tensor. ``positions`` (B, T) are the tokens' positions (packed sequences).
        ``context`` is the model's ForwardContext. Its ``inputs`` may carry
        ``entity_targets`` (B, T). The binding (and VQ commitment) losses go to its
        ``aux_losses``, and a :class:`SlotRecord` goes to its ``internals``.
        """
        if context is not None and getattr(context, "past_length", 0):
            raise ValueError("symbol slots cannot continue from a KV cache. Generate without past_key_values")
        h = self.norm(x)
        visible, valid = split_mask(mask, x.shape[0], x.shape[1])
        assign = self.assignment(h)
        totals, mass = self.slot_states(assign, self.value(h), visible, valid, positions)
        projected = self.projected(totals)
        logits = self.binding_logits(projected)
        chosen = self.choose(logits)
        y, read = self.read_back(h, totals, mass, self.entity_values(projected, chosen))
        if context is not None:
            self._add_losses(context, assign, logits, projected, chosen)
            self._record(context, assign, logits, read, valid, x.shape[:2])
        return y

    def _add_losses(
        self, context: object, assign: torch.Tensor, logits: torch.Tensor, projected: torch.Tensor,
        chosen: torch.Tensor,
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
            aux[f"slots.{self.index}.commitment"] = self.commitment_loss(projected, chosen)

    def _record(
        self, context: object, assign: torch.Tensor, logits: torch.Tensor, read: torch.Tensor,
        valid: torch.Tensor | None, shape: torch.Size,
    ) -> None:
        internals = getattr(context, "internals", None)
        if internals is None:
            return
        probs = logits.detach().float().softmax(-1).transpose(1, 2)  # (B, T, S, E)
        score, entity = probs.max(-1)
        if valid is None:
            valid = torch.ones(shape, dtype=torch.bool, device=assign.device)
        internals.add("slots", SlotRecord(self.index, assign.detach(), entity, score, read.detach(), valid))


_CHUNK = 32


def _one_hot_like(scores: torch.Tensor) -> torch.Tensor:
    """Return a float one-hot of the argmax over the last dimension, shaped like ``scores``."""
    return torch.zeros_like(scores).scatter_(-1, scores.argmax(-1, keepdim=True), 1.0)


def decayed_prefix_sums(
    assign: torch.Tensor, values: torch.Tensor, retention: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return totals[b, s, t] = sum_{u <= t} g[s]^(t-u) a[b, s, u] v[b, u] (B, S, T, K) and masses (B, S, T).

    ``assign`` is (B, S, T), ``values`` (B, T, K), ``retention`` g (S,). Within a chunk
    of 32 tokens the sum is one batched matmul with the (S, C, C) decay matrix. The
    totals at a chunk's end carry into the next chunk, decayed by g^(i+1).
    """
    batch, slots, length = assign.shape
    log_g = retention.float().log()
    totals, masses = [], []
    carry_total = values.new_zeros((batch, slots, 1, values.shape[-1]))
    carry_mass = values.new_zeros((batch, slots, 1))
    for start in range(0, length, _CHUNK):
        size = min(_CHUNK, length - start)
        steps = torch.arange(size, device=assign.device, dtype=torch.float32)
        gap = steps.view(-1, 1) - steps.view(1, -1)  # t - u
        decay = torch.exp(log_g.view(-1, 1, 1) * gap.clamp(min=0)) * (gap >= 0)  # (S, C, C)
        weights = decay * assign[:, :, start:start + size].unsqueeze(2)  # (B, S, C, C)
        carried = torch.exp(log_g.view(-1, 1) * (steps + 1))  # (S, C)
        total = weights @ values[:, start:start + size].unsqueeze(1) + carried.unsqueeze(-1) * carry_total
        mass = weights.sum(-1) + carried * carry_mass
        carry_total, carry_mass = total[:, :, -1:], mass[:, :, -1:]
        totals.append(total)
        masses.append(mass)
    return torch.cat(totals, 2), torch.cat(masses, 2)


def split_mask(mask: torch.Tensor | None, batch: int, length: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Turn a block mask into (visible (B, T, T) or None, valid (B, T) or None).

    A plain causal mask, with or without left padding, gives ``visible`` None and the
    cheap cumulative sum. Any other mask (packed branches) is used as it is.
    """
    if mask is None:
        return None, None
    if mask.dim() != 4 or mask.shape[-1] != length or mask.shape[-2] != length:
        raise ValueError(f"slots need a (B, 1, {length}, {length}) mask without KV cache, got {tuple(mask.shape)}")
    rows = mask[:, 0].expand(batch, length, length)
    valid = rows[:, -1, :]  # the last query can attend to every real key of a causal, left-padded row
    causal = torch.ones(length, length, dtype=torch.bool, device=mask.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=mask.device)
    expected = (causal & valid.unsqueeze(1)) | (eye & ~valid.unsqueeze(2))
    if torch.equal(rows, expected):
        return None, valid
    return rows, None
