"""Exception hierarchy shared by every neurosym package.

This module imports nothing, so the torch-free packages (``neurosym.symbolic``,
``neurosym.memory``, ``neurosym.tasks``) can derive their errors from it.
"""


class NeurosymError(Exception):
    """Base class of every error that neurosym raises on purpose."""


class TaskError(NeurosymError, ValueError):
    """A task name, task option or task data file is invalid."""


class DataError(NeurosymError):
    """A data set is missing, unreadable or malformed."""


class TokenizerError(NeurosymError, ValueError):
    """A tokenizer file or vocabulary is invalid."""


class CheckpointError(NeurosymError):
    """A checkpoint is missing, corrupt or does not match the requested config."""


class ConfigError(NeurosymError, ValueError):
    """A configuration value is invalid."""
