"""Beam-search candidates (neurosym.beam) on micro models: random and briefly trained."""

from __future__ import annotations

import pytest
import torch

from neurosym.beam import beam_candidates
from neurosym.config import ModelConfig
from neurosym.errors import ConfigError
from neurosym.inference import Predictor
from neurosym.model import TransformerPlus
from neurosym.tokenizer import Tokenizer

PAD, START, SEP, STOP = 0, 1, 2, 3
PROMPTS = [[START, 7, 9, SEP], [START, 12, SEP], [START, 5, 6, 8, 11, SEP], [START, 30, SEP]]


def _score(model: TransformerPlus, prompt: list[int], tokens: list[int]) -> float:
    """Summed log-probability of ``tokens`` after ``prompt``, by one teacher-forced forward pass."""
    ids = torch.tensor([prompt + tokens])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
    return sum(float(log_probs[len(prompt) - 1 + step, token]) for step, token in enumerate(tokens))


@pytest.fixture(scope="module")
def copy_model() -> TransformerPlus:
    """A micro model trained to copy the tokens between START and SEP, then write STOP."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = TransformerPlus(ModelConfig(vocab_size=40, d_model=32, n_layers=2, n_heads=4, max_seq_len=32))
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        body = torch.randint(4, 40, (32, 3))
        ids = torch.cat((torch.full((32, 1), START), body, torch.full((32, 1), SEP), body,
                         torch.full((32, 1), STOP)), dim=1)
        labels = ids.clone()
        labels[:, :5] = -100
        loss = model(ids, labels=labels).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def _greedy(model: TransformerPlus, prompts: list[list[int]], max_new: int) -> list[list[int]]:
    tokenizer = Tokenizer.build(["a"])  # only its pad id is read; it is 0 like PAD
    return Predictor(model, tokenizer).continue_batch(prompts, max_new, [STOP])


def test_beam_one_beam_equals_greedy_decoding(micro_model: TransformerPlus) -> None:
    found = beam_candidates(micro_model, PROMPTS, beams=1, max_new=6, stop_ids=[STOP], pad_id=PAD)
    assert [candidates[0].tokens for candidates in found] == _greedy(micro_model, PROMPTS, 6)


def test_beam_top_candidate_equals_greedy_on_trained_model(copy_model: TransformerPlus) -> None:
    prompts = [[START, 5, 17, 33, SEP], [START, 21, 8, 8, SEP]]
    found = beam_candidates(copy_model, prompts, beams=4, max_new=8, stop_ids=[STOP], pad_id=PAD)
    assert [candidates[0].tokens for candidates in found] == _greedy(copy_model, prompts, 8)


def test_beam_trained_model_copies_its_prompt(copy_model: TransformerPlus) -> None:
    found = beam_candidates(copy_model, [[START, 5, 17, 33, SEP]], beams=4, max_new=8, stop_ids=[STOP], pad_id=PAD)
    assert found[0][0].tokens == [5, 17, 33, STOP]


def test_beam_candidates_are_sorted_by_log_prob(micro_model: TransformerPlus) -> None:
    found = beam_candidates(micro_model, PROMPTS, beams=5, max_new=5, stop_ids=[STOP], pad_id=PAD)
    for candidates in found:
        scores = [candidate.log_prob for candidate in candidates]
        assert scores == sorted(scores, reverse=True)


def test_beam_returns_the_requested_number_of_distinct_candidates(micro_model: TransformerPlus) -> None:
    found = beam_candidates(micro_model, PROMPTS, beams=5, max_new=5, stop_ids=[STOP], pad_id=PAD)
    for candidates in found:
        assert len({tuple(candidate.tokens) for candidate in candidates}) == 5


def test_beam_log_prob_matches_teacher_forced_score(copy_model: TransformerPlus) -> None:
    prompt = [START, 9, 14, 26, SEP]
    for candidate in beam_candidates(copy_model, [prompt], beams=3, max_new=8, stop_ids=[STOP], pad_id=PAD)[0]:
        assert candidate.log_prob == pytest.approx(_score(copy_model, prompt, candidate.tokens), abs=1e-3)


def test_beam_finished_candidates_end_with_a_stop_token(copy_model: TransformerPlus) -> None:
    found = beam_candidates(copy_model, [[START, 9, 14, 26, SEP]], beams=3, max_new=8, stop_ids=[STOP], pad_id=PAD)
    assert all(c.tokens[-1] == STOP for c in found[0] if c.finished)


def test_beam_budget_cut_candidates_are_not_finished(micro_model: TransformerPlus) -> None:
    found = beam_candidates(micro_model, PROMPTS[:1], beams=2, max_new=1, stop_ids=[STOP], pad_id=PAD)
    assert [c.finished for c in found[0]] == [c.tokens[-1] == STOP for c in found[0]]


def test_beam_without_kv_cache_matches_cached_search(micro_config: ModelConfig) -> None:
    torch.manual_seed(0)
    cached = TransformerPlus(micro_config).eval()
    torch.manual_seed(0)
    uncached = TransformerPlus(micro_config).eval()
    for block in uncached.blocks:
        block.supports_cache = False
    first = beam_candidates(cached, PROMPTS, beams=3, max_new=5, stop_ids=[STOP], pad_id=PAD)
    second = beam_candidates(uncached, PROMPTS, beams=3, max_new=5, stop_ids=[STOP], pad_id=PAD)
    assert [[c.tokens for c in row] for row in first] == [[c.tokens for c in row] for row in second]


def test_beam_small_batches_give_the_same_candidates(micro_model: TransformerPlus) -> None:
    whole = beam_candidates(micro_model, PROMPTS, beams=3, max_new=5, stop_ids=[STOP], pad_id=PAD)
    split = beam_candidates(micro_model, PROMPTS, beams=3, max_new=5, stop_ids=[STOP], pad_id=PAD, batch_size=3)
    assert [[c.tokens for c in row] for row in whole] == [[c.tokens for c in row] for row in split]


def test_beam_rejects_zero_beams(micro_model: TransformerPlus) -> None:
    with pytest.raises(ConfigError, match="beams must be at least 1"):
        beam_candidates(micro_model, PROMPTS, beams=0, max_new=5, stop_ids=[STOP], pad_id=PAD)


def test_predictor_rejects_zero_candidates(micro_model: TransformerPlus) -> None:
    with pytest.raises(ConfigError, match="candidates must be at least 1"):
        Predictor(micro_model, Tokenizer.build(["a"]), candidates=0)
