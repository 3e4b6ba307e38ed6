"""Code as it was at an earlier commit, for tests that compare today's numbers with those of before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def source_at(commit: str, path: str) -> str:
    """Return the text of ``path`` (from the repository's root) as of ``commit``; skip the calling test when
    git cannot show it (no git here, or a copy without that commit)."""
    try:
        return subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"git cannot show {path} as of commit {commit} here")
