"""Experiment tracking: TensorBoard event files beside ``metrics.jsonl`` when TensorBoard is installed.

Install it with ``pip install 'neurosym[tensorboard]'`` and view a run with
``tensorboard --logdir OUT/tensorboard``. Without it the JSON-lines log is the only
record, and one info line at start-up reports that.
"""

from __future__ import annotations

import importlib.util
import logging
from numbers import Real
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


class TensorBoardTracker:
    """Write every numeric metric of a record as a TensorBoard scalar at the record's step.

    The writer is opened at the first record, so a tracker that logs nothing leaves no
    folder behind.
    """

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer: Any = None
        self.enabled = tensorboard_available()
        if not self.enabled:
            logger.info("TensorBoard is not installed (pip install 'neurosym[tensorboard]'); "
                        "metrics go to metrics.jsonl only")

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled or "step" not in record:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        for key, value in record.items():
            if key != "step" and isinstance(value, Real) and not isinstance(value, bool):
                self._writer.add_scalar(key, float(value), global_step=int(record["step"]))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
