"""Inspection: which slot in which layer bound which entity, at which tokens.

::

    from neurosym.inspect import bindings, slot_maps
    for row in bindings(model, tokenizer, "Mary went to the kitchen ."):
        print(row.to_dict())

A token belongs to the slot that wins most of it (``argmax_s a[t, s]``); at that
position the slot binds one codebook row. :func:`bindings` groups the tokens by
(layer, slot, row): one :class:`Binding` per bound entity, with the token positions
and the mean binding probability as its score. :func:`slot_maps` returns the full
slot-by-token assignment per layer; :func:`plot_slot_maps` draws them as heatmaps
(matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from neurosym.errors import NeurosymError
from neurosym.layers.slots import SlotRecord
from neurosym.model import TransformerPlus
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)


class InspectionError(NeurosymError, ValueError):
    """The text or model cannot be inspected (empty text, unknown words, no slot layers)."""


@dataclass
class Binding:
    """One slot of one layer bound to one codebook row over some tokens."""

    layer: int
    slot: int
    entity_id: int
    entity_name: str
    score: float  # mean probability of the row at the slot's tokens
    positions: list[int]  # token positions in the text (0 is the first word; <bos> is left out)
    tokens: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SlotMap:
    """Slot-by-token assignment of one layer: ``weights[s][t]`` is token t's share in slot s."""

    layer: int
    tokens: list[str]
    weights: list[list[float]]  # (S, T)
    entity_names: list[str]  # the row each slot binds at the last token
    token_entities: list[str]  # per token, the row its strongest slot binds there

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entity_name(model: TransformerPlus, entity_id: int) -> str:
    """Return the name of a codebook row, or ``entity <id>`` when the rows carry no names."""
    names = model.config.slots.entity_names if model.config.slots else None
    if names and entity_id < len(names):
        return names[entity_id]
    return f"entity {entity_id}"


@torch.no_grad()
def slot_records(model: TransformerPlus, tokenizer: Tokenizer, text: str) -> tuple[list[str], list[SlotRecord]]:
    """Run ``text`` through the model; return its tokens and one record per slot layer.

    Raises InspectionError for a model without slots, an empty text, a text whose
    words are all unknown, or one longer than the model's window.
    """
    if model.config.slots is None:
        raise InspectionError("the model has no slot layers; train it with --feature slots")
    if not isinstance(text, str) or not tokenizer.tokenize(text):
        raise InspectionError("the text is empty; pass a story, e.g. --text 'Mary went to the kitchen .'")
    pieces = tokenizer.tokenize(text)
    unknown = [piece for piece in pieces if piece not in tokenizer.token_to_id]
    if len(unknown) == len(pieces):
        raise InspectionError(
            f"every word of the text is unknown to the tokenizer ({', '.join(unknown[:5])}); "
            "use words from the training tasks"
        )
    if unknown:
        logger.warning("%d unknown word(s) read as <unk>: %s", len(unknown), ", ".join(unknown[:10]))
    ids = [tokenizer.bos_id, *tokenizer.encode(text)]
    if len(ids) > model.config.max_seq_len:
        raise InspectionError(
            f"the text has {len(ids)} tokens but the model reads at most {model.config.max_seq_len}; shorten it"
        )
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        output = model(torch.tensor([ids], device=device), return_internals=True)
    finally:
        model.train(was_training)
    return pieces, list(output.internals.features.get("slots", []))


def bindings(model: TransformerPlus, tokenizer: Tokenizer, text: str) -> list[Binding]:
    """One :class:`Binding` per (layer, slot, codebook row) over the text's tokens."""
    pieces, records = slot_records(model, tokenizer, text)
    rows: list[Binding] = []
    for record in records:
        slot = record.assign[0, 1:].argmax(-1)  # (T,) without <bos>
        entity = record.entity[0, 1:].gather(-1, slot.unsqueeze(-1)).squeeze(-1)
        score = record.score[0, 1:].gather(-1, slot.unsqueeze(-1)).squeeze(-1)
        groups: dict[tuple[int, int], list[int]] = {}
        for position in range(len(pieces)):
            groups.setdefault((int(slot[position]), int(entity[position])), []).append(position)
        for (s, e), positions in groups.items():
            rows.append(Binding(
                layer=record.layer, slot=s, entity_id=e, entity_name=entity_name(model, e),
                score=round(float(score[positions].mean()), 6), positions=positions,
                tokens=[pieces[p] for p in positions],
            ))
    rows.sort(key=lambda row: (row.layer, row.positions[0]))
    return rows


def slot_maps(model: TransformerPlus, tokenizer: Tokenizer, text: str) -> list[SlotMap]:
    """Per slot layer, the (S, T) assignment of the text's tokens to the slots."""
    pieces, records = slot_records(model, tokenizer, text)
    maps = []
    for record in records:
        weights = record.assign[0, 1:].t().float().cpu()  # (S, T)
        final = record.entity[0, -1].tolist()
        strongest = record.assign[0, 1:].argmax(-1, keepdim=True)
        per_token = record.entity[0, 1:].gather(-1, strongest).squeeze(-1).tolist()
        maps.append(SlotMap(record.layer, list(pieces), [[round(float(w), 6) for w in row] for row in weights],
                            [entity_name(model, int(e)) for e in final],
                            [entity_name(model, int(e)) for e in per_token]))
    return maps


def format_bindings(rows: Sequence[Binding]) -> str:
    """A plain-text table: layer, slot, entity id and name, score, positions and tokens."""
    header = ("layer", "slot", "id", "entity", "score", "positions", "tokens")
    table = [(str(r.layer), str(r.slot), str(r.entity_id), r.entity_name, f"{r.score:.3f}",
              ",".join(map(str, r.positions)), " ".join(r.tokens)) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines)


def plot_slot_maps(maps: Sequence[SlotMap], path: str | os.PathLike[str]) -> Path:
    """Draw one slot-by-token heatmap per layer into a PNG at ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InspectionError("plotting needs matplotlib; install it with pip install 'neurosym[plot]'") from exc
    if not maps:
        raise InspectionError("there is nothing to plot: the model has no slot layers")
    path = Path(path)
    width = max(6.0, 0.45 * len(maps[0].tokens) + 2.5)
    figure, axes = plt.subplots(len(maps), 1, figsize=(width, 2.2 + 0.45 * len(maps[0].weights) * len(maps)),
                                squeeze=False)
    for axis, slot_map in zip(axes[:, 0], maps, strict=True):
        # The colour scale follows the largest share, because near-uniform shares would all look black on [0, 1].
        image = axis.imshow(slot_map.weights, aspect="auto", cmap="viridis", vmin=0.0,
                            vmax=max(max(row) for row in slot_map.weights))
        columns = [f"{token} → {name}" for token, name in zip(slot_map.tokens, slot_map.token_entities, strict=True)]
        axis.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
        labels = [f"slot {s}: {name}" for s, name in enumerate(slot_map.entity_names)]
        axis.set_yticks(range(len(labels)), labels, fontsize=8)
        axis.set_title(f"layer {slot_map.layer}: share of each token per slot; columns: token → entity its slot "
                       "binds there; rows: entity each slot binds at the end", fontsize=9)
        figure.colorbar(image, ax=axis, fraction=0.025)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
