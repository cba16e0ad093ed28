"""The settings of benchmarks/clustering.py and benchmarks/classification.py: a pipeline config, loaded and
validated as the Snakefile does it, and the params each rule of ``rules/*.smk`` gives its function, built
from it. A helper, not a benchmark (``run_all.sh`` skips ``_*.py``).

A benchmark measures what a config file asks for (``--configfile``, ``config/1kg.yaml`` unless given), with
single keys changed by ``--set section.key=value``, so that its settings and the pipeline's cannot drift.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))

BASE_CONFIG = ROOT / "config" / "config.yaml"  # the Snakefile's `configfile:`
DEFAULT_CONFIGFILE = ROOT / "config" / "1kg.yaml"
SCHEMAS = ROOT / "config" / "schemas"
# The sections rules/common.smk validates, in its order (after config.schema.yaml, as the Snakefile).
SECTIONS = (
    "training",
    "representation",
    "clustering",
    "classification",
    "explain",
    "introgression",
    "downloads",
)
# YAML 1.1 (PyYAML) reads 1e-4 as a string; a --set value of that form is meant as a number.
_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--configfile`` (repeatable) and ``--set`` (repeatable)."""
    parser.add_argument(
        "--configfile",
        type=Path,
        action="append",
        metavar="YAML",
        help="config merged key by key over config/config.yaml, as `snakemake --configfile`; repeat to "
        "merge several in order (default: config/1kg.yaml; give it too when adding a second file)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="set one config key after the files, by its dotted path, the value read as YAML, e.g. "
        "--set clustering.alpha=1.0, --set clustering.levels={}, --set representation.max_variants=0 "
        "(repeatable)",
    )


def parse_override(text: str) -> tuple[list[str], object]:
    """``'clustering.levels.pop.alpha=1.0'`` -> (['clustering', 'levels', 'pop', 'alpha'], 1.0)."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise SystemExit(f"--set {text!r}: expected section.key=value")
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str) and _EXPONENT.match(value.strip()):
        value = float(value)
    return path.strip().split("."), value


def set_key(config: dict, path: list[str], value) -> None:
    """``config[path[0]]...[path[-1]] = value``, creating the sections on the way."""
    node = config
    for i, key in enumerate(path[:-1]):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SystemExit(f"--set {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a section")
    node[path[-1]] = value


def load_config(configfiles: list[Path] | None = None, overrides: list[str] = ()) -> dict:
    """config/config.yaml, the ``configfiles`` merged over it in order (``[config/1kg.yaml]`` when None), the
    ``overrides`` (``--set`` strings) set on top; validated with the project's schemas, defaults filled,
    as the Snakefile and rules/common.smk do before any job starts."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import update_config

    from popcen.configcheck import validate_config

    config = yaml.safe_load(BASE_CONFIG.read_text())
    for path in configfiles or [DEFAULT_CONFIGFILE]:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    for text in overrides:
        set_key(config, *parse_override(text))
    try:
        validate_config(config, SCHEMAS / "config.schema.yaml")
        for section in SECTIONS:
            validate_config(config, SCHEMAS / f"{section}.schema.yaml")
    except WorkflowError as error:
        raise SystemExit(f"invalid config: {error}") from None
    return config


def config_from_args(args: argparse.Namespace, *overrides: str) -> dict:
    """The config of a benchmark's ``--configfile`` and ``--set`` arguments, ``overrides`` set last (a
    benchmark's own flags that choose a config key, such as its repeat's seed)."""
    return load_config(args.configfile, [*args.overrides, *overrides])


# ----------------------------------------------------------------------- the rules' params (rules/*.smk)
def keys(section: dict, *names: str) -> dict:
    """Only the named keys of a config section (rules/common.smk)."""
    return {name: section[name] for name in names if name in section}


def drop(section: dict, *names: str) -> dict:
    """A config section without the named keys (rules/common.smk)."""
    return {k: v for k, v in section.items() if k not in names}


def train_cae_params(config: dict, label_columns: list[str], checkpoint_dir: Path) -> dict:
    """rules/representation.smk, rule train_cae."""
    return {
        "training": config["training"],
        "representation": config["representation"],
        "label_columns": label_columns,
        "device": config["device"],
        "checkpoint_dir": checkpoint_dir,
    }


def train_cec_params(config: dict, level: str, checkpoint_dir: Path) -> dict:
    """rules/clustering.smk, rule train_cec: CEC's keys and this level's override only."""
    clustering = config["clustering"]
    return {
        "training": config["training"],
        "clustering": {
            **drop(
                clustering,
                "levels",
                "min_samples",
                "pca_components",
                "k_max",
                "k_sweep_epochs",
                "tsne_perplexity",
            ),
            "levels": keys(clustering.get("levels", {}), level),
        },
        "device": config["device"],
        "checkpoint_dir": checkpoint_dir,
    }


def cluster_baselines_params(config: dict) -> dict:
    """rules/clustering.smk, rule cluster_baselines."""
    return {
        "min_samples": config["clustering"]["min_samples"],
        "pca_components": config["clustering"]["pca_components"],
        "seed": config["training"]["seed"],
    }


def classification_folds_params(config: dict, label_column: str) -> dict:
    """rules/classification.smk, rule classification_folds (``label_column``: the cohort's fine level)."""
    return {
        "label_column": label_column,
        "n_folds": config["classification"]["n_folds"],
        "seed": config["classification"]["fold_seed"],
    }


def classifier_training(config: dict) -> dict:
    """rules/classification.smk's CLASSIFIER_TRAINING: the classification keys other than the fold and
    prediction keys, the ``training`` param of train_classifier and evaluate_classifier."""
    return drop(config["classification"], "n_folds", "fold_seed", "min_overlap", "strand_ambiguous")


def classifier_params(config: dict, label_columns: list[str]) -> dict:
    """rules/classification.smk, rules train_classifier and evaluate_classifier."""
    return {
        "label_columns": label_columns,
        "training": classifier_training(config),
        "device": config["device"],
    }
