"""Static checks of the per-rule conda environments (conda channels are not reachable here).

Every rule that runs something names an env file in envs/; each env parses, is pinned and uses
conda-forge + bioconda; every module a rule's script imports (following imports into popcen/ transitively)
and every command-line tool it calls is provided by that rule's env; versions agree with requirements.txt.
Rules are read by Snakemake itself (popcen.workflow_rules), so rules added later are checked as they land.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from popcen.workflow_rules import workflow_rules
from tests.conftest import ROOT

SCRIPTS = ROOT / "workflow" / "scripts"

# import name -> conda package that provides it (when they differ)
CONDA_PACKAGE = {
    "sklearn": "scikit-learn",
    "allel": "scikit-allel",
    "yaml": "pyyaml",
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
    "umap": "umap-learn",
    "PIL": "pillow",
    "Bio": "biopython",
    "skimage": "scikit-image",
    "google": "protobuf",
}
# conda package -> pip distribution in requirements.txt (when they differ)
PIP_NAME = {"pytorch": "torch", "matplotlib-base": "matplotlib", "pyyaml": "pyyaml"}
# Packages a listed package always brings along (its hard dependencies), so an env need not repeat them.
IMPLIED = {
    "scikit-learn": {"joblib", "threadpoolctl", "scipy", "numpy"},
    "pandas": {"numpy", "python-dateutil"},
    "scikit-allel": {"numpy", "dask"},
    "zarr": {"numcodecs", "numpy"},
    "matplotlib-base": {"numpy", "pillow"},
    "stdpopsim": {"msprime", "tskit"},
    "msprime": {"tskit"},
    "shap": {"tqdm", "numba", "scikit-learn", "joblib"},
    "umap-learn": {"numba", "pynndescent", "scikit-learn", "joblib"},
    "pytorch": {"numpy"},
    "bcftools": {"htslib"},
    "samtools": {"htslib"},
}
# command-line tools called from Python (a string literal equal to the name) -> conda package
TOOLS = {
    "bedtools": "bedtools",
    "bcftools": "bcftools",
    "samtools": "samtools",
    "tabix": "htslib",
    "bgzip": "htslib",
    "plink2": "plink2",
}
# Imported but not needed in the env: injected by Snakemake's script preamble, or the project itself.
NOT_PACKAGES = {"snakemake", "popcen", "__future__"}


RULES = workflow_rules(ROOT)
RUNNING = sorted(name for name, rule in RULES.items() if rule.runs)


def env_files() -> list[Path]:
    return sorted((ROOT / "envs").glob("*.yaml"))


@cache
def read_env(path: Path) -> dict[str, str | None]:
    """conda package -> pinned version (None when unpinned) of an env file, pip entries included."""
    env = yaml.safe_load(path.read_text())
    packages = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                name, _, version = (
                    re.split(r"(==)", pip_dep, maxsplit=1) if "==" in pip_dep else (pip_dep, "", "")
                )
                packages[name.strip().lower()] = version.strip() or None
            continue
        name, _, version = dep.partition("=")
        packages[name.split("::")[-1].strip().lower()] = version.split("=")[0].strip() or None
    return packages


def provided(env: dict[str, str | None]) -> set[str]:
    have = set(env)
    for pkg in list(have):
        have |= IMPLIED.get(pkg, set())
    return have


def module_file(module: str) -> Path | None:
    """The file of a popcen module (package __init__ or module .py), None when it is not ours."""
    base = SCRIPTS.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(popcen modules, third-party top-level names, tool names) that the file's code imports or calls."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(SCRIPTS).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0]
    else:
        package = package.rsplit(".", 1)[0] if "." in package else ""
    ours, external, tools = set(), set(), set()

    def add(module: str) -> None:
        if module.split(".")[0] == "popcen":
            parts = module.split(".")
            ours.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        else:
            external.add(module.split(".")[0])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside popcen
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            add(module)
            for alias in node.names:  # `from popcen import plots` imports a submodule
                if module_file(f"{module}.{alias.name}"):
                    add(f"{module}.{alias.name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TOOLS:
            tools.add(node.value)
    return ours, external, tools


@cache
def requirements_of_script(script: Path) -> tuple[frozenset[str], frozenset[str]]:
    """Third-party import names and tools of a script and, transitively, of every popcen module it uses."""
    seen, todo = set(), [script]
    external, tools = set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        ours, ext, used_tools = imports_of(path)
        external |= ext
        tools |= used_tools
        todo.extend(f for m in ours if (f := module_file(m)) is not None)
    stdlib = set(sys.stdlib_module_names)
    return frozenset(external - stdlib - NOT_PACKAGES), frozenset(tools)


def requirements_txt() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    # torch is pinned in the Makefile (installed first, before requirements.txt)
    if m := re.search(r"torch==([\w.]+)", (ROOT / "Makefile").read_text()):
        pins["torch"] = m.group(1)
    return pins


def test_rule_reader_finds_the_spine_rules():
    assert {"vcf_to_zarr", "variant_qc", "ld_prune", "assemble_features"} <= set(RUNNING)
    assert "bcftools view" in RULES["sgdp_vcf"].shell and "tabix" in RULES["sgdp_vcf"].shell
    assert RULES["ld_prune"].conda == "../envs/genotypes.yaml"
    assert RULES["ld_prune"].script == "../workflow/scripts/ld_prune.py"
    assert RULES["ld_prune"].stage == "genotypes"
    assert RULES["train_cec"].benchmark.match("results/demo/benchmarks/train_cec/pop.tsv")["level"] == "pop"
    assert not RULES["all"].runs


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_parses_and_is_pinned(path):
    env = yaml.safe_load(path.read_text())
    assert set(env) <= {"name", "channels", "dependencies"}, f"{path.name}: unexpected keys {set(env)}"
    assert env["channels"][:2] == ["conda-forge", "bioconda"], (
        f"{path.name}: channels must be conda-forge, bioconda"
    )
    packages = read_env(path)
    unpinned = sorted(name for name, version in packages.items() if not version)
    assert not unpinned, f"{path.name}: unpinned packages {unpinned}"
    assert "python" in packages


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_versions_agree_with_requirements(path):
    pins = requirements_txt()
    mismatches = []
    for name, version in read_env(path).items():
        pip_name = PIP_NAME.get(name, name)
        if pip_name in pins and pins[pip_name] != version:
            mismatches.append(f"{name}={version} but requirements pin {pip_name}=={pins[pip_name]}")
    assert not mismatches, f"{path.name}: {mismatches}"


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_torch_envs_can_use_a_gpu(path):
    """No CPU-only PyTorch: conda-forge's pytorch picks its CUDA build on a node with a GPU driver."""
    text = path.read_text()
    packages = read_env(path)
    if "pytorch" not in packages and "torch" not in packages:
        pytest.skip("no PyTorch in this env")
    assert "cpuonly" not in packages and not re.search(r"pytorch=[\w.]+=\S*cpu", text), path.name
    assert "pytorch::" not in text, "the pytorch channel stopped publishing conda packages; use conda-forge"


@pytest.mark.parametrize("rule", RUNNING)
def test_rule_names_an_existing_env(rule):
    info = RULES[rule]
    assert info.conda, f"rule {rule} ({info.file.name}) has no conda: directive"
    env = (info.file.parent / info.conda).resolve()
    assert env.is_file(), f"rule {rule}: conda env {info.conda} does not exist"
    assert env.parent == ROOT / "envs", f"rule {rule}: env files live in envs/"


@pytest.mark.parametrize("rule", RUNNING)
def test_env_provides_what_the_script_imports(rule):
    info = RULES[rule]
    if info.shell and info.conda:
        env_path = (info.file.parent / info.conda).resolve()
        used = {t for t in TOOLS if re.search(rf"(?<![\w/.-]){t}\b", info.shell)}
        missing = sorted({TOOLS[t] for t in used} - provided(read_env(env_path)))
        assert not missing, f"rule {rule}: {env_path.name} lacks {missing} (called by its shell command)"
        return
    if not info.script or not info.conda:
        pytest.skip(f"rule {rule} runs neither a script nor a shell command")
    script = (info.file.parent / info.script).resolve()
    env_path = (info.file.parent / info.conda).resolve()
    assert script.is_file(), f"rule {rule}: script {info.script} does not exist"
    assert env_path.is_file(), f"rule {rule}: conda env {info.conda} does not exist"
    modules, tools = requirements_of_script(script)
    have = provided(read_env(env_path))
    missing = sorted({CONDA_PACKAGE.get(m, m).lower() for m in modules} - have)
    missing += sorted({TOOLS[t] for t in tools} - have)
    assert not missing, (
        f"rule {rule}: {env_path.name} lacks {missing} (imported/called by {script.name} or popcen)"
    )


def test_import_analysis_follows_popcen_transitively(tmp_path):
    """The analysis itself: a script -> popcen module -> relative import -> third-party module and tool."""
    modules, tools = requirements_of_script(SCRIPTS / "assemble_features.py")
    assert "zarr" in modules and "numpy" in modules and "os" not in modules and "popcen" not in modules
    ours, external, tools = imports_of(SCRIPTS / "popcen" / "pipeline" / "__init__.py")
    assert "popcen.errors" in ours and not external - set(sys.stdlib_module_names) - {"__future__"}
