"""Config validation with a short message: which key, what it holds, what was expected.

Snakemake's ``validate`` fills in the schema defaults; its error dumps the whole schema and config. We call
it, and when it fails we re-run jsonschema to name the first offending key in one line.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"config key {where or '(top level)'}: {error.message}; allowed keys: {allowed}"
    expected = {
        k: v
        for k, v in error.schema.items()
        if k in ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "pattern")
    }
    desc = error.schema.get("description")
    return f"config key {where}: {error.message}; expected {expected}" + (
        f" ({' '.join(str(desc).split())})" if desc else ""
    )


def first_error(data, schema_path: str | Path) -> str | None:
    """One-line description of the first schema violation of ``data`` (a dict or a list of row dicts)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    records = data if isinstance(data, list) else [data]
    for i, record in enumerate(records):
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            msg = _describe(error)
            return f"row {i + 1}: {msg}" if isinstance(data, list) else msg
    return None


def validate_config(data, schema_path: str | Path) -> None:
    """Validate (filling defaults) with Snakemake; on failure raise a one-line WorkflowError."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(data, str(schema_path))
    except WorkflowError:
        records = data.to_dict("records") if hasattr(data, "to_dict") else data
        raise WorkflowError(
            first_error(records, schema_path) or f"invalid config (schema {schema_path})"
        ) from None


# Config keys that name files or folders (dotted; ``*`` stands for every entry of a mapping).
PATH_KEYS = (
    "cohorts",
    "results",
    "downloads.dir",
    "downloads.files.*.file",
    "introgression.map",
    "introgression.fasta",
    "introgression.genes",
)


def _values(config, dotted: str):
    """(key, value) of every string at a dotted key of ``config`` (``*``: every entry)."""
    head, _, rest = dotted.partition(".")
    if not isinstance(config, dict):
        return
    items = config.items() if head == "*" else [(head, config.get(head))]
    for key, value in items:
        if rest:
            yield from ((f"{key}.{k}", v) for k, v in _values(value, rest))
        elif isinstance(value, str):
            yield key, value


def check_config_paths(config: dict) -> None:
    """Refuse a configured path with ``$`` or braces (:func:`popcen.cohorts.path_problem`) in one line,
    before Snakemake meets it (as a literal ``$HOME`` folder, or as a wildcard: ``WildcardError 'HOME'``)."""
    from snakemake.exceptions import WorkflowError

    from popcen.cohorts import path_problem

    for dotted in PATH_KEYS:
        for key, value in _values(config, dotted):
            problem = path_problem(value)
            if problem:
                raise WorkflowError(f"config key {key}: {value!r} {problem}")
