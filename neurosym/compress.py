"""Compression of a trained model: weight quantization and pruning of the blocks' Linears.

Methods (``METHODS``):

- ``int8-dynamic``: PyTorch's dynamic quantization (``torch.ao.quantization.quantize_dynamic``)
  with per-output-channel symmetric int8 weights; activations are quantized on the fly.
- ``int8-weight``: weight-only int8, one float scale per output row: W ~ s_i * q_ij,
  q in [-127, 127]; the product runs in float.
- ``int4-weight``: weight-only 4-bit with one scale per group of ``group_size`` inputs:
  W ~ s_ig * q_ij, q in [-8, 7], two values packed per byte.
- ``magnitude``: unstructured, zero the ``sparsity`` fraction of each matrix with the
  smallest |W|.
- ``wanda``: unstructured, per output row zero the smallest |W_ij| * ||X_j||_2, where
  ||X_j|| is the L2 norm of input feature j over calibration tokens of a task (Sun et
  al. 2023, arXiv:2306.11695).
- ``2:4``: semi-structured, in every group of four consecutive inputs keep the two with
  the largest score (Wanda's score with calibration data, else |W|).

Only the Linears inside the blocks change; embeddings, the tied LM head, norms and
routers stay in float. A compressed checkpoint is a normal checkpoint folder plus
``compression.json`` (method and options); its tensors live in ``model.safetensors``
and it reloads to identical outputs. Pruning masks are saved as ``<linear>.weight_mask``
and restored on load.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from neurosym.checkpoint import (
    WEIGHTS_FILE,
    check_tensors_fit,
    load_config,
    resolve_checkpoint_dir,
    write_checkpoint_folder,
)
from neurosym.errors import CheckpointError, ConfigError
from neurosym.model import TransformerPlus
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

COMPRESSION_FILE = "compression.json"
QUANT_METHODS: tuple[str, ...] = ("int8-dynamic", "int8-weight", "int4-weight")
PRUNE_METHODS: tuple[str, ...] = ("magnitude", "wanda", "2:4")
METHODS: tuple[str, ...] = QUANT_METHODS + PRUNE_METHODS
DEFAULT_GROUP_SIZE = 32


# -- quantized Linears ---------------------------------------------------------
class Int8WeightLinear(nn.Module):
    """y = (x q^T) * s + b with q int8 (out, in) and s float (out,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8WeightLinear:
        module = cls(linear.in_features, linear.out_features, linear.bias is not None)
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        module.qweight.copy_(torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        module.scale.copy_(scale)
        if linear.bias is not None:
            module.bias.copy_(linear.bias.detach())
        return module

    def dequantized(self) -> torch.Tensor:
        return self.qweight.float() * self.scale[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.qweight.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


class Int4WeightLinear(nn.Module):
    """W ~ s[i, g] * q[i, j] with q in [-8, 7] stored as q + 8, two per byte; s per group of inputs."""

    def __init__(self, in_features: int, out_features: int, bias: bool, group_size: int) -> None:
        super().__init__()
        check_int4_shape(in_features, group_size)
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        self.register_buffer("packed", torch.zeros(out_features, in_features // 2, dtype=torch.uint8))
        self.register_buffer("scales", torch.ones(out_features, in_features // group_size, dtype=torch.float16))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int) -> Int4WeightLinear:
        module = cls(linear.in_features, linear.out_features, linear.bias is not None, group_size)
        weight = linear.weight.detach().float().view(linear.out_features, -1, group_size)
        scales = (weight.abs().amax(dim=-1) / 7.0).clamp(min=1e-8).half()  # (out, groups)
        q = torch.round(weight / scales.float().unsqueeze(-1)).clamp(-8, 7).to(torch.int16) + 8
        q = q.view(linear.out_features, linear.in_features).to(torch.uint8)
        module.packed.copy_(q[:, 0::2] | (q[:, 1::2] << 4))
        module.scales.copy_(scales)
        if linear.bias is not None:
            module.bias.copy_(linear.bias.detach())
        return module

    def dequantized(self) -> torch.Tensor:
        low = (self.packed & 0x0F).to(torch.int8) - 8
        high = (self.packed >> 4).to(torch.int8) - 8
        q = torch.stack((low, high), dim=-1).view(self.out_features, -1, self.group_size).float()
        return (q * self.scales.float().unsqueeze(-1)).view(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantized().to(x.dtype), bias)


def check_int4_shape(in_features: int, group_size: int) -> None:
    if group_size <= 0 or group_size % 2 or in_features % group_size:
        raise ConfigError(
            f"int4-weight needs an even group size that divides the input width; {in_features} inputs, "
            f"group size {group_size}: choose --group-size among the even divisors of {in_features}"
        )


# -- selection and checks ------------------------------------------------------------
def target_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """Return the float Linears inside the blocks, by module name."""
    return {name: module for name, module in model.named_modules()
            if name.startswith("blocks.") and type(module) is nn.Linear}


def check_method(model: TransformerPlus, method: str, sparsity: float | None = None,
                 group_size: int = DEFAULT_GROUP_SIZE, calibrated: bool = False) -> None:
    """Raise ConfigError naming the value and the fix when ``method`` cannot apply to ``model``."""
    if method not in METHODS:
        raise ConfigError(f"unknown compression method {method!r}; valid methods: {', '.join(METHODS)}")
    config = model.config
    knn = [name for name in ("knn_mlp", "knn_attention") if getattr(config, name, None) is not None]
    if method in QUANT_METHODS and knn:
        raise ConfigError(
            f"{method} cannot compress a model with {', '.join(knn)}: the kNN layers search the float "
            "weights themselves; train without the kNN feature or prune instead"
        )
    linears = target_linears(model)
    if not linears:
        raise ConfigError("the model has no float Linear layers in its blocks; is it compressed already?")
    if method == "int4-weight":
        for linear in linears.values():
            check_int4_shape(linear.in_features, group_size)
    if method in PRUNE_METHODS:
        if sparsity is None or not 0.0 < sparsity < 1.0:
            raise ConfigError(f"pruning sparsity must be in (0, 1), got {sparsity!r}")
        if method == "2:4" and sparsity != 0.5:
            raise ConfigError(f"2:4 pruning always removes half the weights; drop --sparsity {sparsity} or use 0.5")
        if method == "wanda" and not calibrated:
            raise ConfigError("wanda needs calibration examples: pass --task NAME (a task the model was trained on)")
    if method == "2:4":
        bad = sorted({linear.in_features for linear in linears.values() if linear.in_features % 4})
        if bad:
            raise ConfigError(f"2:4 pruning groups 4 inputs, but input widths {bad} are not divisible by 4")


# -- quantization ------------------------------------------------------------------
def quantize(model: TransformerPlus, method: str, group_size: int = DEFAULT_GROUP_SIZE) -> TransformerPlus:
    """Replace the blocks' Linears with quantized ones, in place; return the model (in eval mode)."""
    check_method(model, method, group_size=group_size)
    model.eval()
    if method == "int8-dynamic":
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name in target_linears(model)}
        with _quiet_deprecations():  # torch.ao's eager quantization is deprecated but still PyTorch's own
            return quantize_dynamic(model, qconfig_spec=spec, dtype=torch.qint8, inplace=True)
    for name, linear in target_linears(model).items():
        if method == "int8-weight":
            replacement: nn.Module = Int8WeightLinear.from_linear(linear)
        else:
            replacement = Int4WeightLinear.from_linear(linear, group_size)
        _set_module(model, name, replacement)
    return model


@contextlib.contextmanager
def _quiet_deprecations() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, message=".*deprecated.*")
        yield


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def _dynamic_modules(model: nn.Module) -> dict[str, nn.Module]:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return {name: module for name, module in model.named_modules() if isinstance(module, DynamicLinear)}


def _dynamic_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """int8 weights, per-channel scales and zero points of the dynamically quantized Linears."""
    tensors = {}
    for name, module in _dynamic_modules(model).items():
        weight, bias = module._weight_bias()
        tensors[f"{name}.qweight"] = weight.int_repr().contiguous()
        tensors[f"{name}.scales"] = weight.q_per_channel_scales().float().contiguous()
        tensors[f"{name}.zero_points"] = weight.q_per_channel_zero_points().to(torch.int8).contiguous()
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().contiguous()
    return tensors


def _restore_dynamic(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    for name, module in _dynamic_modules(model).items():
        q = tensors[f"{name}.qweight"]
        scales = tensors[f"{name}.scales"].double()
        zero_points = tensors[f"{name}.zero_points"].long()
        # Re-quantizing q * s with the same scales gives back exactly q.
        with _quiet_deprecations():
            weight = torch.quantize_per_channel(q.float() * scales[:, None].float(), scales, zero_points, 0,
                                                torch.qint8)
        if not torch.equal(weight.int_repr(), q):
            raise CheckpointError(f"int8 weights of {name} did not survive reloading")
        module.set_weight_bias(weight, tensors.get(f"{name}.bias"))


# -- pruning -----------------------------------------------------------------------
@torch.no_grad()
def input_norms(model: TransformerPlus, batches: Iterable[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """L2 norm over calibration tokens of each input feature of each target Linear.

    ``batches`` hold ``input_ids`` and ``token_mask`` (B, T); padding does not count.
    """
    linears = target_linears(model)
    sums = {name: torch.zeros(linear.in_features) for name, linear in linears.items()}
    current: dict[str, torch.Tensor] = {}

    def hook(name: str):  # noqa: ANN202 - returns a forward pre-hook
        def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0].float()
            mask = current["mask"]
            if x.shape[:2] == mask.shape:
                x = x[mask]
            sums[name] += x.reshape(-1, x.shape[-1]).pow(2).sum(0).cpu()
        return record

    handles = [linear.register_forward_pre_hook(hook(name)) for name, linear in linears.items()]
    model.eval()
    try:
        for batch in batches:
            current["mask"] = batch["token_mask"].bool()
            model(batch["input_ids"])
    finally:
        for handle in handles:
            handle.remove()
    return {name: total.sqrt() for name, total in sums.items()}


def prune_mask(weight: torch.Tensor, method: str, sparsity: float, norms: torch.Tensor | None) -> torch.Tensor:
    """Boolean keep-mask (out, in) for one weight matrix."""
    score = weight.abs().float()
    if norms is not None:
        score = score * norms.to(score.device)[None, :]
    out_features, in_features = weight.shape
    if method == "2:4":
        groups = score.view(out_features, in_features // 4, 4)
        keep = torch.zeros_like(groups, dtype=torch.bool).scatter(-1, groups.topk(2, dim=-1).indices, True)
        return keep.view(out_features, in_features)
    if method == "wanda":  # per output row, as in the paper
        drop = int(in_features * sparsity)
        order = score.argsort(dim=1)[:, :drop]
        return torch.ones_like(score, dtype=torch.bool).scatter(1, order, False)
    drop = int(score.numel() * sparsity)  # magnitude: one threshold per matrix
    order = score.flatten().argsort()[:drop]
    return torch.ones(score.numel(), dtype=torch.bool, device=score.device).scatter(0, order, False).view_as(score)


@torch.no_grad()
def prune(model: TransformerPlus, method: str, sparsity: float = 0.5,
          norms: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """Zero weights of the blocks' Linears in place and attach ``weight_mask`` buffers.

    Returns the achieved sparsity (fraction of zero weights) per layer.
    """
    check_method(model, method, sparsity, calibrated=norms is not None)
    achieved = {}
    for name, linear in target_linears(model).items():
        keep = prune_mask(linear.weight, method, sparsity, None if norms is None else norms[name])
        linear.weight.mul_(keep.to(linear.weight.dtype))
        _attach_mask(linear, keep)
        achieved[name] = float((linear.weight == 0).float().mean())
    return achieved


def _attach_mask(linear: nn.Linear, keep: torch.Tensor) -> None:
    if hasattr(linear, "weight_mask"):
        linear.weight_mask = keep
    else:
        linear.register_buffer("weight_mask", keep)


def apply_masks(model: nn.Module) -> None:
    """Zero the masked weights again, e.g. after an optimizer step when fine-tuning a pruned model."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear) and hasattr(module, "weight_mask"):
                module.weight.mul_(module.weight_mask.to(module.weight.dtype))


def sparsity_report(model: nn.Module) -> dict[str, float]:
    """Fraction of zero weights in each target Linear."""
    return {name: float((linear.weight == 0).float().mean()) for name, linear in target_linears(model).items()}


# -- sizes -------------------------------------------------------------------------
def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes of the blocks' Linear weights as stored (quantized codes and scales included)."""
    total = 0
    for name, module in model.named_modules():
        if not name.startswith("blocks."):
            continue
        if type(module) is nn.Linear:
            total += module.weight.numel() * module.weight.element_size()
        elif isinstance(module, Int8WeightLinear):
            total += _bytes(module.qweight, module.scale)
        elif isinstance(module, Int4WeightLinear):
            total += _bytes(module.packed, module.scales)
    total += sum(_bytes(t) for key, t in _dynamic_tensors(model).items() if not key.endswith(".bias"))
    return total


def _bytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def folder_bytes(directory: str | os.PathLike[str]) -> int:
    return sum(path.stat().st_size for path in Path(directory).iterdir() if path.is_file())


# -- checkpoints -------------------------------------------------------------------
def _tensors_to_save(model: TransformerPlus) -> dict[str, torch.Tensor]:
    dynamic = _dynamic_modules(model)
    state = {}
    for key, tensor in model.state_dict().items():
        if any(key.startswith(f"{name}.") for name in dynamic) or not isinstance(tensor, torch.Tensor):
            continue
        state[key] = tensor.detach().contiguous()
    if model.config.tie_embeddings:
        state.pop("lm_head.weight", None)
    state.update(_dynamic_tensors(model))
    return state


def save_compressed(
    model: TransformerPlus,
    directory: str | os.PathLike[str],
    recipe: dict[str, Any],
    tokenizer: Tokenizer | None = None,
    run_info: dict[str, Any] | None = None,
) -> Path:
    """Write a compressed checkpoint atomically; ``recipe`` names the method and its options."""
    recipe_text = json.dumps(recipe, indent=2, sort_keys=True)
    return write_checkpoint_folder(model, directory, _tensors_to_save(model), tokenizer, run_info,
                                   extra_files={COMPRESSION_FILE: recipe_text})


def load_recipe(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The compression recipe of a checkpoint folder, or None for an uncompressed one."""
    path = Path(directory) / COMPRESSION_FILE
    if not path.is_file():
        return None
    try:
        recipe = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(recipe, dict) or recipe.get("method") not in METHODS:
        raise CheckpointError(f"{path} names no known method (valid: {', '.join(METHODS)}); got {recipe!r}")
    return recipe


def load_compressed(directory: str | os.PathLike[str], map_location: str = "cpu") -> TransformerPlus:
    """Rebuild a compressed model: the same module structure, then its saved tensors."""
    directory = Path(resolve_checkpoint_dir(directory))
    recipe = load_recipe(directory)
    if recipe is None:
        raise CheckpointError(f"{directory} has no {COMPRESSION_FILE}; load it with TransformerPlus.from_pretrained")
    model = TransformerPlus(load_config(directory)).eval()
    weights_path = directory / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights_path), device=map_location)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{weights_path} not found") from exc
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path} is corrupt or not a safetensors file: {exc}") from exc
    method = recipe["method"]
    if method == "int8-dynamic":
        # torch's dynamic Linear cannot load a partial state dict: fill the float model, then swap in codes.
        dynamic = {key.removesuffix(".qweight") for key in tensors if key.endswith(".qweight")}
        model.load_state_dict({k: v for k, v in tensors.items() if k.rpartition(".")[0] not in dynamic},
                              strict=False)
    if method in QUANT_METHODS:
        quantize(model, method, group_size=int(recipe.get("group_size", DEFAULT_GROUP_SIZE)))
    else:
        for linear in target_linears(model).values():
            _attach_mask(linear, torch.ones_like(linear.weight, dtype=torch.bool))
    check_tensors_fit(weights_path, tensors, _tensors_to_save(model), f"{COMPRESSION_FILE} ({method})")
    if method == "int8-dynamic":
        _restore_dynamic(model, tensors)
    else:
        model.load_state_dict(tensors, strict=False)
    return model


def calibration_batches(
    examples: list[Any], tokenizer: Tokenizer, max_length: int, batch_size: int = 16
) -> list[dict[str, torch.Tensor]]:
    """Encode task examples with their answers for Wanda's input statistics."""
    from neurosym.data import encode_example

    encoded = [encode_example(example, tokenizer, max_length).input_ids for example in examples]
    batches = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        width = max(len(ids) for ids in chunk)
        input_ids = torch.full((len(chunk), width), tokenizer.pad_id, dtype=torch.long)
        token_mask = torch.zeros((len(chunk), width), dtype=torch.bool)
        for row, ids in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            token_mask[row, : len(ids)] = True
        batches.append({"input_ids": input_ids, "token_mask": token_mask})
    return batches


def compress_model(
    model: TransformerPlus,
    method: str,
    sparsity: float | None = None,
    group_size: int = DEFAULT_GROUP_SIZE,
    calibration: list[dict[str, torch.Tensor]] | None = None,
) -> tuple[TransformerPlus, dict[str, Any]]:
    """Compress ``model`` in place by ``method``; return it and the recipe (with per-layer sparsity)."""
    if method in PRUNE_METHODS and sparsity is None:
        sparsity = 0.5
    check_method(model, method, sparsity, group_size, calibrated=calibration is not None)
    recipe: dict[str, Any] = {"method": method}
    if method in QUANT_METHODS:
        before = linear_weight_bytes(model)
        quantize(model, method, group_size)
        after = linear_weight_bytes(model)
        if method == "int4-weight":
            recipe["group_size"] = group_size
        recipe.update({"linear_bytes_before": before, "linear_bytes_after": after,
                       "linear_size_ratio": before / max(after, 1)})
        return model, recipe
    norms = None
    if calibration is not None and method in ("wanda", "2:4"):
        norms = input_norms(model, calibration)
    achieved = prune(model, method, sparsity, norms)
    recipe.update({"sparsity": sparsity, "calibrated": norms is not None, "achieved_sparsity": achieved,
                   "mean_sparsity": sum(achieved.values()) / len(achieved)})
    return model, recipe


def layer_sparsity_table(achieved: dict[str, float]) -> str:
    """Plain-text table of achieved sparsity per layer."""
    width = max(len(name) for name in achieved) if achieved else 5
    lines = [f"{'layer':<{width}}  sparsity", "-" * (width + 10)]
    lines += [f"{name:<{width}}  {100 * value:6.2f}%" for name, value in achieved.items()]
    return "\n".join(lines)
