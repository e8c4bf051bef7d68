"""Packages some tests need beyond pymilvus (milvus-lite, LangChain, LlamaIndex), installed by scripts/test-python.sh
from test/python/requirements-<name>.txt. Where pip could not install one, the script keeps pip's output in
<venv>/.install-errors/<name>.txt and the tests that need it skip with a message naming the package and that error,
never silently."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest


def install_error(name: str) -> str | None:
    """pip's output from the last failed install of requirements-<name>.txt in this virtualenv, if any."""
    path = Path(sys.prefix) / ".install-errors" / f"{name}.txt"
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None
    return text[-2000:] if text else None


def require(name: str, *modules: str) -> list[ModuleType]:
    """Imports `modules` (from test/python/requirements-<name>.txt); skips the calling module's tests, naming the
    package set and pip's error, when one cannot be imported."""
    loaded = []
    for module in modules:
        try:
            loaded.append(importlib.import_module(module))
        except ImportError as err:
            pip_error = install_error(name)
            reason = (
                f"pip could not install test/python/requirements-{name}.txt:\n{pip_error}"
                if pip_error
                else f"test/python/requirements-{name}.txt is not installed in {sys.prefix} (scripts/test-python.sh "
                f"installs it)"
            )
            pytest.skip(f"{name}: cannot import {module} ({err}); {reason}", allow_module_level=True)
    return loaded
