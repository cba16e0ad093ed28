"""The download rules through snakemake, against a local HTTP server on 127.0.0.1 only.

The project's `downloads.files` (real public addresses) are replaced in the test's config, so nothing but
the local server is ever contacted.
"""

from __future__ import annotations

import hashlib

import pytest
import yaml

from tests.conftest import TINY_DEMO, TINY_DEMO_COHORT, make_workdir, run_snakemake
from tests.unit.test_download import FileServer

pytestmark = pytest.mark.workflow

A, B = b"##fileformat=VCFv4.2\n" * 5000, b"contig b\n" * 3000


@pytest.fixture
def served(tmp_path):
    server = FileServer({"toy.a.vcf.gz": A, "toy.b.vcf.gz": B, "map.bed": b"chr1\t0\t10\n"})
    wd = make_workdir(tmp_path, TINY_DEMO, [TINY_DEMO_COHORT])
    config = yaml.safe_load((wd / "config/config.yaml").read_text())
    config["downloads"] = {
        "dir": "resources/public",
        "retries": 2,
        "timeout": 10,
        "files": {
            "toy": {
                "url": server.url("toy.{contig}.vcf.gz"),
                "contigs": ["a", "b"],
                "sha256": {"a": hashlib.sha256(A).hexdigest(), "b": None},
            },
            "tampered": {"url": server.url("map.bed"), "sha256": "0" * 64},
            "unknown": {"url": None, "file": "Akey_intr_coords.bed"},
        },
    }
    (wd / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    yield wd, server
    server.close()


def test_download_rule_verifies_and_resumes(served):
    wd, server = served
    out = wd / "resources/public/toy"
    out.mkdir(parents=True)
    (out / "toy.a.vcf.gz.part").write_bytes(A[:1000])  # an interrupted earlier run
    run_snakemake(
        [
            "--directory",
            wd,
            "--cores",
            "1",
            "resources/public/toy/toy.a.vcf.gz",
            "resources/public/toy/toy.b.vcf.gz",
        ]
    )
    assert (out / "toy.a.vcf.gz").read_bytes() == A and (out / "toy.b.vcf.gz").read_bytes() == B
    assert ("toy.a.vcf.gz", "bytes=1000-") in server.requests
    assert not list(out.glob("*.part"))
    a_sum, b_sum = (out / "toy.a.vcf.gz.sha256").read_text(), (out / "toy.b.vcf.gz.sha256").read_text()
    assert a_sum.startswith(f"{hashlib.sha256(A).hexdigest()}  toy.a.vcf.gz\n") and "verified" in a_sum
    assert b_sum.startswith(f"{hashlib.sha256(B).hexdigest()}  toy.b.vcf.gz\n") and "UNVERIFIED" in b_sum
    assert "UNVERIFIED download toy.b.vcf.gz" in (wd / "logs/downloads/toy/toy.b.vcf.gz.log").read_text()


def test_checksum_mismatch_fails_with_one_line_and_no_output(served):
    wd, _ = served
    proc = run_snakemake(
        ["--directory", wd, "--cores", "1", "resources/public/tampered/map.bed"], check=False
    )
    assert proc.returncode != 0
    assert (
        f"popcen error in rule download: {served[1].url('map.bed')}: sha256 mismatch: expected {'0' * 64}"
        in proc.stderr
    )
    assert not (wd / "resources/public/tampered").exists() or not any(
        (wd / "resources/public/tampered").iterdir()
    )


def test_entry_without_address_says_so(served):
    wd, _ = served
    proc = run_snakemake(
        ["--directory", wd, "--cores", "1", "resources/public/unknown/Akey_intr_coords.bed"], check=False
    )
    assert proc.returncode != 0
    assert "config downloads.files.unknown.url is not set" in proc.stderr


def test_1kg_config_dry_run_downloads_then_runs_per_contig(tmp_path):
    """docs/cluster.md's 1000 Genomes command, dry-run only (nothing is fetched): 22 VCFs and the panel are
    downloaded on first use, then every genotype stage runs once per chromosome."""
    from tests.conftest import ROOT

    wd = make_workdir(tmp_path)
    for name in ("1kg.yaml", "cohorts.1kg.tsv"):
        (wd / "config" / name).write_text((ROOT / "config" / name).read_text())
    out = run_snakemake(["--directory", wd, "-n", "--cores", "4", "--configfile", "config/1kg.yaml"]).stdout
    stats = dict(
        line.split()[:2] for line in out[out.index("Job stats:") :].splitlines()[3:] if len(line.split()) == 2
    )
    assert stats["download"] == "23"
    assert stats["vcf_to_zarr"] == stats["variant_qc"] == stats["ld_prune"] == "22"
    assert stats["assemble_features"] == "1" and "simulate_demo_contig" not in stats
    assert "wildcards: entry=kg_phase3_panel, filename=integrated_call_samples_v3.20130502.ALL.panel" in out


def test_sgdp_vcf_runs_in_a_folder_with_a_space_and_a_dollar(tmp_path):
    """Shell hygiene through Snakemake: the BCF -> VCF rule in a working folder and a downloads folder whose
    names hold a space and ``$`` (paths are quoted with :q, so nothing in them is expanded or run)."""
    from tests.unit.test_shell_quoting import _tiny_bcf

    wd = tmp_path / "work dir $HOME $(touch PWNED)"
    wd.mkdir()
    make_workdir(
        wd,
        {
            "downloads": {
                "dir": "public files",
                "files": {"sgdp_bcf": {"url": "http://127.0.0.1:9/chr.{contig}.bcf", "contigs": ["1"]}},
            }
        },
        [TINY_DEMO_COHORT],
    )
    bcf = wd / "public files/sgdp_bcf/chr.1.bcf"
    bcf.parent.mkdir(parents=True)
    _tiny_bcf(bcf)  # as if downloaded: the file and its checksum line
    (bcf.parent / "chr.1.bcf.sha256").write_text(
        f"{hashlib.sha256(bcf.read_bytes()).hexdigest()}  chr.1.bcf\n"
    )
    run_snakemake(["--directory", wd, "--cores", "1", "public files/sgdp/sgdp.1.vcf.gz"])
    out = wd / "public files/sgdp"
    assert (out / "sgdp.1.vcf.gz").read_bytes()[:2] == b"\x1f\x8b" and (out / "sgdp.1.vcf.gz.tbi").exists()
    assert not list(tmp_path.rglob("PWNED"))
