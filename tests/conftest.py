"""Shared fixtures: where the project and the real shared data are, and how to run snakemake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POPCEN_SHARED_DATA", ROOT.parent / "shared" / "data"))
KG_SUBSET = SHARED_DATA / "1kg_phase3_subset"
NEANDERTHAL = SHARED_DATA / "neanderthal"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def require_dir(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (set POPCEN_SHARED_DATA to point at shared/data)")
    return path


@pytest.fixture(scope="session")
def kg_subset() -> Path:
    return require_dir(KG_SUBSET)


@pytest.fixture(scope="session")
def neanderthal_data() -> Path:
    return require_dir(NEANDERTHAL)


def run_snakemake(args, cwd=ROOT, check=True, timeout=1200, env=None) -> subprocess.CompletedProcess:
    """Run snakemake from the project root; output is captured and shown when it fails."""
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), *map(str, args)]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n--- stdout\n{proc.stdout[-6000:]}"
            f"\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc
