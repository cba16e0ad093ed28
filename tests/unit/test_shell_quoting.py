"""Shell hygiene: every ``shell:`` of the workflow quotes what it interpolates ({input:q}, {output:q},
{log:q}, {params.x:q}, {wildcards.x:q}), so that a path with a space, a quote or ``$(...)`` is one word and
never runs. Checked on the commands as Snakemake reads them, then by running sgdp_vcf's command formatted by
Snakemake's own formatter on paths built to break an unquoted one."""

from __future__ import annotations

import shutil
import string
import subprocess

import pytest

from popcen.workflow_rules import workflow_rules
from tests.conftest import ROOT

RULES = workflow_rules(ROOT)
SHELLS = {name: rule.shell for name, rule in RULES.items() if rule.shell}
PATHLIKE = ("input", "output", "log", "params", "wildcards")  # {threads}, {resources.x} are numbers

HOSTILE = "it's a dir $(touch PWNED) `touch PWNED2` $HOME"


def unquoted_fields(command: str) -> list[str]:
    """The ``{field}`` placeholders of a shell command that interpolate a path-like value without ``:q``."""
    out = []
    for _, field, spec, _ in string.Formatter().parse(command):
        if field is not None and field.split(".")[0].split("[")[0] in PATHLIKE and spec != "q":
            out.append("{" + field + (":" + spec if spec else "") + "}")
    return out


def test_the_checker_finds_an_unquoted_path():
    assert unquoted_fields("cp {input.a} {output:q} 2> {log}; echo {threads}") == ["{input.a}", "{log}"]
    assert unquoted_fields("cp {input.a:q} {output:q} 2> {log:q} -@ {threads}") == []


def test_the_workflow_has_shell_commands_to_check():
    assert "sgdp_vcf" in SHELLS  # were the rules read, the check below would otherwise pass on nothing


@pytest.mark.parametrize("rule", sorted(SHELLS))
def test_every_shell_command_quotes_its_paths(rule):
    assert unquoted_fields(SHELLS[rule]) == [], f"rule {rule}: quote with :q"


def _tiny_bcf(path):
    vcf = path.with_suffix(".vcf")
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=1000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n"
        "1\t10\trs1\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1\n"
        "1\t20\trs2\tC\tT\t.\tPASS\t.\tGT\t0|0\t0|1\n"
    )
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(path), str(vcf)], check=True)


@pytest.mark.skipif(not (shutil.which("bcftools") and shutil.which("tabix")), reason="needs bcftools, tabix")
def test_sgdp_vcf_command_runs_on_hostile_paths(tmp_path):
    from snakemake.iocontainers import Namedlist
    from snakemake.utils import format as snakemake_format

    folder = tmp_path / HOSTILE
    folder.mkdir()
    bcf = folder / "chr 1.bcf"
    _tiny_bcf(bcf)
    output = Namedlist(
        fromdict={"vcf": str(folder / "out 1.vcf.gz"), "tbi": str(folder / "out 1.vcf.gz.tbi")}
    )
    command = snakemake_format(
        SHELLS["sgdp_vcf"],
        input=Namedlist(fromdict={"bcf": str(bcf)}),
        output=output,
        log=Namedlist([str(folder / "log $USER.log")]),
    )
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob("PWNED*"))  # nothing in the path was executed
    assert (folder / "out 1.vcf.gz.tbi").exists() and (folder / "log $USER.log").exists()
    view = subprocess.run(
        ["bcftools", "query", "-f", "%POS\\n", output.vcf], capture_output=True, text=True, check=True
    )
    assert view.stdout.split() == ["10", "20"]
