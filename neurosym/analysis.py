"""Sparsity analysis of a trained model: is attention peaked, are MLP activations sparse?

For each layer (and head) on a set of task prompts, :func:`analyze_sparsity` measures

- attention: the softmax mass the top-k keys hold, for k in (8, 32, 128), averaged over
  the query positions that have more than k keys to choose from (so a short prompt
  does not count as perfectly peaked);
- MLP: the fraction of active neurons (ReLU: exactly > 0; SwiGLU: |a_n| above
  ``swiglu_threshold`` times the token's largest |a|, since SwiGLU is never exactly
  zero) and the share of the output the top 10% neurons carry, measured as
  1 - ||y - y_top|| / ||y||, where y_top keeps the neurons with the largest
  |a_n| * ||W_out[:, n]||;
- residual stream: the cosine similarity of each block's input and output.

It reads values through forward hooks and recomputes the attention weights from the
hooked inputs, so the model itself is not changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from neurosym.data import encode_prompt
from neurosym.errors import NeurosymError
from neurosym.layers.attention import CausalSelfAttention
from neurosym.layers.mlp import ReLUMLP, SwiGLU
from neurosym.model import TransformerPlus
from neurosym.tasks.example import Example
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

TOP_KS = (8, 32, 128)
TOP_SHARE = 0.10


@dataclass
class LayerSparsity:
    """Measurements of one block; per-head lists are indexed by head."""

    layer: int
    attention_top_mass: dict[int, list[float | None]]  # k -> per head mean mass of the top-k keys
    queries_counted: dict[int, int]  # k -> query positions with more than k keys
    mlp_kind: str
    mlp_active_fraction: float
    mlp_top10_share: float
    residual_cosine: float


@dataclass
class SparsityReport:
    """Result of :func:`analyze_sparsity`; ``to_dict`` is JSON-ready."""

    checkpoint: str
    task: str
    examples: int
    tokens: int
    mean_keys_per_query: float
    layers: list[LayerSparsity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_table(self) -> str:
        lines = [
            f"checkpoint {self.checkpoint}, task {self.task}: {self.examples} prompts, {self.tokens} tokens, "
            f"{self.mean_keys_per_query:.1f} keys per query on average",
            "attention: mean softmax mass of the top-k keys (queries with more than k keys)",
        ]
        header = f"{'layer':>5} {'head':>4} " + " ".join(f"{'top' + str(k):>8}" for k in TOP_KS)
        lines += [header, "-" * len(header)]
        for layer in self.layers:
            heads = len(next(iter(layer.attention_top_mass.values())))
            for h in range(heads):
                cells = [_cell(layer.attention_top_mass[k][h]) for k in TOP_KS]
                lines.append(f"{layer.layer:>5} {h:>4} " + " ".join(f"{c:>8}" for c in cells))
        lines.append("")
        header = f"{'layer':>5} {'mlp':>6} {'active':>8} {'top10% share':>13} {'cos(in,out)':>12}"
        lines += [header, "-" * len(header)]
        for layer in self.layers:
            lines.append(
                f"{layer.layer:>5} {layer.mlp_kind:>6} {layer.mlp_active_fraction:>8.3f} "
                f"{layer.mlp_top10_share:>13.3f} {layer.residual_cosine:>12.3f}"
            )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


class _Recorder:
    """Forward hooks that accumulate the measurements of every block."""

    def __init__(self, model: TransformerPlus, swiglu_threshold: float) -> None:
        self.model = model
        self.swiglu_threshold = swiglu_threshold
        n_layers, n_heads = model.config.n_layers, model.config.n_heads
        self.mass = {k: torch.zeros(n_layers, n_heads, dtype=torch.float64) for k in TOP_KS}
        self.counted = {k: [0] * n_layers for k in TOP_KS}
        self.active = [[0.0, 0] for _ in range(n_layers)]  # sum of active fractions, tokens
        self.share = [[0.0, 0] for _ in range(n_layers)]
        self.cosine = [[0.0, 0] for _ in range(n_layers)]
        self.keys_total = 0
        self.queries_total = 0
        self.valid: torch.Tensor | None = None  # (B, T) real tokens of the current batch
        self.handles: list[Any] = []
        for index, block in enumerate(model.blocks):
            self.handles.append(block.attn.register_forward_hook(self._attention_hook(index)))
            self.handles.append(block.mlp.register_forward_hook(self._mlp_hook(index)))
            self.handles.append(block.register_forward_hook(self._block_hook(index)))

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()

    def _attention_hook(self, index: int):  # noqa: ANN202
        def hook(module: CausalSelfAttention, inputs: tuple, output: Any) -> None:
            x, positions, mask = inputs[0], inputs[1], inputs[2]
            weights = attention_weights(module, x, positions, mask)  # (B, H, T, S)
            self._add_attention(index, weights)

        return hook

    def _add_attention(self, index: int, weights: torch.Tensor) -> None:
        assert self.valid is not None
        keys_seen = (weights > 0).sum(-1)  # (B, H, T)
        valid = self.valid.unsqueeze(1).expand_as(keys_seen)
        if index == 0:
            self.keys_total += int(keys_seen[:, 0][self.valid].sum())
            self.queries_total += int(self.valid.sum())
        ordered = weights.sort(dim=-1, descending=True).values.cumsum(-1)
        for k in TOP_KS:
            column = min(k, ordered.shape[-1]) - 1
            held = ordered[..., column]  # (B, H, T)
            use = valid & (keys_seen > k)
            self.mass[k][index] += (held * use).sum(dim=(0, 2)).double()
            self.counted[k][index] += int(use[:, 0].sum())

    def _mlp_hook(self, index: int):  # noqa: ANN202
        def hook(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x = inputs[0][self.valid]  # (M, D)
            activation = mlp_activations(module, x)  # (M, N)
            if isinstance(module, SwiGLU):
                magnitude = activation.abs()
                active = magnitude > self.swiglu_threshold * magnitude.amax(-1, keepdim=True)
            else:
                active = activation > 0
            self.active[index][0] += float(active.float().mean(-1).sum())
            self.active[index][1] += x.shape[0]
            down = module.down.weight  # (D, N)
            contribution = activation.abs() * down.norm(dim=0)
            keep = max(1, int(round(TOP_SHARE * activation.shape[-1])))
            top = contribution.topk(keep, dim=-1).indices
            kept = torch.zeros_like(activation).scatter(-1, top, activation.gather(-1, top))
            full = activation @ down.t()
            partial = kept @ down.t()
            error = (full - partial).norm(dim=-1) / full.norm(dim=-1).clamp(min=1e-12)
            self.share[index][0] += float((1 - error).sum())
            self.share[index][1] += x.shape[0]

        return hook

    def _block_hook(self, index: int):  # noqa: ANN202
        def hook(module: torch.nn.Module, inputs: tuple, output: tuple) -> None:
            before, after = inputs[0][self.valid], output[0][self.valid]
            self.cosine[index][0] += float(F.cosine_similarity(before, after, dim=-1).sum())
            self.cosine[index][1] += before.shape[0]

        return hook


def attention_weights(
    module: CausalSelfAttention, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Dense causal softmax weights (B, H, T, T) of ``module`` on ``x`` without a cache."""
    batch, length, _ = x.shape
    q, k, _ = module.qkv(x).split(module.n_heads * module.head_dim, dim=-1)
    q = module.rope(q.view(batch, length, module.n_heads, module.head_dim).transpose(1, 2), positions)
    k = module.rope(k.view(batch, length, module.n_heads, module.head_dim).transpose(1, 2), positions)
    scores = q @ k.transpose(-1, -2) / module.head_dim ** 0.5
    allowed = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
    if mask is not None:
        allowed = allowed & mask
    return F.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


def mlp_activations(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Hidden activations (M, N) of a dense MLP for tokens ``x`` (M, D)."""
    if isinstance(module, SwiGLU):
        return F.silu(module.gate(x)) * module.up(x)
    if isinstance(module, ReLUMLP) or hasattr(module, "up"):
        return F.relu(module.up(x))
    raise NeurosymError(f"sparsity analysis does not know the MLP {type(module).__name__}")


@torch.no_grad()
def analyze_sparsity(
    model: TransformerPlus,
    tokenizer: Tokenizer,
    examples: list[Example],
    checkpoint: str = "",
    task: str = "",
    batch_size: int = 16,
    swiglu_threshold: float = 0.01,
) -> SparsityReport:
    """Measure attention, MLP and residual sparsity of ``model`` on the prompts of ``examples``."""
    if not examples:
        raise NeurosymError("sparsity analysis needs at least one example; raise -n")
    model.eval()
    max_length = model.config.max_seq_len
    prompts = [encode_prompt(example, tokenizer, max_length)[0] for example in examples]
    recorder = _Recorder(model, swiglu_threshold)
    tokens = 0
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.full((len(chunk), width), tokenizer.pad_id, dtype=torch.long)
            valid = torch.zeros(len(chunk), width, dtype=torch.bool)
            for row, prompt in enumerate(chunk):  # right padding: real tokens never see a pad
                ids[row, : len(prompt)] = torch.tensor(prompt)
                valid[row, : len(prompt)] = True
            recorder.valid = valid
            model(ids.to(next(model.parameters()).device))
            tokens += int(valid.sum())
    finally:
        recorder.close()
    report = SparsityReport(checkpoint=checkpoint, task=task, examples=len(prompts), tokens=tokens,
                            mean_keys_per_query=recorder.keys_total / max(1, recorder.queries_total))
    for index in range(model.config.n_layers):
        masses = {}
        for k in TOP_KS:
            count = recorder.counted[k][index]
            masses[k] = [float(m) / count if count else None for m in recorder.mass[k][index].tolist()]
        report.layers.append(LayerSparsity(
            layer=index,
            attention_top_mass=masses,
            queries_counted={k: recorder.counted[k][index] for k in TOP_KS},
            mlp_kind=model.config.mlp,
            mlp_active_fraction=recorder.active[index][0] / max(1, recorder.active[index][1]),
            mlp_top10_share=recorder.share[index][0] / max(1, recorder.share[index][1]),
            residual_cosine=recorder.cosine[index][0] / max(1, recorder.cosine[index][1]),
        ))
    if model.config.mlp == "swiglu":
        report.notes.append(
            f"SwiGLU activations are never exactly zero: a neuron counts as active when "
            f"|a| > {swiglu_threshold} x the largest |a| of its token"
        )
    report.notes.append("attention mass is averaged over query positions with more than k keys; '-' means none")
    return report


def plot_sparsity(report: SparsityReport, path: str | Path) -> Path:
    """Write a PNG with the attention mass per head and the MLP and residual numbers per layer."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise NeurosymError("plotting needs matplotlib: pip install 'neurosym[plot]'") from exc
    path = Path(path)
    layers = [layer.layer for layer in report.layers]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for k in TOP_KS:
        means = [_mean(layer.attention_top_mass[k]) for layer in report.layers]
        (line,) = left.plot(layers, means, marker="o", label=f"top-{k} (mean over heads; dots: heads)")
        for layer in report.layers:
            values = [v for v in layer.attention_top_mass[k] if v is not None]
            left.scatter([layer.layer] * len(values), values, s=12, color=line.get_color(), alpha=0.5)
    left.set(xlabel="layer", ylabel="attention mass held", ylim=(0, 1.02), title="attention: top-k key mass")
    left.legend(fontsize=8)
    right.plot(layers, [layer.mlp_active_fraction for layer in report.layers], marker="o", label="MLP active fraction")
    right.plot(layers, [layer.mlp_top10_share for layer in report.layers], marker="o",
               label="output share of top 10% neurons")
    right.plot(layers, [layer.residual_cosine for layer in report.layers], marker="o", label="cos(block in, out)")
    right.set(xlabel="layer", ylim=(min(0.0, *(layer.residual_cosine for layer in report.layers)) - 0.05, 1.02),
              title="MLP and residual stream")
    for axis in (left, right):
        axis.set_xticks(layers)
    right.legend(fontsize=8)
    figure.suptitle(f"{report.task}: {report.examples} prompts")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _mean(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else float("nan")
