"""The memory reader and writer inside TransformerPlus: episodes, causality, store path, long stories."""

from __future__ import annotations

import pytest
import torch

from neurosym.config import MemoryReaderConfig, ModelConfig
from neurosym.data import collate_train, model_inputs
from neurosym.errors import ConfigError
from neurosym.layers.memory_reader import MEMORY_BANK, StoreMemory, TensorMemory
from neurosym.memory_data import (
    MemoryPredictor,
    collate_memory,
    encode_memory_example,
    open_model_store,
    split_context,
    write_to_store,
)
from neurosym.model import TransformerPlus
from neurosym.tasks import get_task
from neurosym.tasks.example import Example, Sentence


def memory_config(vocab_size: int, **memory) -> ModelConfig:
    settings = {"layers": [1], "top_k": 3, "key_dim": 16, "time_dim": 8, "write_layer": 0, **memory}
    return ModelConfig(vocab_size=vocab_size, d_model=32, n_layers=2, n_heads=4, max_seq_len=32,
                       memory=MemoryReaderConfig(**settings))


def memory_model(tokenizer, **memory) -> TransformerPlus:  # noqa: ANN001
    torch.manual_seed(0)
    model = TransformerPlus(memory_config(len(tokenizer), **memory)).eval()
    with torch.no_grad():  # a trained reader has a non-zero null entry and output; make the test sensitive
        for block in model.blocks:
            if block.memory_reader is not None:
                torch.nn.init.normal_(block.memory_reader.out.weight, std=0.3)
    return model


@pytest.fixture(scope="module")
def stories(location_examples):
    # Two different stories of 4 sentences (consecutive examples may share one).
    first = location_examples[0]
    second = next(e for e in location_examples if e.context != first.context)
    return first, second


def batch_of(examples, tokenizer, config):  # noqa: ANN001
    encoded = [encode_memory_example(e, tokenizer, config) for e in examples]
    return collate_train(encoded, tokenizer.pad_id)


def test_memory_reader_rows_read_own_episode(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer)
    first, second = stories
    alone = model(**model_inputs(batch_of([first], location_tokenizer, model.config))).logits
    paired = model(**model_inputs(batch_of([first, second], location_tokenizer, model.config))).logits
    width = alone.shape[1]
    assert torch.allclose(paired[0, :width], alone[0], atol=1e-5)


def test_memory_reader_retrieves_slots_of_its_row_only(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer, top_k=8)
    short = Example(context=stories[0].context[:2], question=stories[0].question, answer=stories[0].answer)
    batch = batch_of([short, stories[1]], location_tokenizer, model.config)
    output = model(**model_inputs(batch), return_internals=True)
    record = output.internals.features["memory"][0]
    assert int(record["valid"][0].sum(-1).max()) == 2


def test_memory_reader_depends_on_memory(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer)
    first, second = stories
    own = model(**model_inputs(batch_of([first], location_tokenizer, model.config))).logits
    swapped = Example(context=second.context, question=first.question, answer=first.answer)
    other = model(**model_inputs(batch_of([swapped], location_tokenizer, model.config))).logits
    assert not torch.allclose(own, other, atol=1e-4)


def test_memory_reader_later_tokens_never_change_earlier_logits(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer)
    batch = batch_of([stories[0]], location_tokenizer, model.config)
    changed = {**batch, "input_ids": batch["input_ids"].clone()}
    changed["input_ids"][0, -2:] = 5
    before = model(**model_inputs(batch)).logits
    after = model(**model_inputs(changed)).logits
    length = batch["input_ids"].shape[1]
    assert torch.allclose(before[0, : length - 2], after[0, : length - 2], atol=1e-5)


def test_memory_writer_writes_only_sentences_before_the_window(stories) -> None:
    example = stories[0]
    window, written, now = split_context(example, window_sentences=1, max_events=100)
    assert written == example.context[:-1]
    assert window.context == example.context[-1:]


def test_memory_writer_times_never_exceed_the_question_time(stories, location_tokenizer) -> None:
    config = memory_config(len(location_tokenizer))
    trace = encode_memory_example(stories[0], location_tokenizer, config).memory
    assert max(trace.times) <= trace.now


def test_memory_window_keeps_the_question_out_of_memory(stories, location_tokenizer) -> None:
    config = memory_config(len(location_tokenizer))
    encoded = encode_memory_example(stories[0], location_tokenizer, config)
    question = location_tokenizer.encode(stories[0].question)
    assert all(ids != question for ids in encoded.memory.sentences)


def test_memory_training_and_store_paths_retrieve_the_same(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer, top_k=2)
    first, second = stories
    batch = batch_of([first, second], location_tokenizer, model.config)
    inputs = model_inputs(batch)
    with torch.no_grad():
        tensor_logits = model(**inputs, return_internals=True)
    store = open_model_store(model)
    episodes, nows = [], []
    for number, example in enumerate((first, second)):
        trace = encode_memory_example(example, location_tokenizer, model.config).memory
        write_to_store(model, trace, store, f"story-{number}")
        episodes.append(f"story-{number}")
        nows.append(trace.now)
    feature_inputs = {MEMORY_BANK: StoreMemory(store, episodes, nows)}
    with torch.no_grad():
        store_logits = model(inputs["input_ids"], feature_inputs=feature_inputs, return_internals=True)
    tensor_ages = tensor_logits.internals.features["memory"][0]["ages"]
    store_ages = store_logits.internals.features["memory"][0]["ages"]
    assert torch.equal(tensor_ages, store_ages)
    assert torch.allclose(tensor_logits.logits, store_logits.logits, atol=1e-4)
    store.close()


def test_memory_store_episode_ids_map_to_tensor_slots(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer, top_k=2)
    example = stories[0]
    batch = batch_of([example], location_tokenizer, model.config)
    with torch.no_grad():
        tensor_ids = model(**model_inputs(batch), return_internals=True).internals.features["memory"][0]["ids"]
    store = open_model_store(model)
    trace = encode_memory_example(example, location_tokenizer, model.config).memory
    event_ids = write_to_store(model, trace, store, "only")
    bank = StoreMemory(store, ["only"], [trace.now])
    with torch.no_grad():
        out = model(batch["input_ids"], feature_inputs={MEMORY_BANK: bank}, return_internals=True)
    store_ids = out.internals.features["memory"][0]["ids"]
    slot_of = {event_id: slot for slot, event_id in enumerate(event_ids)}
    assert store_ids.apply_(lambda i: slot_of[i]).tolist() == tensor_ids.tolist()
    store.close()


def test_memory_tensor_retrieval_is_exact_top_k() -> None:
    torch.manual_seed(1)
    keys = torch.nn.functional.normalize(torch.randn(1, 6, 4), dim=-1)
    memory = TensorMemory(keys, torch.randn(1, 6, 3), torch.arange(6).view(1, 6), torch.ones(1, 6, dtype=torch.bool),
                          torch.tensor([5]))
    query = torch.nn.functional.normalize(torch.randn(1, 1, 4), dim=-1)
    got = memory.retrieve(query, top_k=2, weight=0.5, half_life=2.0)
    brute = (keys[0] @ query[0, 0]) + 0.5 * torch.exp2(-(5 - torch.arange(6)) / 2.0)
    assert got.ids[0, 0].tolist() == brute.argsort(descending=True)[:2].tolist()


def test_memory_reader_gets_gradient_through_the_writer(stories, location_tokenizer) -> None:
    model = memory_model(location_tokenizer).train()
    batch = batch_of(list(stories), location_tokenizer, model.config)
    model(**model_inputs(batch)).loss.backward()
    assert model.memory_writer.key.weight.grad.abs().sum() > 0


def test_memory_collate_keeps_one_row_per_sentence(stories, location_tokenizer) -> None:
    config = memory_config(len(location_tokenizer))
    encoded = [encode_memory_example(e, location_tokenizer, config) for e in stories]
    batch = collate_memory(encoded, location_tokenizer.pad_id)
    assert batch["memory_rows"].tolist() == [0] * 4 + [1] * 4


def test_memory_long_story_beyond_window(location_tokenizer) -> None:
    # top_k covers the story, so the first sentence, far outside the window, is read through memory only
    model = memory_model(location_tokenizer, top_k=64)
    long_example = get_task("episodic.location").examples("test", n=1, story_length=60)[0]
    full_length = len(location_tokenizer.encode(" ".join(s.text for s in long_example.context)))
    assert full_length > model.config.max_seq_len
    early = Example(context=[Sentence("Mary went to the kitchen .", 1), *long_example.context[1:]],
                    question="where is Mary ?", answer="kitchen")
    changed = Example(context=[Sentence("Mary went to the garden .", 1), *long_example.context[1:]],
                      question="where is Mary ?", answer="kitchen")
    logits = [model(**model_inputs(batch_of([e], location_tokenizer, model.config))).logits for e in (early, changed)]
    assert not torch.allclose(logits[0], logits[1], atol=1e-6)


def test_memory_predictor_long_story(location_tokenizer) -> None:
    model = memory_model(location_tokenizer)
    examples = get_task("episodic.location").examples("test", n=3, story_length=80)
    predictions = MemoryPredictor(model, location_tokenizer, batch_size=2).predict(examples, answer_budget=4)
    assert len(predictions) == 3


def test_memory_checkpoint_round_trip(tmp_path, location_tokenizer) -> None:
    model = memory_model(location_tokenizer)
    model.save_pretrained(tmp_path / "ckpt", tokenizer=location_tokenizer)
    loaded = TransformerPlus.from_pretrained(tmp_path / "ckpt")
    assert loaded.config.memory == model.config.memory


@pytest.mark.parametrize("field,value", [("pool", "max"), ("time_dim", 7), ("write_layer", 5), ("top_k", 0)])
def test_memory_config_rejects_bad_values(field: str, value) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=field):
        ModelConfig(vocab_size=10, d_model=32, n_layers=2, n_heads=4, memory={field: value})


def test_memory_store_with_other_recency_weight_is_refused(location_tokenizer, stories) -> None:
    from neurosym.memory import EpisodicMemory, MemoryConfig

    model = memory_model(location_tokenizer)
    store = EpisodicMemory.open(None, dim=16, config=MemoryConfig(recency_weight=0.25))
    bank = StoreMemory(store, ["x"], [0])
    with pytest.raises(ConfigError, match="recency_weight"):
        model(torch.tensor([[1, 2]]), feature_inputs={MEMORY_BANK: bank})
    store.close()


def test_memory_model_store_serves_executor(location_tokenizer) -> None:
    from neurosym.symbolic import execute
    from neurosym.tasks.bindings import input_bindings
    from neurosym.tasks.reading import query_of

    model = memory_model(location_tokenizer)
    examples = get_task("episodic.location").examples("test", n=40, story_length=60, object_questions=0.0,
                                                      time_questions=0.0)
    example = next(e for e in examples if e.program)
    store = open_model_store(model)
    write_to_store(model, encode_memory_example(example, location_tokenizer, model.config).memory, store, "story")
    # The question's query alone, so the store (not the program's stated facts) answers it.
    query = query_of(example.program)
    assert execute(query, memory=store, bindings=input_bindings(example)).answer == example.answer
    store.close()


def test_memory_store_answers_at_queries_from_the_model(location_tokenizer) -> None:
    from neurosym.symbolic import execute
    from neurosym.tasks.bindings import input_bindings
    from neurosym.tasks.reading import query_of

    model = memory_model(location_tokenizer)
    example = get_task("episodic.location").examples("test", n=1, story_length=60, time_questions=1.0,
                                                     object_questions=0.0)[0]
    store = open_model_store(model)
    write_to_store(model, encode_memory_example(example, location_tokenizer, model.config).memory, store, "story")
    # The question's query alone, so the store (not the program's stated facts) answers it.
    query = query_of(example.program)
    assert execute(query, memory=store, bindings=input_bindings(example)).answer == example.answer
    store.close()


def test_memory_model_rejects_program_mode(stories, location_tokenizer) -> None:
    config = memory_config(len(location_tokenizer))
    with pytest.raises(ConfigError, match="neural mode only"):
        encode_memory_example(stories[0], location_tokenizer, config, mode="program")
