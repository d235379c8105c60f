"""Checkpoints: ``config.json``, ``model.safetensors``, ``tokenizer.json`` and ``run.json``.

Weights are read with safetensors, which cannot run code, and training state with
``torch.load(weights_only=True)``. Every file is written to a temporary name and
renamed, so an interrupted save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from neurosym.config import ModelConfig
from neurosym.errors import CheckpointError, ConfigError, TokenizerError
from neurosym.model import TransformerPlus
from neurosym.tokenizer import Tokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
RUN_FILE = "run.json"  # tasks and options the model was trained with
STATE_FILE = "training_state.pt"


def save_pretrained(
    model: TransformerPlus,
    directory: str | os.PathLike[str],
    tokenizer: Tokenizer | None = None,
    run_info: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder atomically: build it beside the target, then swap it in."""
    return write_checkpoint_folder(model, directory, _state_to_save(model), tokenizer, run_info)


def write_checkpoint_folder(
    model: TransformerPlus,
    directory: str | os.PathLike[str],
    state: dict[str, torch.Tensor],
    tokenizer: Tokenizer | None = None,
    run_info: dict[str, Any] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write config, ``state`` as safetensors, tokenizer, run info and ``extra_files`` (name -> text) atomically."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp"))
    try:
        (staging / CONFIG_FILE).write_text(model.config.to_json(), encoding="utf-8")
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"format": "pt"})
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        if tokenizer is not None:
            tokenizer.save(staging / TOKENIZER_FILE)
        if run_info is not None:
            (staging / RUN_FILE).write_text(json.dumps(run_info, indent=2, default=str), encoding="utf-8")
        swap_in_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def swap_in_folder(staging: Path, target: Path) -> None:
    """Replace ``target`` by the finished folder ``staging`` with renames, never a half-written state."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)


def _state_to_save(model: TransformerPlus) -> dict[str, torch.Tensor]:
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)  # the same tensor as embed.weight
    return state


def load_config(directory: str | os.PathLike[str]) -> ModelConfig:
    path = Path(directory) / CONFIG_FILE
    try:
        return ModelConfig.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} not found: is {directory} a neurosym checkpoint folder?") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


def load_pretrained(
    directory: str | os.PathLike[str], config: ModelConfig | None = None, map_location: str = "cpu"
) -> TransformerPlus:
    """Load a model; a config that disagrees with the stored one or the weights raises CheckpointError."""
    directory = Path(resolve_checkpoint_dir(directory))
    if (directory / "compression.json").is_file():  # written by neurosym.compress
        from neurosym.compress import load_compressed

        return load_compressed(directory, map_location)
    stored = load_config(directory)
    if config is not None and config != stored:
        diffs = {k: (v, getattr(stored, k)) for k, v in config.to_dict().items() if getattr(stored, k) != v}
        raise CheckpointError(
            f"{directory / CONFIG_FILE} does not match the requested config (requested, stored): {diffs}"
        )
    model = TransformerPlus(stored)
    weights_path = directory / WEIGHTS_FILE
    try:
        state = load_file(str(weights_path), device=map_location)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{weights_path} not found") from exc
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path} is corrupt or not a safetensors file: {exc}") from exc
    check_tensors_fit(weights_path, state, _state_to_save(model), CONFIG_FILE)
    model.load_state_dict(state, strict=False)
    return model


def check_tensors_fit(
    weights_path: Path, tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: str
) -> None:
    """Raise CheckpointError unless ``tensors`` has exactly the names and shapes of ``expected``.

    ``source`` names the file the expected layout comes from (the config or a recipe).
    """
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path} does not fit {source}: missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"{weights_path}: tensor {name} has shape {tuple(tensor.shape)} but {source} "
                f"implies {tuple(expected[name].shape)}"
            )


def load_tokenizer(directory: str | os.PathLike[str]) -> Tokenizer:
    directory = Path(resolve_checkpoint_dir(directory))
    try:
        return Tokenizer.load(directory / TOKENIZER_FILE)
    except TokenizerError as exc:
        raise CheckpointError(str(exc)) from exc


def load_run_info(directory: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(resolve_checkpoint_dir(directory)) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc


def resolve_checkpoint_dir(directory: str | os.PathLike[str]) -> Path:
    """Accept a checkpoint folder or a training run folder (its ``best``, then ``last``)."""
    path = Path(directory)
    if (path / CONFIG_FILE).is_file():
        return path
    for child in ("best", "last"):
        if (path / child / CONFIG_FILE).is_file():
            return path / child
    if not path.exists():
        raise CheckpointError(f"checkpoint folder {str(path)!r} does not exist")
    raise CheckpointError(
        f"{str(path)!r} contains no {CONFIG_FILE}; pass a checkpoint folder or a run folder from `neurosym train`"
    )


def save_training_state(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write optimizer and progress state with torch.save, atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read training state with ``weights_only=True`` (no code runs on load)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"training state {path} not found; nothing to resume") from exc
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise CheckpointError(
            f"training state {path} is corrupt or unsafe to load ({type(exc).__name__}: {exc}); "
            "delete it to start over, or resume from another run"
        ) from exc
