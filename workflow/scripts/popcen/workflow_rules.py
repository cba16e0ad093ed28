"""The workflow's rules as Snakemake itself reads them: name, rule file, conda env, script, shell command and
benchmark path, for the static checks in ``tests/`` and the benchmarks that map benchmark files to rules.

Snakemake parses the Snakefile (with the project's own config), so nothing here re-reads ``.smk`` text and
a rule added later is seen as it lands. Runs only where Snakemake is installed (the driver's env).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class RuleInfo:
    name: str
    file: Path  # the rules/<stage>.smk (or the Snakefile) that defines the rule
    conda: str | None  # env file, relative to ``file``
    script: str | None  # script path, relative to ``file``
    shell: str | None  # the shell command as written
    benchmark: re.Pattern | None  # matches the rule's benchmark files, wildcards as named groups

    @property
    def stage(self) -> str:
        return self.file.stem

    @property
    def runs(self) -> bool:
        """Whether the rule runs anything (an aggregating rule such as ``all`` does not)."""
        return bool(self.script or self.shell)


@cache
def workflow_rules(root: Path) -> dict[str, RuleInfo]:
    """Every rule of the workflow at ``root`` (its Snakefile and default config), by name."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    root = Path(root).resolve()
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(),
            snakefile=root / "Snakefile",
            workdir=root,
        )._workflow
        return {
            rule.name: RuleInfo(
                name=rule.name,
                file=Path(rule.snakefile),
                conda=rule.conda_env,
                script=rule.script,
                shell=rule.shellcmd,
                benchmark=rule.benchmark.regex() if rule.benchmark else None,
            )
            for rule in workflow.rules
        }
