"""SymbolSlots: causality (plain, packed, padded), gradients, losses, config checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neurosym.config import ModelConfig
from neurosym.data import branch_mask
from neurosym.errors import ConfigError
from neurosym.layers.slots import SlotRecord, SymbolSlots, split_mask
from neurosym.model import IGNORE_INDEX, TransformerPlus


def _model(binding: str = "gumbel", layers: list[int] | None = None, seed: int = 0) -> TransformerPlus:
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=40, d_model=32, n_layers=2, n_heads=4, max_seq_len=64,
                         slots={"n_slots": 4, "n_entities": 6, "binding": binding, "layers": layers})
    return TransformerPlus(config)


def _targets(batch: int, length: int) -> torch.Tensor:
    targets = torch.full((batch, length), IGNORE_INDEX)
    targets[:, 2] = 1
    targets[:, 5] = 3
    return targets


def test_slots_later_token_leaves_earlier_logits_unchanged() -> None:
    model = _model().eval()
    ids = torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 8] = (changed[:, 8] + 1) % 40
    before, after = model(ids).logits, model(changed).logits
    assert torch.allclose(before[:, :8], after[:, :8], atol=1e-6)


def test_slots_later_token_changes_later_logits() -> None:
    model = _model().eval()
    ids = torch.randint(0, 40, (1, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 8] = (changed[:, 8] + 1) % 40
    assert not torch.allclose(model(ids).logits[:, 9:], model(changed).logits[:, 9:])


def test_slots_packed_branch_equals_branch_alone() -> None:
    model = _model().eval()
    context, first, second = [5, 6, 7, 8], [9, 10, 11], [12, 13]
    ids = torch.tensor([[1, *context, *first, *second]])
    branches = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 2, 2]])
    positions = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 5, 6]])
    packed = model(ids, positions=positions, attn_mask=branch_mask(branches)).logits
    alone = model(torch.tensor([[1, *context, *second]])).logits
    assert torch.allclose(packed[0, 8:], alone[0, 5:], atol=1e-5)


def test_slots_left_padding_does_not_leak() -> None:
    model = _model().eval()
    prompt = torch.tensor([[3, 4, 5, 6, 7]])
    padded = torch.tensor([[0, 0, 3, 4, 5, 6, 7]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1]])
    plain = model(prompt).logits[0, -1]
    with_padding = model(padded, attention_mask=mask).logits[0, -1]
    assert torch.allclose(plain, with_padding, atol=1e-5)


def test_split_mask_uses_prefix_sums_for_padded_causal_mask() -> None:
    from neurosym.layers.attention import build_attention_mask

    mask = build_attention_mask(torch.tensor([[0, 1, 1], [1, 1, 1]]), 3, 0)
    visible, valid = split_mask(mask, 2, 3)
    assert visible is None
    assert valid.tolist() == [[False, True, True], [True, True, True]]


def test_slots_block_turns_kv_cache_off() -> None:
    assert not _model().supports_cache


def test_slots_generate_without_cache_matches_greedy_argmax() -> None:
    model = _model().eval()
    prompt = torch.tensor([[3, 4, 5]])
    generated = model.generate(prompt, max_new_tokens=1)
    assert generated[0, 0] == model(prompt).logits[0, -1].argmax()


@pytest.mark.parametrize("binding", ["gumbel", "vq"])
def test_slots_codebook_receives_gradient(binding: str) -> None:
    model = _model(binding).train()
    ids = torch.randint(0, 40, (2, 10), generator=torch.Generator().manual_seed(2))
    model(ids, labels=ids).loss.backward()
    for block in model.blocks:
        assert block.slots.codebook.grad is not None
        assert block.slots.codebook.grad.abs().sum() > 0


def test_slots_vq_adds_commitment_loss() -> None:
    model = _model("vq").train()
    ids = torch.randint(0, 40, (2, 10), generator=torch.Generator().manual_seed(2))
    assert set(model(ids, labels=ids).aux_losses) == {"slots.0.commitment", "slots.1.commitment"}


def test_slots_targets_add_weighted_binding_loss() -> None:
    model = _model(layers=[1]).train()
    ids = torch.randint(0, 40, (2, 10), generator=torch.Generator().manual_seed(2))
    output = model(ids, labels=ids, feature_inputs={"entity_targets": _targets(2, 10)})
    assert list(output.aux_losses) == ["slots.1.binding"]


def test_slots_binding_loss_is_skipped_without_targets() -> None:
    model = _model().train()
    ids = torch.randint(0, 40, (2, 10), generator=torch.Generator().manual_seed(2))
    assert model(ids, labels=ids).aux_losses == {}


def test_slots_rejects_targets_of_wrong_shape() -> None:
    model = _model().train()
    ids = torch.randint(0, 40, (2, 10))
    with pytest.raises(ValueError, match="entity_targets must have shape"):
        model(ids, labels=ids, feature_inputs={"entity_targets": _targets(2, 9)})


def test_slots_supervised_loss_decreases_in_a_few_steps() -> None:
    model = _model().train()
    ids = torch.randint(0, 40, (4, 10), generator=torch.Generator().manual_seed(3))
    targets = _targets(4, 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        output = model(ids, labels=ids, feature_inputs={"entity_targets": targets})
        losses.append(sum(output.aux_losses.values()).item())
        output.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert losses[-1] < 0.5 * losses[0]


def test_slots_record_internals_per_layer() -> None:
    model = _model().eval()
    records = model(torch.tensor([[1, 2, 3]]), return_internals=True).internals.features["slots"]
    assert [(type(r), r.layer, tuple(r.assign.shape)) for r in records] == [
        (SlotRecord, 0, (1, 3, 4)), (SlotRecord, 1, (1, 3, 4))]


def test_slots_assignment_sums_to_one_over_slots() -> None:
    model = _model().eval()
    record = model(torch.tensor([[1, 2, 3]]), return_internals=True).internals.features["slots"][0]
    assert torch.allclose(record.assign.sum(-1), torch.ones(1, 3))


def test_slots_bindings_identical_after_save_and_load(tmp_path: Path) -> None:
    model = _model().eval()
    ids = torch.tensor([[1, 5, 9, 2, 7, 7, 3]])
    model.save_pretrained(tmp_path)
    loaded = TransformerPlus.from_pretrained(tmp_path).eval()
    before = model(ids, return_internals=True).internals.features["slots"]
    after = loaded(ids, return_internals=True).internals.features["slots"]
    for a, b in zip(before, after, strict=True):
        assert torch.equal(a.entity, b.entity)
        assert torch.equal(a.assign, b.assign)


def test_slots_module_requires_config() -> None:
    with pytest.raises(ValueError, match="needs ModelConfig.slots"):
        SymbolSlots(ModelConfig(vocab_size=8, d_model=16, n_heads=2))


@pytest.mark.parametrize(("options", "message"), [
    ({"binding": "argmax"}, "unknown slots.binding 'argmax'"),
    ({"n_slots": 0}, "slots.n_slots must be a positive integer"),
    ({"temperature": 0}, "slots.temperature must be a positive number"),
    ({"supervision_weight": -1}, "slots.supervision_weight must be a number >= 0"),
    ({"n_entities": 2, "entity_names": ["a", "b", "c"]}, "raise n_entities to at least 3"),
    ({"entity_names": ["a", "a"]}, "duplicate names"),
])
def test_slots_config_rejects_bad_value(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(vocab_size=8, d_model=16, n_heads=2, slots=options)
