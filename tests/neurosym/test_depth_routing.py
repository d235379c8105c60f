"""Early exit, skip-layer and mixture-of-depths: equivalence, causality and caching."""

from __future__ import annotations

import math

import pytest
import torch

from neurosym.config import EarlyExitConfig, MixtureOfDepthsConfig, ModelConfig, SkipLayerConfig
from neurosym.errors import ConfigError
from neurosym.layers.routing import confidence, forward_flops
from neurosym.model import TransformerPlus

VOCAB = 40


def build(seed: int = 0, n_layers: int = 4, **features) -> TransformerPlus:
    """A micro model whose LM head is sharp enough that some tokens are confident."""
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=n_layers, n_heads=4, max_seq_len=64, **features)
    model = TransformerPlus(config)
    with torch.no_grad():
        model.embed.weight.mul_(25.0)
    return model.eval()


def dense_twin(model: TransformerPlus) -> TransformerPlus:
    """The same weights without any depth feature."""
    config = ModelConfig.from_dict({**model.config.to_dict(), "early_exit": None, "skip_layers": None,
                                    "mixture_of_depths": None})
    dense = TransformerPlus(config).eval()
    dense.load_state_dict(model.state_dict(), strict=False)
    return dense


def median_exit_confidence(model: TransformerPlus, ids: torch.Tensor, layer: int) -> float:
    """A threshold at which about half of the tokens exit after ``layer``."""
    with torch.no_grad():
        states = model(ids, return_internals=True).internals.hidden_states
        logits = model.lm_head(model.depth.exit_norms[str(layer)](states[layer]))
    return float(confidence(logits, model.config.early_exit.criterion).median())


def ids(batch: int = 2, length: int = 12, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB, (batch, length), generator=generator)


def early_exit_model(criterion: str = "max_prob") -> TransformerPlus:
    model = build(early_exit=EarlyExitConfig(layers=[0, 1, 2], threshold=1.0, criterion=criterion))
    model.config.early_exit.threshold = median_exit_confidence(model, ids(), 0)
    return model


def balance(model: TransformerPlus) -> TransformerPlus:
    """Set each untrained decision near its median so that about half of the tokens go each way."""
    tokens = ids()
    with torch.no_grad():
        states = [model.embed(tokens), *dense_twin(model)(tokens, return_internals=True).internals.hidden_states]
        skip = model.config.skip_layers
        if skip is not None and skip.dynamic:
            similarity = torch.nn.functional.cosine_similarity(states[0], states[1], dim=-1)
            skip.similarity = float(similarity.median())
        for layer, router in (model.depth.routers.items() if model.depth is not None else []):
            router.predictor[-1].bias -= router.predict(states[int(layer)]).median()
        exit_config = model.config.early_exit
        if exit_config is not None:
            exit_config.threshold = median_exit_confidence(model, tokens, exit_config.exit_layers(4)[0])
    return model


VARIANTS = {
    "early_exit_max_prob": lambda: early_exit_model("max_prob"),
    "early_exit_entropy": lambda: early_exit_model("entropy"),
    "skip_static": lambda: build(skip_layers=SkipLayerConfig(static=[1, 2], dynamic=False)),
    "skip_dynamic": lambda: balance(build(skip_layers=SkipLayerConfig(dynamic=True))),
    "mixture_of_depths": lambda: balance(build(mixture_of_depths=MixtureOfDepthsConfig(layers=[1, 3], capacity=0.5))),
    "all_three": lambda: balance(build(
        early_exit=EarlyExitConfig(layers=[1, 2], threshold=1.0),
        skip_layers=SkipLayerConfig(dynamic=True),
        mixture_of_depths=MixtureOfDepthsConfig(layers=[2], capacity=0.5),
    )),
}


def test_early_exit_threshold_one_equals_dense() -> None:
    model = build(early_exit=EarlyExitConfig(threshold=1.0))
    tokens = ids()
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits, dense_twin(model)(tokens).logits, rtol=0, atol=0)


def test_early_exit_threshold_one_generation_equals_dense() -> None:
    model = build(early_exit=EarlyExitConfig(threshold=1.0))
    prompt = ids(length=5)
    assert torch.equal(model.generate(prompt, max_new_tokens=8), dense_twin(model).generate(prompt, max_new_tokens=8))


def test_mixture_of_depths_capacity_one_equals_dense() -> None:
    model = build(mixture_of_depths=MixtureOfDepthsConfig(capacity=1.0))
    tokens = ids()
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits, dense_twin(model)(tokens).logits, rtol=0, atol=0)


def test_dynamic_skip_similarity_one_equals_dense() -> None:
    model = build(skip_layers=SkipLayerConfig(dynamic=True, similarity=1.0))
    tokens = ids()
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits, dense_twin(model)(tokens).logits, rtol=0, atol=0)


def test_static_skip_equals_model_without_the_block() -> None:
    model = build(n_layers=2, skip_layers=SkipLayerConfig(static=[1], dynamic=False))
    torch.manual_seed(0)
    shallow = TransformerPlus(ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=1, n_heads=4, max_seq_len=64)).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("blocks.1.")}
    shallow.load_state_dict(state)
    tokens = ids()
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits, shallow(tokens).logits)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_later_token_never_changes_earlier_logits(variant: str) -> None:
    model = VARIANTS[variant]()
    tokens = ids()
    changed = tokens.clone()
    changed[:, -1] = (changed[:, -1] + 7) % (VOCAB - 1) + 1
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits[:, :-1], model(changed).logits[:, :-1])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cached_decoding_equals_full_forward(variant: str) -> None:
    model = VARIANTS[variant]()
    tokens = ids(length=10)
    with torch.no_grad():
        full = model(tokens).logits
        output = model(tokens[:, :4], use_cache=True)
        steps = [output.logits]
        for position in range(4, tokens.shape[1]):
            output = model(tokens[:, position : position + 1], past_key_values=output.past_key_values, use_cache=True)
            steps.append(output.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cached_generation_equals_uncached(variant: str) -> None:
    model = VARIANTS[variant]()
    prompt = ids(batch=3, length=5)
    mask = torch.ones_like(prompt)
    cached = model.generate(prompt, max_new_tokens=8)
    stop = torch.tensor([], dtype=torch.long)
    uncached = model._generate_without_cache(prompt, mask, 8, stop, 0, 0.0, None, None)
    assert torch.equal(cached, uncached)


def test_decoding_rows_exit_at_different_layers() -> None:
    model = early_exit_model()
    tokens = ids(batch=6, length=10, seed=3)
    layers = []
    with torch.no_grad():
        output = model(tokens[:, :4], use_cache=True)
        for position in range(4, tokens.shape[1]):
            output = model(tokens[:, position : position + 1], past_key_values=output.past_key_values,
                           use_cache=True, return_internals=True)
            layers.append(output.internals.features["early_exit"][0]["exit_layer"][:, 0])
    assert len(set(torch.stack(layers).flatten().tolist())) > 1


def test_early_exit_records_exit_layers_and_saves_evaluations() -> None:
    model = early_exit_model()
    with torch.no_grad():
        record = model(ids(), return_internals=True).internals.features["early_exit"][0]
    assert record["evaluations"].float().mean() < model.config.n_layers


def test_early_exit_evaluations_match_exit_layers() -> None:
    model = early_exit_model()
    with torch.no_grad():
        record = model(ids(), return_internals=True).internals.features["early_exit"][0]
    assert torch.equal(record["evaluations"], record["exit_layer"] + 1)


def test_early_exit_stats_count_layers_per_token() -> None:
    model = build(early_exit=EarlyExitConfig(threshold=1.0))
    with torch.no_grad():
        model(ids())
    assert model.depth.stats.layers_per_token == model.config.n_layers


def test_early_exit_adds_layer_weighted_aux_loss() -> None:
    model = build(early_exit=EarlyExitConfig(layers=[0, 2], loss_weight=0.5)).train()
    tokens = ids()
    output = model(tokens, labels=tokens)
    assert "early_exit" in output.aux_losses


def test_early_exit_loss_trains_exit_norm() -> None:
    model = build(early_exit=EarlyExitConfig(layers=[1])).train()
    tokens = ids()
    model(tokens, labels=tokens).loss.backward()
    assert model.depth.exit_norms["1"].weight.grad.abs().sum() > 0


def test_exit_weights_grow_with_depth() -> None:
    model = build(early_exit=EarlyExitConfig(layers=[0, 2]))
    assert model.depth.exit_weights() == {0: pytest.approx(1 / 4), 2: pytest.approx(3 / 4)}


def test_mixture_of_depths_training_routes_capacity_fraction() -> None:
    model = build(mixture_of_depths=MixtureOfDepthsConfig(layers=[1], capacity=0.25)).train()
    tokens = ids(length=12)
    record = model(tokens, return_internals=True).internals.features["mixture_of_depths"][0]
    assert record["routed"].sum(dim=1).tolist() == [math.ceil(0.25 * 12)] * 2


def test_mixture_of_depths_router_and_predictor_get_gradients() -> None:
    model = build(mixture_of_depths=MixtureOfDepthsConfig(layers=[1], capacity=0.25)).train()
    tokens = ids()
    output = model(tokens, labels=tokens)
    output.loss.backward()
    router = model.depth.routers["1"]
    grads = [router.router.weight.grad.abs().sum() > 0, router.predictor[0].weight.grad.abs().sum() > 0]
    assert grads == [True, True]


def test_mixture_of_depths_training_with_packed_mask_runs() -> None:
    model = build(mixture_of_depths=MixtureOfDepthsConfig(layers=[1], capacity=0.5)).train()
    tokens = ids(length=8)
    mask = torch.tril(torch.ones(8, 8, dtype=torch.bool)).expand(2, 8, 8)
    with_mask = model(tokens, labels=tokens, attn_mask=mask).logits
    torch.testing.assert_close(with_mask, model(tokens, labels=tokens).logits)


def test_mixture_of_depths_eval_records_router_decisions() -> None:
    model = build(mixture_of_depths=MixtureOfDepthsConfig(layers=[1, 3], capacity=0.5))
    with torch.no_grad():
        records = model(ids(), return_internals=True).internals.features["mixture_of_depths"]
    assert [r["layer"] for r in records] == [1, 3]


@pytest.mark.parametrize(
    ("feature", "options", "fragment"),
    [
        ("early_exit", {"threshold": 1.5}, "threshold"),
        ("early_exit", {"threshold": -0.1}, "threshold"),
        ("early_exit", {"criterion": "margin"}, "criterion"),
        ("mixture_of_depths", {"capacity": 0.0}, "capacity"),
        ("mixture_of_depths", {"capacity": 1.5}, "capacity"),
        ("skip_layers", {"dynamic": False}, "does nothing"),
        ("skip_layers", {"static": [0, 1, 2, 3]}, "every block"),
        ("skip_layers", {"static": [9]}, "outside"),
    ],
)
def test_depth_config_rejects_bad_values(feature: str, options: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=4, n_heads=4, **{feature: options})


def test_depth_config_round_trips_json() -> None:
    config = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=4, n_heads=4,
                         early_exit=EarlyExitConfig(layers=[1], threshold=0.8, criterion="entropy"),
                         mixture_of_depths=MixtureOfDepthsConfig(layers=[1, 3], capacity=0.125),
                         skip_layers=SkipLayerConfig(static=[2], dynamic=True))
    assert ModelConfig.from_json(config.to_json()) == config


def test_forward_flops_capacity_one_equals_dense() -> None:
    dense = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=4, n_heads=4)
    routed = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=4, n_heads=4,
                         mixture_of_depths=MixtureOfDepthsConfig(capacity=1.0))
    assert forward_flops(routed, 50)["total"] == forward_flops(dense, 50)["total"]


def test_forward_flops_shrink_with_capacity() -> None:
    dense = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=4, n_heads=4)
    routed = ModelConfig(vocab_size=VOCAB, d_model=32, n_layers=4, n_heads=4,
                         mixture_of_depths=MixtureOfDepthsConfig(layers=[1, 3], capacity=0.125))
    assert forward_flops(routed, 64)["blocks"] < 0.6 * forward_flops(dense, 64)["blocks"]


def test_early_exit_on_last_block_adds_no_head() -> None:
    model = build(early_exit=EarlyExitConfig(layers=[1, 3]))
    assert sorted(model.depth.exit_norms) == ["1"]


def test_static_skip_keeps_one_hidden_state_per_block() -> None:
    model = build(skip_layers=SkipLayerConfig(static=[2], dynamic=False))
    with torch.no_grad():
        states = model(ids(), return_internals=True).internals.hidden_states
    assert len(states) == 4
    assert torch.equal(states[2], states[1])
