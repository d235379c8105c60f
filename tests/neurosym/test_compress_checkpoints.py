"""Quantization and pruning: reload equality, masks, sizes and unsupported combinations."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neurosym.compress import (
    COMPRESSION_FILE,
    METHODS,
    PRUNE_METHODS,
    Int4WeightLinear,
    Int8WeightLinear,
    compress_model,
    input_norms,
    linear_weight_bytes,
    prune_mask,
    save_compressed,
    target_linears,
)
from neurosym.config import ModelConfig
from neurosym.errors import CheckpointError, ConfigError
from neurosym.model import TransformerPlus

VOCAB = 40


def micro(d_model: int = 32, **features) -> TransformerPlus:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB, d_model=d_model, n_layers=2, n_heads=4, max_seq_len=64, **features)
    return TransformerPlus(config).eval()


def tokens() -> torch.Tensor:
    return torch.randint(1, VOCAB, (2, 10), generator=torch.Generator().manual_seed(1))


def calibration() -> list[dict[str, torch.Tensor]]:
    ids = torch.randint(1, VOCAB, (4, 12), generator=torch.Generator().manual_seed(2))
    return [{"input_ids": ids, "token_mask": torch.ones_like(ids, dtype=torch.bool)}]


@pytest.mark.parametrize("method", METHODS)
def test_compressed_checkpoint_reloads_to_identical_outputs(method: str, tmp_path) -> None:
    model, recipe = compress_model(micro(), method, calibration=calibration())
    save_compressed(model, tmp_path / "c", recipe)
    reloaded = TransformerPlus.from_pretrained(tmp_path / "c")
    with torch.no_grad():
        assert torch.equal(reloaded(tokens()).logits, model(tokens()).logits)


@pytest.mark.parametrize("method", METHODS)
def test_compressed_model_stays_close_to_float(method: str) -> None:
    model = micro()
    with torch.no_grad():
        reference = model(tokens()).logits
        compressed, _ = compress_model(model, method, calibration=calibration())
        assert (compressed(tokens()).logits - reference).abs().max() < 0.2


@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_pruning_masks_survive_save_and_load(method: str, tmp_path) -> None:
    model, recipe = compress_model(micro(), method, calibration=calibration())
    save_compressed(model, tmp_path / "p", recipe)
    reloaded = TransformerPlus.from_pretrained(tmp_path / "p")
    before = {name: linear.weight_mask for name, linear in target_linears(model).items()}
    after = {name: linear.weight_mask for name, linear in target_linears(reloaded).items()}
    assert all(torch.equal(before[name], after[name]) for name in before)


@pytest.mark.parametrize("method", PRUNE_METHODS)
def test_pruning_reaches_requested_sparsity_per_layer(method: str) -> None:
    _, recipe = compress_model(micro(), method, sparsity=0.5, calibration=calibration())
    assert min(recipe["achieved_sparsity"].values()) >= 0.5


def test_two_four_keeps_two_of_every_four() -> None:
    weight = torch.randn(6, 16)
    keep = prune_mask(weight, "2:4", 0.5, None)
    assert keep.view(6, 4, 4).sum(-1).eq(2).all()


def test_wanda_keeps_weights_on_loud_inputs() -> None:
    weight = torch.ones(3, 4)
    weight[:, 0] = 0.5  # smaller weight, but its input is loud
    keep = prune_mask(weight, "wanda", 0.5, torch.tensor([100.0, 1.0, 1.0, 1.0]))
    assert keep[:, 0].all()


def test_magnitude_drops_the_smallest_weights() -> None:
    weight = torch.tensor([[0.1, -2.0], [3.0, -0.2]])
    keep = prune_mask(weight, "magnitude", 0.5, None)
    assert keep.tolist() == [[False, True], [True, False]]


def test_input_norms_ignore_padding() -> None:
    model = micro()
    ids = torch.randint(1, VOCAB, (1, 8), generator=torch.Generator().manual_seed(3))
    padded = torch.cat((ids, torch.zeros(1, 4, dtype=torch.long)), dim=1)
    mask = torch.zeros_like(padded, dtype=torch.bool)
    mask[:, :8] = True
    plain = input_norms(model, [{"input_ids": ids, "token_mask": torch.ones_like(ids, dtype=torch.bool)}])
    masked = input_norms(model, [{"input_ids": padded, "token_mask": mask}])
    torch.testing.assert_close(masked["blocks.0.attn.qkv"], plain["blocks.0.attn.qkv"])


def test_int8_weight_linear_matches_dequantized_product() -> None:
    linear = nn.Linear(16, 8)
    module = Int8WeightLinear.from_linear(linear)
    x = torch.randn(3, 16)
    torch.testing.assert_close(module(x), x @ module.dequantized().T + linear.bias, rtol=1e-5, atol=1e-5)


def test_int4_packing_round_trips_codes() -> None:
    linear = nn.Linear(32, 4, bias=False)
    module = Int4WeightLinear.from_linear(linear, group_size=16)
    error = (module.dequantized() - linear.weight).abs()
    scales = module.scales.float().repeat_interleave(16, dim=1)
    assert bool((error <= scales / 2 + 1e-6).all())


@pytest.mark.parametrize(("method", "least"), [("int8-dynamic", 3.5), ("int8-weight", 3.5), ("int4-weight", 6.0)])
def test_quantization_shrinks_linear_weights(method: str, least: float) -> None:
    model = micro(d_model=128)
    before = linear_weight_bytes(model)
    compress_model(model, method)
    assert before / linear_weight_bytes(model) >= least


def test_two_four_rejects_width_not_divisible_by_four() -> None:
    model = micro()
    model.blocks[0].mlp.down = nn.Linear(30, 32, bias=False)
    with pytest.raises(ConfigError, match="not divisible by 4"):
        compress_model(model, "2:4")


def test_int4_rejects_group_size_not_dividing_width() -> None:
    with pytest.raises(ConfigError, match="group size"):
        compress_model(micro(), "int4-weight", group_size=12)


@pytest.mark.parametrize("feature", ["knn_mlp", "knn_attention"])
def test_quantization_rejects_knn_models(feature: str) -> None:
    model = micro(**{feature: {"layers": [0]}})
    with pytest.raises(ConfigError, match=feature):
        compress_model(model, "int4-weight")


def test_wanda_without_calibration_is_refused() -> None:
    with pytest.raises(ConfigError, match="--task"):
        compress_model(micro(), "wanda")


def test_unknown_method_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="int8-dynamic"):
        compress_model(micro(), "int3")


def test_sparsity_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="sparsity"):
        compress_model(micro(), "magnitude", sparsity=1.0)


def test_compressing_twice_is_refused() -> None:
    model, _ = compress_model(micro(), "int8-weight")
    with pytest.raises(ConfigError, match="compressed already"):
        compress_model(model, "int4-weight")


def test_corrupt_recipe_names_the_file(tmp_path) -> None:
    model, recipe = compress_model(micro(), "int8-weight")
    save_compressed(model, tmp_path / "c", recipe)
    (tmp_path / "c" / COMPRESSION_FILE).write_text(json.dumps({"method": "zip"}))
    with pytest.raises(CheckpointError, match=COMPRESSION_FILE):
        TransformerPlus.from_pretrained(tmp_path / "c")
