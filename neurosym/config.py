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

    ``layers`` lists the block indices the feature applies to; ``None`` means every
    block. A feature is off when its field in ModelConfig is ``None``.
    """

    name: ClassVar[str] = "feature"
    layers: list[int] | None = None

    def check(self, config: ModelConfig) -> None:
        """Raise ConfigError when the feature does not fit ``config``; subclasses extend it."""
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


@dataclass
class SlotsConfig(FeatureConfig):
    """Symbol slots bound to a discrete entity codebook (see ``neurosym.layers.slots``)."""

    name: ClassVar[str] = "slots"


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


@dataclass
class KNNAttentionConfig(FeatureConfig):
    """Top-k plus local-window attention (see ``neurosym.layers.knn_attention``)."""

    name: ClassVar[str] = "knn_attention"


@dataclass
class KNNMLPConfig(FeatureConfig):
    """MLP that computes only its top-k neurons (see ``neurosym.layers.knn_mlp``)."""

    name: ClassVar[str] = "knn_mlp"


@dataclass
class EarlyExitConfig(FeatureConfig):
    """Shared output head after chosen layers with a confidence rule (see ``neurosym.layers.routing``)."""

    name: ClassVar[str] = "early_exit"


@dataclass
class MixtureOfDepthsConfig(FeatureConfig):
    """Per-block router over a capacity fraction of tokens (see ``neurosym.layers.routing``)."""

    name: ClassVar[str] = "mixture_of_depths"


@dataclass
class SkipLayerConfig(FeatureConfig):
    """Static or predicted skipping of whole blocks (see ``neurosym.layers.routing``)."""

    name: ClassVar[str] = "skip_layers"


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
