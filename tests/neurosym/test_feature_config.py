"""Optional-feature configs nested in ModelConfig."""

from __future__ import annotations

import pytest

from neurosym.config import FEATURES, ModelConfig, SlotsConfig
from neurosym.data import model_inputs
from neurosym.errors import ConfigError


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_feature_config_round_trips_through_json(name: str) -> None:
    config = ModelConfig(vocab_size=16, n_layers=2, **{name: {"layers": [1]}})
    assert ModelConfig.from_json(config.to_json()) == config


def test_feature_config_from_dict_builds_dataclass() -> None:
    config = ModelConfig(vocab_size=16, n_layers=2, slots={"layers": [0]})
    assert isinstance(config.slots, SlotsConfig)


def test_feature_config_rejects_layer_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"slots.layers has indices \[5\]"):
        ModelConfig(vocab_size=16, n_layers=2, slots={"layers": [5]})


def test_feature_config_rejects_unknown_field() -> None:
    with pytest.raises(ConfigError, match="unknown slots field"):
        ModelConfig(vocab_size=16, slots={"layer": [0]})


def test_feature_config_rejects_wrong_type() -> None:
    with pytest.raises(ConfigError, match="must be a SlotsConfig or None"):
        ModelConfig(vocab_size=16, slots=3)


def test_baseline_config_has_no_features() -> None:
    assert ModelConfig(vocab_size=16).enabled_features() == []


def test_model_inputs_moves_extras_to_feature_inputs() -> None:
    batch = {"input_ids": 1, "labels": 2, "entity_targets": 3}
    assert model_inputs(batch) == {"input_ids": 1, "labels": 2, "feature_inputs": {"entity_targets": 3}}


def test_loss_is_lm_loss_plus_weighted_aux_losses() -> None:
    import torch

    from neurosym.model import TransformerPlus

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=32, d_model=32, n_layers=2, n_heads=2, early_exit={"layers": [0]})
    ids = torch.randint(0, 32, (2, 8))
    output = TransformerPlus(config)(ids, labels=ids)
    assert torch.allclose(output.loss, output.lm_loss + sum(output.aux_losses.values()))


def test_early_exit_model_reports_an_aux_loss() -> None:
    import torch

    from neurosym.model import TransformerPlus

    config = ModelConfig(vocab_size=32, d_model=32, n_layers=2, n_heads=2, early_exit={"layers": [0]})
    ids = torch.randint(0, 32, (2, 8))
    assert TransformerPlus(config)(ids, labels=ids).aux_losses
