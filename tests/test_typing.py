"""The package is the product's face: it type-checks under mypy --strict."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "vegafs"


def test_package_passes_mypy_strict():
    pytest.importorskip("mypy", reason="mypy is installed by ./scripts/test (Debian python3-mypy)")
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
                             "--no-incremental", str(PACKAGE)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
