from __future__ import annotations

import json

import pytest
import torch

from neurosym.config import ModelConfig, preset
from neurosym.errors import ConfigError
from neurosym.model import TransformerPlus


@pytest.mark.parametrize("mlp", ["swiglu", "relu"])
def test_later_token_never_changes_earlier_logits(mlp: str) -> None:
    torch.manual_seed(0)
    model = TransformerPlus(ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, mlp=mlp)).eval()
    tokens = torch.randint(0, 50, (2, 12))
    changed = tokens.clone()
    changed[:, 7:] = torch.randint(0, 50, (2, 5))
    with torch.no_grad():
        before = model(tokens).logits[:, :7]
        after = model(changed).logits[:, :7]
    assert torch.equal(before, after)


def test_cached_decoding_equals_full_forward(micro_model: TransformerPlus) -> None:
    tokens = torch.randint(0, 50, (2, 10))
    with torch.no_grad():
        full = micro_model(tokens).logits
        first = micro_model(tokens[:, :6], use_cache=True)
        rest = micro_model(tokens[:, 6:], past_key_values=first.past_key_values, use_cache=True)
    assert torch.allclose(torch.cat((first.logits, rest.logits), 1), full, atol=1e-5)


def test_left_padding_equals_unpadded(micro_model: TransformerPlus) -> None:
    tokens = torch.randint(1, 50, (1, 9))
    padded = torch.cat((torch.zeros(1, 4, dtype=torch.long), tokens), 1)
    mask = torch.cat((torch.zeros(1, 4), torch.ones(1, 9)), 1).long()
    with torch.no_grad():
        plain = micro_model(tokens).logits
        shifted = micro_model(padded, attention_mask=mask).logits[:, 4:]
    assert torch.allclose(plain, shifted, atol=1e-5)


def test_batched_generation_equals_single(micro_model: TransformerPlus) -> None:
    short = torch.randint(1, 50, (1, 5))
    long = torch.randint(1, 50, (1, 8))
    batch = torch.zeros(2, 8, dtype=torch.long)
    batch[0, 3:] = short
    batch[1] = long
    mask = (torch.arange(8) >= torch.tensor([[3], [0]])).long()
    together = micro_model.generate(batch, attention_mask=mask, max_new_tokens=6)
    alone_short = micro_model.generate(short, max_new_tokens=6)
    alone_long = micro_model.generate(long, max_new_tokens=6)
    assert torch.equal(together[0], alone_short[0])
    assert torch.equal(together[1], alone_long[0])


def test_generation_stops_after_eos(micro_model: TransformerPlus) -> None:
    prompt = torch.randint(1, 50, (1, 4))
    first = int(micro_model.generate(prompt, max_new_tokens=1)[0, 0])
    out = micro_model.generate(prompt, max_new_tokens=10, eos_id=first, pad_id=0)
    assert out.shape == (1, 1)


def test_loss_ignores_masked_labels(micro_model: TransformerPlus) -> None:
    tokens = torch.randint(0, 50, (1, 8))
    labels = torch.full_like(tokens, -100)
    labels[0, 5:] = tokens[0, 5:]
    logits = micro_model(tokens).logits
    expected = torch.nn.functional.cross_entropy(logits[0, 4:7], tokens[0, 5:8])
    assert torch.allclose(micro_model(tokens, labels=labels).loss, expected, atol=1e-6)


def test_too_long_input_raises(micro_model: TransformerPlus) -> None:
    with pytest.raises(ValueError, match="exceeds max_seq_len=64"):
        micro_model(torch.zeros(1, 65, dtype=torch.long))


def test_config_json_round_trip() -> None:
    config = preset("small", vocab_size=123, mlp="relu")
    assert ModelConfig.from_json(config.to_json()) == config


def test_config_rejects_unknown_field() -> None:
    with pytest.raises(ConfigError, match="unknown ModelConfig field"):
        ModelConfig.from_dict({"vocab_size": 10, "width": 3})


def test_config_rejects_indivisible_heads() -> None:
    with pytest.raises(ConfigError, match="not divisible"):
        ModelConfig(vocab_size=10, d_model=30, n_heads=4)


def test_config_rejects_unknown_mlp() -> None:
    with pytest.raises(ConfigError, match="valid kinds: swiglu, relu"):
        ModelConfig(vocab_size=10, mlp="gelu")


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ConfigError, match="tiny, small, base"):
        preset("huge", 10)


def test_tied_embeddings_share_storage(micro_model: TransformerPlus) -> None:
    assert micro_model.lm_head.weight.data_ptr() == micro_model.embed.weight.data_ptr()


def test_config_to_dict_is_json(micro_config: ModelConfig) -> None:
    assert json.loads(json.dumps(micro_config.to_dict()))["d_model"] == 32


def test_internals_hold_one_state_per_layer(micro_model: TransformerPlus) -> None:
    output = micro_model(torch.randint(0, 50, (2, 6)), return_internals=True)
    assert len(output.internals.hidden_states) == 2
    assert output.internals.hidden_states[-1].shape == (2, 6, 32)


def test_generation_without_cache_equals_cached(micro_model: TransformerPlus) -> None:
    prompt = torch.tensor([[5, 6, 7, 8], [0, 0, 9, 10]])
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    cached = micro_model.generate(prompt, attention_mask=mask, max_new_tokens=6)
    micro_model.blocks[0].supports_cache = False
    try:
        uncached = micro_model.generate(prompt, attention_mask=mask, max_new_tokens=6)
    finally:
        del micro_model.blocks[0].supports_cache
    assert torch.equal(uncached, cached)
