"""neurosym: Transformer Plus models.

A Transformer backbone made cheaper by its own sparsity and smarter by symbols.

The torch-free subpackages (``neurosym.symbolic``, ``neurosym.memory``,
``neurosym.tasks``) import without torch. Python imports this file before any of
them, so the torch-based names below are resolved lazily on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY_NAMES = {
    "ModelConfig": "neurosym.config",
    "TransformerPlus": "neurosym.model",
    "ModelOutput": "neurosym.model",
    "Tokenizer": "neurosym.tokenizer",
    "Trainer": "neurosym.training",
    "TrainConfig": "neurosym.training",
    "evaluate": "neurosym.evaluation",
}

__all__ = sorted([*_LAZY_NAMES, "__version__"])


def __getattr__(name: str) -> Any:
    module_name = _LAZY_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'neurosym' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES))
