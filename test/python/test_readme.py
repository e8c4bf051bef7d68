"""Runs the README's pymilvus quick start as written against Kite standalone.

Every ```python block preceded by the line MARKER in README.md is run, in order, in a fresh Python process of this
virtualenv, after one rewrite: its `uri` line's address (README_URI, where `make run` listens) becomes the address of
the test session's server. A block must end within BLOCK_TIMEOUT_S and exit 0 (its own asserts check the answers).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- tested: test/python/test_readme.py -->"
README_URI_LINE = 'client = MilvusClient(uri="http://127.0.0.1:19530")'
BLOCK_TIMEOUT_S = 300


def readme_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(re.escape(MARKER) + r"\n```python\n(.*?)^```", text, re.S | re.M)


def test_readme_has_a_tested_python_block():
    blocks = readme_blocks()
    assert blocks, f"README.md has no ```python block right after the line {MARKER!r}"
    for block in blocks:
        assert block.count(README_URI_LINE) == 1, (
            f"each tested README block must connect with exactly one line {README_URI_LINE!r} "
            "(the test points it at its own server)"
        )


def test_readme_python_blocks_run_against_kite(kite_server):
    blocks = readme_blocks()
    assert blocks
    for i, block in enumerate(blocks):
        code = block.replace(README_URI_LINE, f'client = MilvusClient(uri="{kite_server.uri}")')
        try:
            run = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as err:
            raise AssertionError(f"README python block {i + 1} did not end within {BLOCK_TIMEOUT_S} s") from err
        assert run.returncode == 0, (
            f"README python block {i + 1} exited with {run.returncode}\n"
            f"--- stdout ---\n{run.stdout}\n--- stderr ---\n{run.stderr}"
        )
