"""kNN attention: equivalence with dense attention, causality, the decoding index, external memory."""

from __future__ import annotations

import json

import pytest
import torch

from neurosym.config import ModelConfig
from neurosym.errors import CheckpointError, ConfigError
from neurosym.layers.knn_attention import KNNAttention, KNNMemory, knn_attention_mask
from neurosym.model import TransformerPlus

BASE = {"vocab_size": 40, "d_model": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 64}


def _pair(**knn) -> tuple[TransformerPlus, TransformerPlus]:
    """A dense model and a kNN-attention model with the same weights."""
    torch.manual_seed(0)
    dense = TransformerPlus(ModelConfig(**BASE)).eval()
    knn_model = TransformerPlus(ModelConfig(**BASE, knn_attention=knn)).eval()
    knn_model.load_state_dict(dense.state_dict())
    return dense, knn_model


def _decode_logits(model: TransformerPlus, ids: torch.Tensor, prefix: int) -> torch.Tensor:
    """Logits of positions prefix-1 .. T-1, computed with a KV cache one token at a time."""
    output = model(ids[:, :prefix], use_cache=True)
    logits = [output.logits[:, -1]]
    past = output.past_key_values
    for position in range(prefix, ids.shape[1]):
        output = model(ids[:, position : position + 1], past_key_values=past, use_cache=True)
        past = output.past_key_values
        logits.append(output.logits[:, -1])
    return torch.stack(logits, dim=1)


def test_knn_attention_with_k_covering_sequence_equals_dense() -> None:
    dense, knn_model = _pair(k=64, window=1)
    ids = torch.randint(0, 40, (2, 30))
    torch.testing.assert_close(knn_model(ids).logits, dense(ids).logits, atol=1e-5, rtol=1e-5)


def test_knn_attention_with_window_covering_sequence_equals_dense() -> None:
    dense, knn_model = _pair(k=1, window=64)
    ids = torch.randint(0, 40, (2, 30))
    torch.testing.assert_close(knn_model(ids).logits, dense(ids).logits, atol=1e-5, rtol=1e-5)


def test_knn_attention_with_small_k_differs_from_dense() -> None:
    dense, knn_model = _pair(k=2, window=2)
    ids = torch.randint(0, 40, (2, 30))
    assert not torch.allclose(knn_model(ids).logits, dense(ids).logits, atol=1e-4)


def test_knn_mask_keeps_window_plus_k_older_keys() -> None:
    torch.manual_seed(0)
    length, k, window = 12, 3, 4
    scores = torch.randn(length, length)
    allowed = torch.ones(length, length, dtype=torch.bool).tril()
    mask = knn_attention_mask(scores, allowed, torch.arange(length), k, window)
    expected = torch.tensor([min(i + 1, window) + min(k, max(0, i + 1 - window)) for i in range(length)])
    assert torch.equal(mask.sum(-1), expected)


def test_knn_mask_picks_the_best_older_keys() -> None:
    scores = torch.tensor([[0.0, 5.0, 1.0, 4.0, 0.0, 0.0]])
    allowed = torch.ones(1, 6, dtype=torch.bool)
    mask = knn_attention_mask(scores, allowed, torch.tensor([5]), k=2, window=2)
    assert mask.tolist() == [[False, True, False, True, True, True]]


def test_knn_attention_is_causal() -> None:
    _, knn_model = _pair(k=3, window=4)
    ids = torch.randint(0, 40, (1, 24))
    changed = ids.clone()
    changed[0, 15:] = (changed[0, 15:] + 1) % 40
    torch.testing.assert_close(knn_model(changed).logits[:, :15], knn_model(ids).logits[:, :15])


def test_knn_attention_gradients_reach_projections() -> None:
    _, knn_model = _pair(k=3, window=4)
    knn_model.train()
    ids = torch.randint(0, 40, (2, 20))
    knn_model(ids, labels=ids).loss.backward()
    assert knn_model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_cached_knn_decoding_equals_uncached(kind: str) -> None:
    _, knn_model = _pair(k=3, window=4, index=kind, ivf_nlist=1)
    ids = torch.randint(0, 40, (2, 56))  # IVF trains after 39 older keys
    cached = _decode_logits(knn_model, ids, prefix=8)
    uncached = knn_model(ids).logits[:, 7:]
    torch.testing.assert_close(cached, uncached, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_cached_taylor_tail_decoding_equals_uncached(kind: str) -> None:
    _, knn_model = _pair(k=3, window=4, index=kind, tail="taylor")
    ids = torch.randint(0, 40, (2, 40))
    cached = _decode_logits(knn_model, ids, prefix=8)
    uncached = knn_model(ids).logits[:, 7:]
    torch.testing.assert_close(cached, uncached, atol=1e-4, rtol=1e-4)


def test_taylor_tail_with_k_covering_sequence_equals_dense() -> None:
    dense, knn_model = _pair(k=64, window=1, tail="taylor")
    ids = torch.randint(0, 40, (2, 30))
    torch.testing.assert_close(knn_model(ids).logits, dense(ids).logits, atol=1e-5, rtol=1e-5)


def test_taylor_tail_beats_dropped_tail() -> None:
    dense, plain = _pair(k=2, window=2)
    _, taylor = _pair(k=2, window=2, tail="taylor")
    ids = torch.randint(0, 40, (2, 40))
    reference = dense(ids).logits
    plain_error = (plain(ids).logits - reference).norm()
    taylor_error = (taylor(ids).logits - reference).norm()
    assert taylor_error < plain_error


def test_decoding_index_contains_older_keys() -> None:
    _, knn_model = _pair(k=3, window=4)
    _decode_logits(knn_model, torch.randint(0, 40, (1, 20)), prefix=6)
    attention = knn_model.blocks[0].attn
    assert [index.ntotal for index in attention._state.indexes[0]] == [20 - 4] * 4


def test_decoding_index_is_reset_for_a_new_prompt() -> None:
    _, knn_model = _pair(k=3, window=4)
    _decode_logits(knn_model, torch.randint(0, 40, (1, 30)), prefix=6)
    other = torch.randint(0, 40, (1, 16))
    cached = _decode_logits(knn_model, other, prefix=6)
    torch.testing.assert_close(cached, knn_model(other).logits[:, 5:], atol=1e-4, rtol=1e-4)


def test_cached_generation_equals_uncached_generation() -> None:
    _, knn_model = _pair(k=2, window=3)
    with torch.no_grad():
        knn_model.lm_head.weight.mul_(40.0)  # sharper logits so greedy tokens vary
    prompt = torch.randint(0, 40, (2, 8))
    cached = knn_model.generate(prompt, max_new_tokens=16)
    uncached = knn_model._generate_without_cache(prompt, torch.ones_like(prompt), 16, torch.tensor([]), 0, 0.0,
                                                 None, None)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("tail", ["none", "taylor"])
def test_left_padded_batch_decoding_matches_full_forward(tail: str) -> None:
    _, knn_model = _pair(k=3, window=4, tail=tail)
    ids = torch.randint(1, 40, (2, 24))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    output = knn_model(ids[:, :10], attention_mask=mask[:, :10], use_cache=True)
    past, steps = output.past_key_values, []
    for position in range(10, 24):
        output = knn_model(ids[:, position : position + 1], attention_mask=mask[:, : position + 1],
                           past_key_values=past, use_cache=True)
        past = output.past_key_values
        steps.append(output.logits[:, -1])
    full = knn_model(ids, attention_mask=mask).logits[:, 10:]
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-4, rtol=1e-4)


def test_dense_checkpoint_loads_into_knn_attention(tmp_path) -> None:
    dense, _ = _pair(k=3, window=4)
    dense.save_pretrained(tmp_path / "ckpt")
    from neurosym.knn import with_features

    loaded = with_features(TransformerPlus.from_pretrained(tmp_path / "ckpt"), {"knn_attention": {"k": 64}})
    assert isinstance(loaded.blocks[1].attn, KNNAttention)


def test_knn_attention_layers_option_limits_blocks() -> None:
    model = TransformerPlus(ModelConfig(**BASE, knn_attention={"layers": [1]}))
    assert [isinstance(b.attn, KNNAttention) for b in model.blocks] == [False, True]


@pytest.mark.parametrize("options", [{"k": 0}, {"window": 0}, {"index": "lsh"}, {"tail": "linear"}])
def test_bad_knn_attention_option_raises_config_error(options: dict) -> None:
    with pytest.raises(ConfigError):
        ModelConfig(**BASE, knn_attention=options)


# --- external memory ---------------------------------------------------------------------


def _memory_with_rows(kind: str = "exact") -> KNNMemory:
    memory = KNNMemory(batch=2, n_heads=2, head_dim=4, kind=kind)
    keys = torch.zeros(2, 2, 3, 4)
    keys[0, :, :, 0] = torch.tensor([1.0, 2.0, 3.0])
    keys[1, :, :, 1] = torch.tensor([1.0, 2.0, 3.0])
    values = torch.zeros(2, 2, 3, 4)
    values[0] += 10.0
    values[1] -= 10.0
    memory.add(keys, values)
    return memory


def test_memory_search_never_returns_another_rows_entries() -> None:
    memory = _memory_with_rows()
    queries = torch.zeros(2, 2, 1, 4)
    queries[1, :, :, 0] = 5.0  # row 1 queries with row 0's direction
    hits = memory.search(queries, k=3)
    assert bool((hits.values[1] == -10.0).all())


def test_memory_search_ranks_by_inner_product() -> None:
    memory = _memory_with_rows()
    queries = torch.zeros(2, 2, 1, 4)
    queries[0, :, :, 0] = 1.0
    assert memory.search(queries, k=2).ids[0, 0, 0].tolist() == [2, 1]


def test_memory_reset_clears_only_the_chosen_row() -> None:
    memory = _memory_with_rows()
    memory.reset([0])
    assert [memory.size(0), memory.size(1)] == [0, 3]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_memory_save_and_load_round_trip(tmp_path, kind: str) -> None:
    memory = _memory_with_rows(kind)
    memory.save(tmp_path / "mem")
    loaded = KNNMemory.load(tmp_path / "mem")
    queries = torch.randn(2, 2, 3, 4)
    before, after = memory.search(queries, k=3), loaded.search(queries, k=3)
    assert torch.equal(before.ids, after.ids)
    assert torch.equal(before.values, after.values)


def test_memory_save_replaces_an_older_save(tmp_path) -> None:
    _memory_with_rows().save(tmp_path / "mem")
    empty = KNNMemory(batch=2, n_heads=2, head_dim=4)
    empty.save(tmp_path / "mem")
    assert KNNMemory.load(tmp_path / "mem").size(0) == 0


def test_memory_load_of_inconsistent_metadata_raises(tmp_path) -> None:
    _memory_with_rows().save(tmp_path / "mem")
    meta = json.loads((tmp_path / "mem" / "memory.json").read_text())
    meta["sizes"] = [5, 5]
    (tmp_path / "mem" / "memory.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="inconsistent"):
        KNNMemory.load(tmp_path / "mem")


def test_memory_rejects_keys_of_the_wrong_shape() -> None:
    memory = KNNMemory(batch=2, n_heads=2, head_dim=4)
    with pytest.raises(ValueError, match="shape"):
        memory.add(torch.zeros(3, 2, 1, 4), torch.zeros(3, 2, 1, 4))


def test_segments_through_memory_equal_one_dense_pass() -> None:
    """Segment 2 attending to segment 1 via the memory equals dense attention over both."""
    dense, knn_model = _pair(k=64, window=64)
    memories = [KNNMemory(batch=2, n_heads=4, head_dim=8) for _ in knn_model.blocks]
    for block, memory in zip(knn_model.blocks, memories, strict=True):
        block.attn.attach_memory(memory, k=16)
    ids = torch.randint(0, 40, (2, 24))
    knn_model(ids[:, :12])
    second = knn_model(ids[:, 12:], positions=torch.arange(12, 24).expand(2, -1)).logits
    torch.testing.assert_close(second, dense(ids).logits[:, 12:], atol=1e-4, rtol=1e-4)
