"""Model configuration: plain fields, validated, round-tripping through JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from neurosym.errors import ConfigError

MLPKind = Literal["swiglu", "relu"]
MLP_KINDS: tuple[str, ...] = get_args(MLPKind)


@dataclass
class FeatureConfig:
    """Base of the optional per-feature configs nested in :class:`ModelConfig`.

    ``layers`` lists the block indices the feature applies to, and ``None`` means
    every block. A feature is off when its field in ModelConfig is ``None``.
    """

    name: ClassVar[str] = "feature"
    layers: list[int] | None = None

    def check(self, config: ModelConfig) -> None:
        """Raise ConfigError when the feature does not fit ``config``. Subclasses extend this check."""
        if self.layers is None:
            return
        if not isinstance(self.layers, list) or not all(isinstance(i, int) for i in self.layers):
            raise ConfigError(f"{self.name}.layers must be a list of block indices, got {self.layers!r}")
        bad = [i for i in self.layers if not 0 <= i < config.n_layers]
        if bad:
            raise ConfigError(
                f"{self.name}.layers has indices {bad} outside 0..{config.n_layers - 1} (n_layers={config.n_layers})"
            )

    def applies_to(self, layer: int) -> bool:
        return self.layers is None or layer in self.layers


SlotBinding = Literal["gumbel", "vq"]
SLOT_BINDINGS: tuple[str, ...] = get_args(SlotBinding)


@dataclass
class SlotsConfig(FeatureConfig):
    """Symbol slots bound to a discrete entity codebook (see ``neurosym.layers.slots``).

    ``n_slots`` slots per layer compete for tokens. Each slot binds one of
    ``n_entities`` codebook rows by ``binding``: "gumbel" uses a straight-through
    Gumbel-softmax at ``temperature``, and "vq" takes the nearest row with a
    ``commitment`` loss. ``dim`` is the slot
    and codebook width (None: d_model // 4). Where a batch carries entity targets, the
    binding loss enters the total with ``supervision_weight``. ``entity_names`` names
    the codebook rows (filled from the training tasks' entities when supervised).
    """

    name: ClassVar[str] = "slots"
    n_slots: int = 8
    n_entities: int = 32
    dim: int | None = None
    binding: SlotBinding = "gumbel"
    temperature: float = 1.0
    supervision_weight: float = 1.0
    commitment: float = 0.25
    entity_names: list[str] | None = None

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        for field_name in ("n_slots", "n_entities"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"slots.{field_name} must be a positive integer, got {value!r}")
        if self.dim is not None and (not isinstance(self.dim, int) or self.dim <= 0):
            raise ConfigError(f"slots.dim must be a positive integer or None (d_model // 4), got {self.dim!r}")
        if self.binding not in SLOT_BINDINGS:
            raise ConfigError(f"unknown slots.binding {self.binding!r}; valid bindings: {', '.join(SLOT_BINDINGS)}")
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            raise ConfigError(f"slots.temperature must be a positive number, got {self.temperature!r}")
        for field_name in ("supervision_weight", "commitment"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"slots.{field_name} must be a number >= 0, got {value!r}")
        if self.entity_names is not None:
            names = self.entity_names
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                raise ConfigError(f"slots.entity_names must be a list of non-empty strings, got {names!r}")
            if len(set(names)) != len(names):
                raise ConfigError("slots.entity_names has duplicate names; each codebook row needs its own")
            if len(names) > self.n_entities:
                raise ConfigError(
                    f"slots.entity_names lists {len(names)} entities but the codebook has n_entities="
                    f"{self.n_entities} rows; raise n_entities to at least {len(names)}"
                )

    def slot_dim(self, d_model: int) -> int:
        return self.dim if self.dim is not None else max(1, d_model // 4)


@dataclass
class MemoryReaderConfig(FeatureConfig):
    """Episodic-memory reader and writer (see ``neurosym.layers.memory_reader``).

    ``layers`` are the blocks that read memory (None: every block). The writer runs
    the first ``write_layer + 1`` blocks over each context sentence on its own, pools
    the states (``pool``: ``"mean"`` or ``"last"``) and projects them to a key of
    ``key_dim`` and a value of ``d_model``. A reader retrieves the ``top_k`` events
    with the best ``cos(query, key) + recency_weight * 2 ** (-(now - time) /
    recency_half_life)``, the score :meth:`neurosym.memory.EpisodicMemory.search`
    uses, and attends to their values plus a ``time_dim``-wide sinusoidal embedding
    of their age. ``window_sentences`` last context sentences also stay in the token
    window; the rest reach the model through memory only. ``max_events`` caps the
    sentences written per example (the latest are kept).
    """

    name: ClassVar[str] = "memory"
    top_k: int = 8
    key_dim: int = 64
    time_dim: int = 16
    write_layer: int = 1
    pool: str = "mean"
    recency_weight: float = 1.0
    recency_half_life: float = 16.0
    window_sentences: int = 0
    max_events: int = 4096

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        for field_name in ("top_k", "key_dim", "time_dim", "max_events"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"memory.{field_name} must be a positive integer, got {value!r}")
        if self.time_dim % 2:
            raise ConfigError(f"memory.time_dim must be even (sine and cosine pairs), got {self.time_dim}")
        if not isinstance(self.write_layer, int) or not 0 <= self.write_layer < config.n_layers:
            raise ConfigError(
                f"memory.write_layer={self.write_layer!r} must be a block index in 0..{config.n_layers - 1}"
            )
        if self.pool not in ("mean", "last"):
            raise ConfigError(f"memory.pool={self.pool!r} is unknown; valid pools: mean, last")
        if not isinstance(self.window_sentences, int) or self.window_sentences < 0:
            raise ConfigError(f"memory.window_sentences must be an integer >= 0, got {self.window_sentences!r}")
        if not self.recency_half_life > 0 or self.recency_weight < 0:
            raise ConfigError(
                f"memory.recency_half_life must be > 0 and memory.recency_weight >= 0, got "
                f"{self.recency_half_life!r} and {self.recency_weight!r}"
            )


KNNIndexKind = Literal["exact", "hnsw", "ivf"]
KNN_INDEX_KINDS: tuple[str, ...] = get_args(KNNIndexKind)
KNNTail = Literal["none", "taylor"]
KNN_TAILS: tuple[str, ...] = get_args(KNNTail)


@dataclass
class KNNAttentionConfig(FeatureConfig):
    """Top-k plus local-window attention (see ``neurosym.layers.knn_attention``).

    Each query attends to the ``window`` most recent keys (itself included) and to the
    ``k`` best-scoring older keys. Decoding finds those in a faiss index of kind
    ``index`` per layer, sequence and head: ``exact`` (flat inner product), ``hnsw``
    (graph with ``hnsw_m`` links, searched with ``ef_search``) or ``ivf`` (inverted
    lists: ``ivf_nlist`` cells, trained once the cache contains ``ivf_nlist * 39``
    keys, of which ``ivf_nprobe`` are searched, with a flat index until then). ``tail`` adds
    the keys neither retrieved nor in the window: ``none`` drops them, ``taylor``
    weighs them by a second-order Taylor expansion of exp around their mean key,
    kept as running moments so that decoding cost stays independent of the context.
    """

    name: ClassVar[str] = "knn_attention"
    k: int = 32
    window: int = 64
    index: KNNIndexKind = "exact"
    hnsw_m: int = 16
    ef_search: int = 64
    ivf_nlist: int = 64
    ivf_nprobe: int = 8
    tail: KNNTail = "none"

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        for field_name in ("k", "hnsw_m", "ef_search", "ivf_nlist", "ivf_nprobe"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"knn_attention.{field_name} must be a positive integer, got {value!r}")
        if not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"knn_attention.window must be an integer >= 1 (the query itself), got {self.window!r}")
        if self.index not in KNN_INDEX_KINDS:
            raise ConfigError(f"unknown knn_attention.index {self.index!r}; valid kinds: {', '.join(KNN_INDEX_KINDS)}")
        if self.tail not in KNN_TAILS:
            raise ConfigError(f"unknown knn_attention.tail {self.tail!r}; valid values: {', '.join(KNN_TAILS)}")


KNNMLPBackend = Literal["exact", "product_keys", "faiss"]
KNN_MLP_BACKENDS: tuple[str, ...] = get_args(KNNMLPBackend)


@dataclass
class KNNMLPConfig(FeatureConfig):
    """ReLU MLP that computes only its top-k neurons (see ``neurosym.layers.knn_mlp``).

    Give ``k`` (neurons per token) or ``fraction`` (of the hidden width; used when
    ``k`` is None). ``backend`` picks how inference finds them: ``exact`` scores every
    neuron, ``faiss`` searches an HNSW index over the rows of W_in (the reference), and
    ``product_keys`` stores W_in as two sub-key tables of ``sqrt(d_ff)`` rows each
    (Lample et al. 2019) so that the exact top-k costs O(sqrt(d_ff) d + k log k).
    The product-key back-end needs ``d_ff`` to be a perfect square and its own weights (no dense ``up``).
    Training always uses exact top-k masking. The blocks it applies to use a ReLU MLP
    whatever ``ModelConfig.mlp`` sets, so that the retrieved neurons are the active
    ones; a SwiGLU checkpoint therefore does not load into them.
    """

    name: ClassVar[str] = "knn_mlp"
    k: int | None = None
    fraction: float = 0.1
    backend: KNNMLPBackend = "exact"
    hnsw_m: int = 32
    ef_search: int = 128

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        if self.k is not None and (not isinstance(self.k, int) or self.k <= 0):
            raise ConfigError(f"knn_mlp.k must be a positive integer or None, got {self.k!r}")
        if self.k is None and not 0.0 < self.fraction <= 1.0:
            raise ConfigError(f"knn_mlp.fraction must be in (0, 1], got {self.fraction!r}")
        if self.backend not in KNN_MLP_BACKENDS:
            raise ConfigError(f"unknown knn_mlp.backend {self.backend!r}; valid backends: {', '.join(KNN_MLP_BACKENDS)}")
        if self.backend == "product_keys":
            side = int(round(config.hidden_dim ** 0.5))
            if side * side != config.hidden_dim:
                raise ConfigError(
                    f"knn_mlp backend product_keys needs d_ff to be a perfect square, got {config.hidden_dim}; "
                    f"set d_ff={side * side} or {(side + 1) ** 2}"
                )

    def neurons(self, hidden: int) -> int:
        """Neurons kept per token for an MLP of ``hidden`` neurons."""
        if self.k is not None:
            return min(self.k, hidden)
        return max(1, min(hidden, int(round(self.fraction * hidden))))


ExitCriterion = Literal["max_prob", "entropy"]
EXIT_CRITERIA: tuple[str, ...] = get_args(ExitCriterion)


@dataclass
class EarlyExitConfig(FeatureConfig):
    """Shared output head after chosen layers with a confidence rule (see ``neurosym.layers.routing``).

    ``layers`` lists the blocks after which a token may exit (None: every block). The
    last block always ends in the final norm and LM head, which is its exit. At
    inference a token stops when its confidence exceeds ``threshold``. The confidence
    is the top probability (``max_prob``) or one minus the entropy divided by log V
    (``entropy``). Both lie in [0, 1], so a threshold of 1.0 never exits.
    Training adds ``loss_weight`` times the exit losses, weighted by layer depth, as
    the auxiliary loss ``early_exit``.
    """

    name: ClassVar[str] = "early_exit"
    threshold: float = 0.9
    criterion: ExitCriterion = "max_prob"
    loss_weight: float = 1.0

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        if not isinstance(self.threshold, (int, float)) or not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"early_exit.threshold must be in [0, 1] (1.0 never exits), got {self.threshold!r}")
        if self.criterion not in EXIT_CRITERIA:
            raise ConfigError(
                f"unknown early_exit.criterion {self.criterion!r}; valid criteria: {', '.join(EXIT_CRITERIA)}"
            )
        if not isinstance(self.loss_weight, (int, float)) or self.loss_weight < 0:
            raise ConfigError(f"early_exit.loss_weight must be >= 0, got {self.loss_weight!r}")

    def exit_layers(self, n_layers: int) -> list[int]:
        """Return the blocks followed by an exit head, in order.

        The last block always ends in the final norm and LM head, so listing it adds no head.
        """
        layers = self.layers if self.layers is not None else range(n_layers - 1)
        return sorted(i for i in set(layers) if i < n_layers - 1)


@dataclass
class MixtureOfDepthsConfig(FeatureConfig):
    """Per-block router over a capacity fraction of tokens (see ``neurosym.layers.routing``)."""

    name: ClassVar[str] = "mixture_of_depths"
    capacity: float = 0.125
    predictor_weight: float = 1.0

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        if not isinstance(self.capacity, (int, float)) or not 0.0 < self.capacity <= 1.0:
            raise ConfigError(f"mixture_of_depths.capacity must be in (0, 1] (1.0 is dense), got {self.capacity!r}")
        if not isinstance(self.predictor_weight, (int, float)) or self.predictor_weight < 0:
            raise ConfigError(f"mixture_of_depths.predictor_weight must be >= 0, got {self.predictor_weight!r}")


@dataclass
class SkipLayerConfig(FeatureConfig):
    """Static or predicted skipping of whole blocks (see ``neurosym.layers.routing``)."""

    name: ClassVar[str] = "skip_layers"
    static: list[int] = dataclasses.field(default_factory=list)
    dynamic: bool = True
    similarity: float = 0.995

    def check(self, config: ModelConfig) -> None:
        super().check(config)
        if not isinstance(self.static, list) or not all(isinstance(i, int) for i in self.static):
            raise ConfigError(f"skip_layers.static must be a list of block indices, got {self.static!r}")
        bad = [i for i in self.static if not 0 <= i < config.n_layers]
        if bad:
            raise ConfigError(f"skip_layers.static has indices {bad} outside 0..{config.n_layers - 1}")
        if len(set(self.static)) >= config.n_layers:
            raise ConfigError("skip_layers.static skips every block; keep at least one")
        if not isinstance(self.similarity, (int, float)) or not 0.0 < self.similarity <= 1.0:
            raise ConfigError(f"skip_layers.similarity must be in (0, 1], got {self.similarity!r}")
        if not self.static and not self.dynamic:
            raise ConfigError("skip_layers does nothing: give a static list of blocks or set dynamic=true")

    def skips_statically(self, layer: int) -> bool:
        return layer in self.static

    def skips_dynamically(self, layer: int) -> bool:
        """Dynamic skipping needs the previous block's change, so block 0 is never skipped this way."""
        return self.dynamic and layer > 0 and self.applies_to(layer)


FEATURES: dict[str, type[FeatureConfig]] = {
    "slots": SlotsConfig,
    "memory": MemoryReaderConfig,
    "knn_attention": KNNAttentionConfig,
    "knn_mlp": KNNMLPConfig,
    "early_exit": EarlyExitConfig,
    "mixture_of_depths": MixtureOfDepthsConfig,
    "skip_layers": SkipLayerConfig,
}


@dataclass
class ModelConfig:
    """Size and shape of a :class:`~neurosym.model.TransformerPlus`.

    The baseline is a pre-norm decoder: RMSNorm, rotary position embeddings,
    causal attention and a SwiGLU (or ReLU) MLP, with tied input/output embeddings.
    """

    vocab_size: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int | None = None  # hidden width of the MLP; None means 4 * d_model (8/3 for SwiGLU)
    max_seq_len: int = 512
    mlp: MLPKind = "swiglu"
    dropout: float = 0.0
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    tie_embeddings: bool = True
    # optional features: None means off (see FEATURES)
    slots: SlotsConfig | None = None
    memory: MemoryReaderConfig | None = None
    knn_attention: KNNAttentionConfig | None = None
    knn_mlp: KNNMLPConfig | None = None
    early_exit: EarlyExitConfig | None = None
    mixture_of_depths: MixtureOfDepthsConfig | None = None
    skip_layers: SkipLayerConfig | None = None

    def __post_init__(self) -> None:
        positive = ("vocab_size", "d_model", "n_layers", "n_heads", "max_seq_len")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"ModelConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"ModelConfig.d_model={self.d_model} is not divisible by n_heads={self.n_heads}"
            )
        if self.head_dim % 2:
            raise ConfigError(f"head dimension d_model/n_heads={self.head_dim} must be even for RoPE")
        if self.mlp not in MLP_KINDS:
            raise ConfigError(f"unknown mlp kind {self.mlp!r}; valid kinds: {', '.join(MLP_KINDS)}")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or self.d_ff <= 0):
            raise ConfigError(f"ModelConfig.d_ff must be a positive integer or None, got {self.d_ff!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout}")
        for name, kind in FEATURES.items():
            feature = getattr(self, name)
            if isinstance(feature, dict):  # accept plain dicts, as from JSON
                feature = _feature_from_dict(kind, feature)
                setattr(self, name, feature)
            if feature is not None:
                if not isinstance(feature, kind):
                    raise ConfigError(f"ModelConfig.{name} must be a {kind.__name__} or None, got {feature!r}")
                feature.check(self)

    def enabled_features(self) -> list[str]:
        """Names of the optional features that are on."""
        return [name for name in FEATURES if getattr(self, name) is not None]

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """MLP hidden width; the SwiGLU default keeps the parameter count of a 4x ReLU MLP."""
        if self.d_ff is not None:
            return self.d_ff
        if self.mlp == "swiglu":
            return _round_up(int(8 * self.d_model / 3), 32)
        return 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ModelConfig:
        """Build a config from a dict; unknown keys raise ConfigError naming them."""
        if not isinstance(record, dict):
            raise ConfigError(f"a model config must be a JSON object, got {type(record).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ConfigError(f"unknown ModelConfig field(s) {unknown}; valid fields: {sorted(known)}")
        try:
            return cls(**record)
        except TypeError as exc:
            raise ConfigError(f"invalid model config: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config is not valid JSON: {exc}") from exc
        return cls.from_dict(record)


PRESETS: dict[str, dict[str, Any]] = {
    # sized for CPU training: parameters excluding embeddings are about 0.8M, 4.7M and 25M
    "tiny": {"d_model": 128, "n_layers": 4, "n_heads": 4},
    "small": {"d_model": 256, "n_layers": 6, "n_heads": 8},
    "base": {"d_model": 512, "n_layers": 8, "n_heads": 8},
}


def preset(name: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    """Return the config of a named preset; an unknown name raises ConfigError."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return ModelConfig(vocab_size=vocab_size, **{**PRESETS[name], **overrides})


def _feature_from_dict(kind: type[FeatureConfig], record: dict[str, Any]) -> FeatureConfig:
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise ConfigError(f"unknown {kind.name} field(s) {unknown}; valid fields: {sorted(known)}")
    try:
        return kind(**record)
    except TypeError as exc:
        raise ConfigError(f"invalid {kind.name} config: {exc}") from exc


def _round_up(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple
