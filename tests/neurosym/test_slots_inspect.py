"""neurosym.inspect: bindings, slot maps, plots, errors and the inspect command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from neurosym.cli import main
from neurosym.config import ModelConfig
from neurosym.inspect import InspectionError, bindings, format_bindings, plot_slot_maps, slot_maps
from neurosym.model import TransformerPlus
from neurosym.tokenizer import Tokenizer

TEXT = "mary went to the kitchen . john took the ball ."
NAMES = ["ball", "john", "kitchen", "mary"]


@pytest.fixture
def tokenizer() -> Tokenizer:
    return Tokenizer.build([TEXT, "sandra moved to the garden ."])


def _model(tokenizer: Tokenizer, names: list[str] | None = NAMES) -> TransformerPlus:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq_len=64,
                         slots={"n_slots": 4, "n_entities": 6, "entity_names": names, "layers": [1]})
    return TransformerPlus(config).eval()


def test_bindings_cover_every_token_once(tokenizer: Tokenizer) -> None:
    rows = bindings(_model(tokenizer), tokenizer, TEXT)
    assert sorted(p for row in rows for p in row.positions) == list(range(len(tokenizer.tokenize(TEXT))))


def test_bindings_match_the_models_internals(tokenizer: Tokenizer) -> None:
    model = _model(tokenizer)
    ids = torch.tensor([[tokenizer.bos_id, *tokenizer.encode(TEXT)]])
    record = model(ids, return_internals=True).internals.features["slots"][0]
    slot = record.assign[0, 1:].argmax(-1)
    entity = record.entity[0, 1:].gather(-1, slot.unsqueeze(-1)).squeeze(-1)
    expected = {(int(s), int(e), t) for t, (s, e) in enumerate(zip(slot, entity, strict=True))}
    rows = bindings(model, tokenizer, TEXT)
    assert {(r.slot, r.entity_id, p) for r in rows for p in r.positions} == expected


def test_bindings_are_stable_across_identically_seeded_models(tokenizer: Tokenizer) -> None:
    first = [row.to_dict() for row in bindings(_model(tokenizer), tokenizer, TEXT)]
    second = [row.to_dict() for row in bindings(_model(tokenizer), tokenizer, TEXT)]
    assert first == second


def test_bindings_print_codebook_names(tokenizer: Tokenizer) -> None:
    rows = bindings(_model(tokenizer), tokenizer, TEXT)
    expected = {NAMES[r.entity_id] if r.entity_id < len(NAMES) else f"entity {r.entity_id}" for r in rows}
    assert {r.entity_name for r in rows} == expected


def test_bindings_without_names_use_ids(tokenizer: Tokenizer) -> None:
    rows = bindings(_model(tokenizer, names=None), tokenizer, TEXT)
    assert all(r.entity_name == f"entity {r.entity_id}" for r in rows)


def test_bindings_convert_to_json_records(tokenizer: Tokenizer) -> None:
    rows = bindings(_model(tokenizer), tokenizer, TEXT)
    record = json.loads(json.dumps(rows[0].to_dict()))
    assert set(record) == {"layer", "slot", "entity_id", "entity_name", "score", "positions", "tokens"}


def test_bindings_table_has_a_row_per_binding(tokenizer: Tokenizer) -> None:
    rows = bindings(_model(tokenizer), tokenizer, TEXT)
    assert len(format_bindings(rows).splitlines()) == len(rows) + 2


def test_slot_maps_are_slot_by_token_shares(tokenizer: Tokenizer) -> None:
    (slot_map,) = slot_maps(_model(tokenizer), tokenizer, TEXT)
    columns = torch.tensor(slot_map.weights).sum(0)
    assert torch.allclose(columns, torch.ones(len(slot_map.tokens)), atol=1e-4)


@pytest.mark.parametrize("text", ["", "   "])
def test_bindings_reject_empty_text(tokenizer: Tokenizer, text: str) -> None:
    with pytest.raises(InspectionError, match="the text is empty"):
        bindings(_model(tokenizer), tokenizer, text)


def test_bindings_reject_text_of_unknown_words(tokenizer: Tokenizer) -> None:
    with pytest.raises(InspectionError, match="every word of the text is unknown"):
        bindings(_model(tokenizer), tokenizer, "zorblax quux")


def test_bindings_reject_model_without_slots(tokenizer: Tokenizer) -> None:
    model = TransformerPlus(ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=1, n_heads=4))
    with pytest.raises(InspectionError, match="no slot layers"):
        bindings(model, tokenizer, TEXT)


def test_bindings_reject_text_longer_than_window(tokenizer: Tokenizer) -> None:
    with pytest.raises(InspectionError, match="shorten it"):
        bindings(_model(tokenizer), tokenizer, " ".join([TEXT] * 10))


def test_plot_writes_png(tokenizer: Tokenizer, tmp_path: Path) -> None:
    path = plot_slot_maps(slot_maps(_model(tokenizer), tokenizer, TEXT), tmp_path / "slots.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(tokenizer: Tokenizer, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    maps = slot_maps(_model(tokenizer), tokenizer, TEXT)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InspectionError, match=r"neurosym\[plot\]"):
        plot_slot_maps(maps, tmp_path / "slots.png")


def test_inspect_command_prints_json(tokenizer: Tokenizer, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = _model(tokenizer)
    model.save_pretrained(tmp_path / "ckpt", tokenizer=tokenizer)
    code = main(["inspect", "--checkpoint", str(tmp_path / "ckpt"), "--text", TEXT, "--json",
                 "--plot", str(tmp_path / "map.png")])
    printed = json.loads(capsys.readouterr().out)
    assert (code, printed) == (0, [row.to_dict() for row in bindings(model, tokenizer, TEXT)])


def test_inspect_command_reports_unknown_text(tokenizer: Tokenizer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    _model(tokenizer).save_pretrained(tmp_path / "ckpt", tokenizer=tokenizer)
    code = main(["inspect", "--checkpoint", str(tmp_path / "ckpt"), "--text", "qwzx"])
    assert (code, "every word of the text is unknown" in capsys.readouterr().err) == (2, True)
