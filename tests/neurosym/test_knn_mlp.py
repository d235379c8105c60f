"""kNN MLP: equivalence with the dense MLP, exact top-k masking, product keys, the faiss back-end."""

from __future__ import annotations

import pytest
import torch

from neurosym.config import KNNMLPConfig, ModelConfig
from neurosym.errors import CheckpointError, ConfigError
from neurosym.layers.knn_mlp import KNNMLP, ProductKeyMLP, exact_top_k, pair_ranks, top_k_recall
from neurosym.layers.mlp import ReLUMLP
from neurosym.model import TransformerPlus

BASE = {"vocab_size": 40, "d_model": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 64, "mlp": "relu"}


def _knn_mlp(hidden: int = 64, **options) -> KNNMLP:
    torch.manual_seed(0)
    return KNNMLP(16, hidden, KNNMLPConfig(**options)).eval()


def test_knn_mlp_with_all_neurons_equals_dense_mlp() -> None:
    mlp = _knn_mlp(fraction=1.0)
    dense = ReLUMLP(16, 64)
    dense.load_state_dict(mlp.state_dict())
    x = torch.randn(3, 5, 16)
    torch.testing.assert_close(mlp(x), dense(x))


def test_knn_model_with_all_neurons_equals_dense_model() -> None:
    torch.manual_seed(0)
    dense = TransformerPlus(ModelConfig(**BASE)).eval()
    knn_model = TransformerPlus(ModelConfig(**BASE, knn_mlp={"fraction": 1.0})).eval()
    knn_model.load_state_dict(dense.state_dict())
    ids = torch.randint(0, 40, (2, 20))
    torch.testing.assert_close(knn_model(ids).logits, dense(ids).logits)


def test_exact_masking_keeps_at_most_k_neurons() -> None:
    mlp = _knn_mlp(k=5)
    active = mlp.masked_activations(torch.randn(10, 16))
    assert int((active > 0).sum(-1).max()) <= 5


def test_exact_masking_keeps_the_largest_activations() -> None:
    mlp = _knn_mlp(k=5)
    x = torch.randn(10, 16)
    kept = mlp.masked_activations(x)
    full = torch.relu(mlp.up(x))
    torch.testing.assert_close(kept.sum(-1), full.topk(5, dim=-1).values.sum(-1))


def test_gathered_single_token_equals_masked_dense() -> None:
    mlp = _knn_mlp(k=7)
    x = torch.randn(1, 1, 16)
    ids = mlp.select(x.reshape(1, 16))
    torch.testing.assert_close(mlp.compute_selected(x, ids), mlp.down(mlp.masked_activations(x)))


def test_faiss_backend_recalls_the_exact_top_k() -> None:
    mlp = _knn_mlp(hidden=256, k=16, backend="faiss")
    x = torch.randn(20, 16)
    assert top_k_recall(mlp.select(x), exact_top_k(mlp, x), 256) >= 0.95


def test_faiss_index_is_rebuilt_after_a_weight_update() -> None:
    mlp = _knn_mlp(hidden=64, k=4, backend="faiss")
    first = mlp.faiss_index()
    with torch.no_grad():
        mlp.up.weight.mul_(2.0)
    assert mlp.faiss_index() is not first


def test_knn_mlp_training_passes_gradients_to_kept_neurons() -> None:
    mlp = _knn_mlp(k=4).train()
    mlp(torch.randn(6, 16)).sum().backward()
    rows_with_gradient = int((mlp.up.weight.grad.abs().sum(-1) > 0).sum())
    assert 0 < rows_with_gradient <= 6 * 4


def test_pair_ranks_cover_the_hyperbola() -> None:
    first, second = pair_ranks(6, side=4)
    pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    assert pairs == {(a, b) for a in range(4) for b in range(4) if (a + 1) * (b + 1) <= 6}


def test_product_keys_retrieve_the_exact_top_k() -> None:
    torch.manual_seed(0)
    mlp = ProductKeyMLP(16, 256, KNNMLPConfig(k=20, backend="product_keys")).eval()
    x = torch.randn(30, 16)
    assert top_k_recall(mlp.select(x), exact_top_k(mlp, x), 256) == 1.0


def test_product_keys_inference_equals_masked_training_path() -> None:
    torch.manual_seed(0)
    mlp = ProductKeyMLP(16, 256, KNNMLPConfig(k=20, backend="product_keys")).eval()
    x = torch.randn(4, 3, 16)
    torch.testing.assert_close(mlp(x), mlp.down(mlp.masked_activations(x)), atol=1e-5, rtol=1e-5)


def test_product_keys_scores_match_the_materialized_weight() -> None:
    torch.manual_seed(0)
    mlp = ProductKeyMLP(16, 64, KNNMLPConfig(k=4, backend="product_keys"))
    x = torch.randn(5, 16)
    torch.testing.assert_close(mlp.scores(x), x @ mlp.dense_weight().t())


def test_knn_mlp_blocks_use_relu_in_a_swiglu_model() -> None:
    model = TransformerPlus(ModelConfig(**{**BASE, "mlp": "swiglu"}, knn_mlp={"layers": [1]}))
    assert [type(block.mlp).__name__ for block in model.blocks] == ["SwiGLU", "KNNMLP"]


def test_product_keys_require_a_square_width() -> None:
    with pytest.raises(ConfigError, match="perfect square"):
        ModelConfig(**BASE, d_ff=100 + 1, knn_mlp={"backend": "product_keys"})


def test_unknown_backend_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="backend"):
        ModelConfig(**BASE, knn_mlp={"backend": "annoy"})


def test_dense_checkpoint_switches_to_faiss_backend() -> None:
    from neurosym.knn import with_features

    torch.manual_seed(0)
    dense = TransformerPlus(ModelConfig(**BASE)).eval()
    switched = with_features(dense, {"knn_mlp": {"fraction": 1.0, "backend": "faiss"}})
    ids = torch.randint(0, 40, (1, 12))
    torch.testing.assert_close(switched(ids).logits, dense(ids).logits, atol=1e-4, rtol=1e-4)


def test_dense_checkpoint_cannot_switch_to_product_keys() -> None:
    from neurosym.knn import with_features

    dense = TransformerPlus(ModelConfig(**{**BASE, "d_ff": 64})).eval()
    with pytest.raises(CheckpointError, match="keys1"):
        with_features(dense, {"knn_mlp": {"backend": "product_keys"}})
