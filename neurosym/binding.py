"""Entity supervision and binding metrics for symbol slots.

Supervision: every token that names an entity of the training tasks (the union of
the examples' ``entities``) gets that entity's codebook row as its target; other
tokens get IGNORE_INDEX. The names are kept in ``SlotsConfig.entity_names``, so a
checkpoint knows which row stands for whom.

Metrics, per slot layer, over the entity mentions of a split (a mention's binding is
the codebook row of the slot the token goes to, at the token's position):

- consistency: for each gold entity, the share of its mentions bound to its most
  frequent row, averaged over mentions;
- purity: for each row, the share of its mentions that are its most frequent gold
  entity, averaged over mentions;
- named accuracy (only when rows have names): the share of mentions bound to the row
  named after their gold entity.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from neurosym.config import ModelConfig
from neurosym.data import EncodedExample, collate_prompts, encode_prompt
from neurosym.model import IGNORE_INDEX, TransformerPlus
from neurosym.tasks.example import Example
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)


def entity_vocabulary(example_sets: Iterable[Sequence[Example]]) -> list[str]:
    """Sorted entity names of all examples, one per lower-cased spelling."""
    names: dict[str, str] = {}
    for examples in example_sets:
        for example in examples:
            for name in example.entities:
                names.setdefault(name.lower(), name)
    return [names[key] for key in sorted(names)]


def entity_token_map(tokenizer: Tokenizer, names: Sequence[str]) -> dict[int, int]:
    """Map the token id of each single-token name to its index in ``names``.

    Names that are several tokens, or unknown to the tokenizer, get no row; they are
    logged once.
    """
    mapping: dict[int, int] = {}
    skipped = []
    for row, name in enumerate(names):
        pieces = tokenizer.tokenize(name)
        token = tokenizer.token_to_id.get(pieces[0]) if len(pieces) == 1 else None
        if token is None:
            skipped.append(name)
        else:
            mapping[token] = row
    if skipped:
        logger.warning("%d entity names are not single known tokens and get no target: %s", len(skipped),
                       ", ".join(skipped[:10]))
    return mapping


def entity_targets(input_ids: Sequence[int], token_map: dict[int, int]) -> list[int]:
    """Per-token codebook rows: the entity's row at its mentions, IGNORE_INDEX elsewhere."""
    return [token_map.get(int(token), IGNORE_INDEX) for token in input_ids]


def prepare_slot_supervision(
    config: ModelConfig,
    tokenizer: Tokenizer,
    train_sets: dict[str, list[Example]],
    encoded: dict[str, list[EncodedExample]],
) -> int:
    """Name the codebook rows and attach entity targets to ``encoded``; return the mention count.

    Does nothing (returns 0) when slots are off, unsupervised (weight 0), or the
    tasks list no entities. Names already in the config (a resumed run) are kept.
    """
    slots = config.slots
    if slots is None or slots.supervision_weight == 0:
        return 0
    if slots.entity_names is None:
        names = entity_vocabulary(train_sets.values())
        if not names:
            logger.info("the training tasks list no entities; slots train unsupervised")
            return 0
        slots.entity_names = names
        slots.check(config)  # a codebook too small for the names fails here, naming the fix
    token_map = entity_token_map(tokenizer, slots.entity_names)
    mentions = 0
    for items in encoded.values():
        for item in items:
            item.entity_targets = entity_targets(item.input_ids, token_map)
            mentions += sum(target != IGNORE_INDEX for target in item.entity_targets)
    logger.info("slot supervision: %d entity names, %d mentions in the training data",
                len(slots.entity_names), mentions)
    return mentions


def _mode_share(pairs: Sequence[tuple[Any, Any]]) -> float:
    """Share of pairs whose second item is the most frequent one for their first item."""
    groups: dict[Any, Counter] = defaultdict(Counter)
    for key, value in pairs:
        groups[key][value] += 1
    agreeing = sum(counts.most_common(1)[0][1] for counts in groups.values())
    return agreeing / len(pairs) if pairs else 0.0


@torch.no_grad()
def binding_metrics(
    model: TransformerPlus,
    tokenizer: Tokenizer,
    examples: Sequence[Example],
    batch_size: int = 64,
) -> dict[str, dict[str, float]]:
    """Consistency, purity and (with names) named accuracy per slot layer over the mentions.

    Returns ``{"layer_<i>": {"consistency", "purity", "named_accuracy"?, "mentions"}}``;
    an empty dict when the model has no slots or the examples list no entities.
    """
    slots = model.config.slots
    if slots is None:
        return {}
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    names = slots.entity_names or []
    rows_by_name = {name.lower(): row for row, name in enumerate(names)}
    pairs: dict[int, list[tuple[str, int]]] = defaultdict(list)
    try:
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            prompts = [encode_prompt(e, tokenizer, model.config.max_seq_len)[0] for e in chunk]
            gold = [_mention_names(ids, example, tokenizer) for ids, example in zip(prompts, chunk, strict=True)]
            batch = {k: v.to(device) for k, v in collate_prompts(prompts, tokenizer.pad_id).items()}
            internals = model(**batch, return_internals=True).internals
            width = batch["input_ids"].shape[1]
            for record in internals.features.get("slots", []):
                slot = record.assign.argmax(-1)  # (B, T)
                entity = record.entity.gather(-1, slot.unsqueeze(-1)).squeeze(-1).cpu()
                for row, mentions in enumerate(gold):
                    offset = width - len(prompts[row])  # left padding
                    pairs[record.layer] += [(name, int(entity[row, offset + t])) for t, name in mentions]
    finally:
        model.train(was_training)
    results = {}
    for layer, layer_pairs in sorted(pairs.items()):
        if not layer_pairs:
            continue
        metrics = {
            "consistency": _mode_share(layer_pairs),
            "purity": _mode_share([(entry, name) for name, entry in layer_pairs]),
            "mentions": float(len(layer_pairs)),
        }
        if names:
            metrics["named_accuracy"] = sum(rows_by_name.get(n.lower()) == e for n, e in layer_pairs) / len(layer_pairs)
        results[f"layer_{layer}"] = metrics
    return results


def _mention_names(ids: Sequence[int], example: Example, tokenizer: Tokenizer) -> list[tuple[int, str]]:
    """(position, entity name) for each token of ``ids`` that names one of the example's entities."""
    by_token = {}
    for name in example.entities:
        pieces = tokenizer.tokenize(name)
        token = tokenizer.token_to_id.get(pieces[0]) if len(pieces) == 1 else None
        if token is not None:
            by_token[token] = name.lower()
    return [(t, by_token[int(token)]) for t, token in enumerate(ids) if int(token) in by_token]
