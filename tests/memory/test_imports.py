"""Import hygiene: the memory package stays free of torch."""

from __future__ import annotations

import subprocess
import sys


def test_import_memory_leaves_torch_out():
    code = "import sys, neurosym.memory; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
