"""kNN attention and kNN MLP on trained models: switching them on, and `neurosym bench knn`.

Speeds are ratios to the dense computation timed in the same process; the variants
alternate in rounds and the median time per call is reported.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neurosym.config import KNNAttentionConfig, KNNMLPConfig, ModelConfig
from neurosym.data import encode_prompt
from neurosym.errors import CheckpointError
from neurosym.layers.knn_attention import DecodeIndex
from neurosym.layers.knn_mlp import KNNMLP, ProductKeyMLP, exact_top_k, top_k_recall
from neurosym.layers.rope import RotaryEmbedding
from neurosym.model import TransformerPlus

logger = logging.getLogger(__name__)


def with_features(model: TransformerPlus, features: dict[str, dict[str, Any] | None]) -> TransformerPlus:
    """Return a copy of ``model`` with optional features switched on (or off, with None), same weights.

    Features whose layers keep the dense parameter names (kNN attention, kNN MLP with
    the exact or faiss back-end) load a dense checkpoint unchanged. A feature that needs new
    parameters raises CheckpointError naming them.
    """
    config = ModelConfig.from_dict({**model.config.to_dict(), **features})
    switched = TransformerPlus(config).to(next(model.parameters()).device)
    result = switched.load_state_dict(model.state_dict(), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"features {sorted(features)} do not fit the checkpoint's weights: missing {result.missing_keys[:4]}, "
            f"unexpected {result.unexpected_keys[:4]}; train or fine-tune with the feature on instead"
        )
    return switched.eval()


def _median_times(calls: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each function, calls alternating so noise hits all alike."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


# --- kNN attention -------------------------------------------------------------------------


def capture_long_context(model: TransformerPlus, tokenizer: Any, examples: list[Any], length: int) -> list[dict]:
    """Per layer, queries, keys and values (H, length, hd) of a document of concatenated stories.

    The model's context is shorter than ``length``, so the token stream is cut into
    windows of max_seq_len tokens that run through the model independently (their
    hidden states are in distribution). Queries and keys are then rotated by their
    absolute position in the long document, as one long causal pass would place them.
    """
    config = model.config
    stream: list[int] = []
    for example in examples:
        stream.extend(encode_prompt(example, tokenizer, config.max_seq_len)[0])
        stream.extend(tokenizer.encode(example.answer))
        if len(stream) >= length:
            break
    if len(stream) < length:
        raise ValueError(f"{len(examples)} examples give {len(stream)} tokens, fewer than {length}; pass more")
    stream = stream[:length]
    captured: dict[int, list[torch.Tensor]] = {i: [] for i in range(config.n_layers)}
    handles = [block.attn.qkv.register_forward_hook(lambda m, i, o, index=index: captured[index].append(o[0]))
               for index, block in enumerate(model.blocks)]
    try:
        with torch.no_grad():
            for start in tqdm(range(0, length, config.max_seq_len), desc="capture", leave=False):
                window = torch.tensor(stream[start : start + config.max_seq_len]).unsqueeze(0)
                model(window)
    finally:
        for handle in handles:
            handle.remove()
    rope = RotaryEmbedding(config.head_dim, length, config.rope_theta)
    positions = torch.arange(length).unsqueeze(0)
    layers = []
    for index in range(config.n_layers):
        q, k, v = torch.cat(captured[index]).split(config.d_model, dim=-1)  # each (length, D)
        shape = (1, length, config.n_heads, config.head_dim)
        layers.append({
            "q": rope(q.reshape(shape).transpose(1, 2), positions)[0].contiguous(),
            "k": rope(k.reshape(shape).transpose(1, 2), positions)[0].contiguous(),
            "v": v.reshape(shape).transpose(1, 2)[0].contiguous(),
        })
    return layers


def _bench_model(checkpoint: str | None, task: str, train_steps: int) -> tuple[TransformerPlus, Any, str]:
    from neurosym.checkpoint import load_pretrained, load_tokenizer, resolve_checkpoint_dir
    from neurosym.runs import TaskSpec, train_run
    from neurosym.training import TrainConfig

    if checkpoint is None:
        logger.info("no checkpoint given: training a tiny model for %d steps on %s", train_steps, task)
        with tempfile.TemporaryDirectory(prefix="knn-bench-") as folder:
            train_run([TaskSpec(task)], folder, train_config=TrainConfig(steps=train_steps, eval_every=10**9,
                                                                         progress=False, device="cpu"),
                      valid_examples=20)
            last = Path(folder) / "last"
            return load_pretrained(last).eval(), load_tokenizer(last), f"a tiny model trained {train_steps} steps"
    directory = resolve_checkpoint_dir(checkpoint)
    return load_pretrained(directory).eval(), load_tokenizer(directory), str(directory)


def bench_knn_attention(
    checkpoint: str | None = None,
    task: str = "episodic.location",
    contexts: list[int] | None = None,
    k: int = 32,
    window: int = 64,
    kinds: list[str] | None = None,
    n_queries: int = 32,
    train_steps: int = 150,
    seed: int = 0,
    tails: list[str] | None = None,
) -> dict[str, Any]:
    """Time one decode step of kNN attention against dense attention at growing contexts.

    For each layer and index kind, the index grows with the document as it would with
    a KV cache: it is extended to each context, and then ``n_queries`` decode steps run.
    Each step adds the key that leaves the window, searches the index, and attends to
    the retrieved keys plus the window. Dense attention runs on the same query and keys.
    Each ``tails`` entry (default none and taylor) is a separate row.
    """
    from neurosym.tasks import get_task

    contexts = sorted(contexts or [4096, 16384, 65536])
    kinds = kinds or ["hnsw", "ivf"]
    torch.manual_seed(seed)
    model, tokenizer, where = _bench_model(checkpoint, task, train_steps)
    total = contexts[-1]
    examples = get_task(task).examples("test", n=max(200, total // 20), seed=seed)
    layers = capture_long_context(model, tokenizer, examples, total)
    scale = model.config.head_dim ** -0.5
    rows = []
    for kind in kinds:
        for tail in tails or ["none", "taylor"]:
            # IVF cells are trained once 128 * 39 keys are cached; shorter caches are searched flat.
            config = KNNAttentionConfig(k=k, window=window, index=kind, ivf_nlist=128, ivf_nprobe=8, tail=tail)
            label = kind if tail == "none" else f"{kind}+{tail}"
            for layer_index, layer in enumerate(layers):
                rows += _bench_layer(layer, layer_index, label, config, contexts, n_queries, scale)
    result: dict[str, Any] = {"checkpoint": where, "task": task, "k": k, "window": window, "rows": rows,
                              "n_heads": model.config.n_heads, "head_dim": model.config.head_dim,
                              "queries": n_queries, "contexts": contexts}
    result["summary"] = _summarize_attention(rows, contexts)
    return result


def _bench_layer(
    layer: dict[str, torch.Tensor], layer_index: int, kind: str, config: KNNAttentionConfig,
    contexts: list[int], n_queries: int, scale: float,
) -> list[dict[str, Any]]:
    keys, values, queries = layer["k"].unsqueeze(0), layer["v"].unsqueeze(0), layer["q"].unsqueeze(0)  # (1, H, L, hd)
    heads = keys.shape[1]
    state = DecodeIndex(config, 1, heads, keys.shape[-1])
    rows = []
    for context in contexts:
        first = context - n_queries  # decode steps at positions first .. context - 1
        build_start = time.perf_counter()
        state.extend(keys, values, max(0, first - config.window), None)
        build_s = time.perf_counter() - build_start
        knn_times, dense_times, errors, recalls, masses = [], [], [], [], []
        for position in range(first, context):
            length = position + 1
            q = queries[:, :, position]  # (1, H, hd)
            k_all, v_all = keys[:, :, :length], values[:, :, :length]
            start = time.perf_counter()
            dense = F.scaled_dot_product_attention(q.unsqueeze(2), k_all, v_all).squeeze(2)
            dense_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            approx = state.attend(q, k_all, v_all, scale, None)
            knn_times.append(time.perf_counter() - start)
            older_now = state.count
            ids = torch.from_numpy(state.select(q.numpy(), length, None))
            errors.append(float((approx - dense).norm() / dense.norm()))
            scores = torch.einsum("bhd,bhsd->bhs", q, k_all) * scale
            weights = scores.softmax(-1)
            retrieved = ids[..., : config.k]
            exact = scores[..., :older_now].topk(min(config.k, older_now), dim=-1).indices if older_now else None
            if exact is not None:
                recalls.append(top_k_recall(retrieved.reshape(heads, -1), exact.reshape(heads, -1), length))
            masses.append(float(weights.gather(-1, ids.clamp(min=0)).mul(ids >= 0).sum(-1).mean()))
        dense_ms, knn_ms = 1000 * statistics.median(dense_times), 1000 * statistics.median(knn_times)
        rows.append({
            "kind": kind, "layer": layer_index, "context": context, "dense_ms": dense_ms, "knn_ms": knn_ms,
            "speedup": dense_ms / knn_ms, "rel_error": statistics.mean(errors),
            "recall_at_k": statistics.mean(recalls) if recalls else None,
            "mass_covered": statistics.mean(masses), "index_extend_s": build_s,
        })
        logger.info("%s layer %d context %d: dense %.3f ms, knn %.3f ms, error %.4f", kind, layer_index,
                    context, dense_ms, knn_ms, rows[-1]["rel_error"])
    return rows


def _summarize_attention(rows: list[dict[str, Any]], contexts: list[int]) -> list[dict[str, Any]]:
    """Per index kind and context, the mean over layers; growth from the first to the last context."""
    summary = []
    for kind in sorted({row["kind"] for row in rows}):
        by_context = {}
        for context in contexts:
            group = [row for row in rows if row["kind"] == kind and row["context"] == context]
            by_context[context] = {
                key: statistics.mean(row[key] for row in group)
                for key in ("dense_ms", "knn_ms", "rel_error", "mass_covered")
            }
            recalls = [row["recall_at_k"] for row in group if row["recall_at_k"] is not None]
            by_context[context]["recall_at_k"] = statistics.mean(recalls) if recalls else None
            by_context[context]["speedup"] = by_context[context]["dense_ms"] / by_context[context]["knn_ms"]
            by_context[context]["max_layer_error"] = max(row["rel_error"] for row in group)
        first, last = by_context[contexts[0]], by_context[contexts[-1]]
        summary.append({"kind": kind, "contexts": by_context,
                        "dense_growth": last["dense_ms"] / first["dense_ms"],
                        "knn_growth": last["knn_ms"] / first["knn_ms"]})
    return summary


def format_attention_bench(result: dict[str, Any]) -> str:
    lines = [
        f"kNN attention decode step, keys from {result['checkpoint']} ({result['task']}), "
        f"{result['n_heads']} heads of {result['head_dim']}, k={result['k']} + window {result['window']}, "
        f"median of {result['queries']} steps, mean over layers",
    ]
    header = (f"{'index':<12} {'context':>8} {'dense ms':>9} {'knn ms':>8} {'speedup':>8} {'rel err':>8} "
              f"{'max err':>8} {'recall':>7} {'mass':>6}")
    lines += [header, "-" * len(header)]
    for entry in result["summary"]:
        for context, row in entry["contexts"].items():
            recall = "-" if row["recall_at_k"] is None else f"{row['recall_at_k']:.3f}"
            lines.append(
                f"{entry['kind']:<12} {context:>8} {row['dense_ms']:>9.3f} {row['knn_ms']:>8.3f} "
                f"{row['speedup']:>7.1f}x {row['rel_error']:>8.4f} {row['max_layer_error']:>8.4f} "
                f"{recall:>7} {row['mass_covered']:>6.3f}"
            )
        contexts = list(entry["contexts"])
        lines.append(f"{entry['kind']:<12} growth {contexts[0]} -> {contexts[-1]}: dense {entry['dense_growth']:.1f}x, "
                     f"knn {entry['knn_growth']:.1f}x")
    return "\n".join(lines)


# --- kNN MLP -------------------------------------------------------------------------------


def bench_knn_mlp(
    neurons: list[int] | None = None, d_model: int = 1024, fraction: float = 0.1, rounds: int = 30,
    n_tokens: int = 64, seed: int = 0,
) -> dict[str, Any]:
    """Batch-1 MLP step: product-key kNN MLP and the faiss reference against the dense MLP.

    All three share one weight set: W_in is the product-key matrix materialized as N
    free rows (the dense MLP and the faiss index read it), and W_out is shared. Recall
    is measured against the exact top-k of W_in x. The output error is measured against
    the dense ReLU MLP (all active neurons) and, separately, against the exact top-k
    output.
    """
    torch.manual_seed(seed)
    rows = [_bench_mlp_width(hidden, d_model, fraction, rounds, n_tokens) for hidden in neurons or [16384, 262144]]
    return {"rows": rows, "fraction": fraction, "rounds": rounds}


@torch.no_grad()
def _bench_mlp_width(hidden: int, d_model: int, fraction: float, rounds: int, n_tokens: int) -> dict[str, Any]:
    keyed = ProductKeyMLP(d_model, hidden, KNNMLPConfig(fraction=fraction, backend="product_keys")).eval()
    reference = KNNMLP(d_model, hidden, KNNMLPConfig(fraction=fraction, backend="faiss", hnsw_m=16)).eval()
    reference.up.weight.copy_(keyed.dense_weight())
    reference.down.weight = keyed.down.weight
    w_in, w_out = reference.up.weight.detach(), keyed.down.weight.detach()
    tokens = torch.randn(n_tokens, 1, d_model)
    build_start = time.perf_counter()
    reference.faiss_index()
    faiss_build_s = time.perf_counter() - build_start
    keyed.down_rows()
    reference.down_rows()
    position = [0]

    def token() -> torch.Tensor:
        position[0] = (position[0] + 1) % n_tokens
        return tokens[position[0]]

    calls = {
        "dense": lambda: F.linear(F.relu(F.linear(token(), w_in)), w_out),
        "product_keys": lambda: keyed(token()),
        "faiss": lambda: reference(token()),
    }
    times = _median_times(calls, rounds)
    row = {"neurons": hidden, "d_model": d_model, "k": keyed.k, "faiss_build_s": faiss_build_s,
           **{f"{name}_ms": 1000 * value for name, value in times.items()}}
    row["product_keys_speedup"] = times["dense"] / times["product_keys"]
    row["faiss_speedup"] = times["dense"] / times["faiss"]
    flat = tokens[:, 0]
    exact = exact_top_k(keyed, flat)
    dense_out = F.linear(F.relu(F.linear(flat, w_in)), w_out)
    top_out = keyed.down(keyed.masked_activations(flat))
    for name, module in (("product_keys", keyed), ("faiss", reference)):
        row[f"{name}_recall"] = top_k_recall(module.select(flat), exact, hidden)
        out = torch.cat([module(flat[i : i + 1]) for i in range(flat.shape[0])])  # the batch-1 path
        row[f"{name}_error_vs_dense"] = _relative_error(out, dense_out)
        row[f"{name}_error_vs_topk"] = _relative_error(out, top_out)
    row["active_fraction"] = float((F.linear(flat, w_in) > 0).float().mean())
    logger.info("kNN MLP %d neurons: %s", hidden, row)
    return row


def _relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float(((value - reference).norm(dim=-1) / reference.norm(dim=-1)).mean())


def format_mlp_bench(result: dict[str, Any]) -> str:
    lines = [f"kNN MLP, batch 1, {100 * result['fraction']:.0f}% of neurons, median of {result['rounds']} rounds"]
    header = (f"{'neurons':>8} {'d':>5} {'backend':<13} {'ms':>8} {'speedup':>8} {'recall':>7} "
              f"{'err vs dense':>13} {'err vs top-k':>13}")
    lines += [header, "-" * len(header)]
    for row in result["rows"]:
        lines.append(f"{row['neurons']:>8} {row['d_model']:>5} {'dense':<13} {row['dense_ms']:>8.3f} {'1.0x':>8}")
        for name in ("product_keys", "faiss"):
            lines.append(
                f"{row['neurons']:>8} {row['d_model']:>5} {name:<13} {row[name + '_ms']:>8.3f} "
                f"{row[name + '_speedup']:>7.1f}x {row[name + '_recall']:>7.3f} "
                f"{row[name + '_error_vs_dense']:>13.4f} {row[name + '_error_vs_topk']:>13.4f}"
            )
        lines.append(f"{'':>8} active fraction of the dense ReLU MLP {row['active_fraction']:.3f}; "
                     f"faiss HNSW build {row['faiss_build_s']:.1f} s")
    return "\n".join(lines)


@torch.no_grad()
def knn_mlp_checkpoint_recall(
    checkpoint: str, task: str = "episodic.location", n_examples: int = 100, fraction: float = 0.1, seed: int = 0,
) -> dict[str, Any]:
    """Per layer of a dense ReLU checkpoint: how well the kNN MLP back-ends reproduce its MLP.

    Feeds the prompts of ``n_examples`` test examples, captures every MLP's input
    tokens, and reports the recall of the exact top-k by the faiss back-end and the
    relative output error against the dense MLP, of exact top-k masking and of faiss.
    """
    from neurosym.checkpoint import load_pretrained, load_tokenizer, resolve_checkpoint_dir
    from neurosym.errors import NeurosymError
    from neurosym.layers.mlp import ReLUMLP
    from neurosym.tasks import get_task

    directory = resolve_checkpoint_dir(checkpoint)
    model, tokenizer = load_pretrained(directory).eval(), load_tokenizer(directory)
    if model.config.mlp != "relu":
        raise NeurosymError(f"{directory} has a {model.config.mlp} MLP; the kNN MLP needs a ReLU checkpoint (--mlp relu)")
    inputs: dict[int, list[torch.Tensor]] = {i: [] for i in range(model.config.n_layers)}
    handles = [block.mlp.register_forward_hook(lambda m, i, o, index=index: inputs[index].append(i[0].reshape(-1, i[0].shape[-1])))
               for index, block in enumerate(model.blocks)]
    try:
        for example in get_task(task).examples("test", n=n_examples, seed=seed):
            model(torch.tensor([encode_prompt(example, tokenizer, model.config.max_seq_len)[0]]))
    finally:
        for handle in handles:
            handle.remove()
    rows = []
    for index, block in enumerate(model.blocks):
        dense = block.mlp
        assert isinstance(dense, ReLUMLP)
        tokens = torch.cat(inputs[index])
        reference = dense(tokens)
        errors = {}
        for backend in ("exact", "faiss"):
            knn = KNNMLP(dense.up.in_features, dense.up.out_features, KNNMLPConfig(fraction=fraction, backend=backend))
            knn.load_state_dict(dense.state_dict())
            knn.eval()
            found = knn.select(tokens)
            errors[backend] = (knn, found, _relative_error(knn.compute_selected(tokens, found), reference))
        exact_ids = errors["exact"][1]
        rows.append({
            "layer": index, "tokens": tokens.shape[0], "neurons": dense.up.out_features, "k": errors["exact"][0].k,
            "faiss_recall": top_k_recall(errors["faiss"][1], exact_ids, dense.up.out_features),
            "topk_error_vs_dense": errors["exact"][2], "faiss_error_vs_dense": errors["faiss"][2],
        })
    return {"checkpoint": str(directory), "task": task, "fraction": fraction, "rows": rows}


def format_mlp_checkpoint(result: dict[str, Any]) -> str:
    lines = [f"kNN MLP on {result['checkpoint']} ({result['task']}), {100 * result['fraction']:.0f}% of neurons"]
    header = f"{'layer':>5} {'tokens':>7} {'k':>5} {'faiss recall':>13} {'top-k err':>10} {'faiss err':>10}"
    lines += [header, "-" * len(header)]
    for row in result["rows"]:
        lines.append(f"{row['layer']:>5} {row['tokens']:>7} {row['k']:>5} {row['faiss_recall']:>13.3f} "
                     f"{row['topk_error_vs_dense']:>10.4f} {row['faiss_error_vs_dense']:>10.4f}")
    return "\n".join(lines)
