"""Entity targets for slot supervision, binding metrics, eval reports and the bench."""

from __future__ import annotations

import pytest
import torch

from neurosym.binding import (
    _mode_share,
    binding_metrics,
    entity_token_map,
    entity_vocabulary,
    prepare_slot_supervision,
)
from neurosym.config import ModelConfig
from neurosym.data import collate_train, encode_example, model_inputs
from neurosym.errors import ConfigError
from neurosym.evaluation import SuiteReport, TaskReport
from neurosym.model import IGNORE_INDEX, TransformerPlus
from neurosym.training import TrainConfig, Trainer


def _config(tokenizer, **slots) -> ModelConfig:
    return ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq_len=128,
                       slots={"n_slots": 4, "n_entities": 32, "layers": [1], **slots})


def _encoded(examples, tokenizer, config):
    return {"episodic.location": [encode_example(e, tokenizer, config.max_seq_len) for e in examples]}


def test_entity_vocabulary_is_sorted_and_case_folded() -> None:
    from neurosym.tasks.example import Example

    examples = [Example([], "q", "a", entities=["Mary", "ball"]), Example([], "q", "a", entities=["mary", "Bob"])]
    assert entity_vocabulary([examples]) == ["ball", "Bob", "Mary"]


def test_mode_share_counts_majority_per_key() -> None:
    assert _mode_share([("a", 1), ("a", 1), ("a", 2), ("b", 3)]) == 0.75


def test_prepare_supervision_names_rows_and_marks_mentions(location_examples, location_tokenizer) -> None:
    config = _config(location_tokenizer)
    encoded = _encoded(location_examples[:20], location_tokenizer, config)
    prepare_slot_supervision(config, location_tokenizer, {"episodic.location": location_examples}, encoded)
    token_map = entity_token_map(location_tokenizer, config.slots.entity_names)
    item = encoded["episodic.location"][0]
    expected = [token_map.get(t, IGNORE_INDEX) for t in item.input_ids]
    assert config.slots.entity_names == entity_vocabulary([location_examples])
    assert item.entity_targets == expected


def test_prepare_supervision_marks_a_known_mention(location_examples, location_tokenizer) -> None:
    config = _config(location_tokenizer)
    encoded = _encoded(location_examples[:1], location_tokenizer, config)
    prepare_slot_supervision(config, location_tokenizer, {"episodic.location": location_examples}, encoded)
    name = location_examples[0].entities[0]
    token = location_tokenizer.token_to_id[name.lower()]
    item = encoded["episodic.location"][0]
    position = item.input_ids.index(token)
    assert config.slots.entity_names[item.entity_targets[position]] == name


def test_prepare_supervision_skips_unsupervised_slots(location_examples, location_tokenizer) -> None:
    config = _config(location_tokenizer, supervision_weight=0)
    encoded = _encoded(location_examples[:5], location_tokenizer, config)
    prepare_slot_supervision(config, location_tokenizer, {"episodic.location": location_examples}, encoded)
    assert (config.slots.entity_names, encoded["episodic.location"][0].entity_targets) == (None, None)


def test_prepare_supervision_rejects_small_codebook(location_examples, location_tokenizer) -> None:
    config = _config(location_tokenizer, n_entities=2)
    encoded = _encoded(location_examples[:5], location_tokenizer, config)
    with pytest.raises(ConfigError, match="raise n_entities"):
        prepare_slot_supervision(config, location_tokenizer, {"episodic.location": location_examples}, encoded)


def test_collate_delivers_entity_targets_to_feature_inputs(location_examples, location_tokenizer) -> None:
    config = _config(location_tokenizer)
    encoded = _encoded(location_examples[:4], location_tokenizer, config)
    prepare_slot_supervision(config, location_tokenizer, {"episodic.location": location_examples}, encoded)
    batch = collate_train(encoded["episodic.location"], location_tokenizer.pad_id)
    targets = model_inputs(batch)["feature_inputs"]["entity_targets"]
    assert targets.shape == batch["input_ids"].shape
    assert int((targets != IGNORE_INDEX).sum()) > 0


def _supervised_trainer(location_examples, location_tokenizer, steps: int) -> Trainer:
    from neurosym.data import MixtureSampler

    torch.manual_seed(0)
    config = _config(location_tokenizer)
    encoded = _encoded(location_examples, location_tokenizer, config)
    prepare_slot_supervision(config, location_tokenizer, {"episodic.location": location_examples}, encoded)
    sampler = MixtureSampler(encoded, {}, seed=0)
    train_config = TrainConfig(steps=steps, batch_size=16, lr=1e-2, warmup_steps=2, eval_every=100,
                               log_every=1, precision="fp32", device="cpu", progress=False)
    return Trainer(TransformerPlus(config), location_tokenizer, sampler, train_config)


def test_supervised_training_raises_binding_metrics(location_examples, location_tokenizer) -> None:
    trainer = _supervised_trainer(location_examples, location_tokenizer, steps=40)
    before = binding_metrics(trainer.model, location_tokenizer, location_examples[:40])["layer_1"]
    trainer.train()
    after = binding_metrics(trainer.model, location_tokenizer, location_examples[:40])["layer_1"]
    assert after["named_accuracy"] > before["named_accuracy"] + 0.3


def test_binding_metrics_lie_between_zero_and_one(location_examples, location_tokenizer) -> None:
    torch.manual_seed(0)
    model = TransformerPlus(_config(location_tokenizer, entity_names=["Alice", "Bob"]))
    metrics = binding_metrics(model, location_tokenizer, location_examples[:10])["layer_1"]
    assert all(0.0 <= metrics[key] <= 1.0 for key in ("consistency", "purity", "named_accuracy"))


def test_binding_metrics_empty_without_slots(location_examples, location_tokenizer) -> None:
    model = TransformerPlus(ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=1, n_heads=4))
    assert binding_metrics(model, location_tokenizer, location_examples[:2]) == {}


def test_report_lists_binding_metrics() -> None:
    report = TaskReport("episodic.location", "test", 10, 5,
                        binding={"layer_1": {"consistency": 0.95, "purity": 0.9, "mentions": 40.0}})
    suite = SuiteReport([report])
    assert "layer_1: consistency 0.950, purity 0.900 (40 mentions)" in suite.to_table()
    assert "layer_1: consistency 0.950" in suite.to_markdown()


def test_bench_feature_reports_step_time_ratio() -> None:
    from neurosym.bench import bench_feature

    result = bench_feature("slots", model_preset="tiny", batch_size=2, steps_per_round=1, rounds=1)
    assert result["layers"] == [1, 3]
    assert result["step_time_ratio"] > 0


def test_train_run_saves_names_and_eval_reports_bindings(tmp_path) -> None:
    from neurosym.checkpoint import load_config
    from neurosym.runs import TaskSpec, evaluate_checkpoint, train_run

    spec = TaskSpec("episodic.location", difficulty={"story_length": 3}, train_examples=40)
    train_config = TrainConfig(steps=2, batch_size=4, eval_every=2, warmup_steps=1, precision="fp32",
                               device="cpu", progress=False)
    overrides = {"d_model": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 96, "slots": {"layers": [1]}}
    train_run([spec], tmp_path, model_overrides=overrides, train_config=train_config, valid_examples=4)
    names = load_config(tmp_path / "last").slots.entity_names
    report = evaluate_checkpoint(tmp_path, n=4, device="cpu")
    assert names == entity_vocabulary([spec.examples("train", n=40, seed=0)])
    assert set(report.reports[0].binding) == {"layer_1"}
