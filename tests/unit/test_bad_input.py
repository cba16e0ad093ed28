"""Bad input: one clear error naming the file and the problem, and no output left behind."""

import gzip

import pytest

from popcen.errors import PopcenInputError
from popcen.panel import read_panel, select_samples
from popcen.vcf import read_header, vcf_to_zarr

from .test_qc import HEADER, PANEL, RECORDS, write_vcf


def assert_clean_failure(excinfo, path, words):
    msg = str(excinfo.value)
    assert str(path) in msg and "\n" not in msg
    for w in words:
        assert w in msg


def test_missing_vcf(tmp_path):
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(tmp_path / "nope.vcf.gz", tmp_path / "out.zarr")
    assert_clean_failure(e, tmp_path / "nope.vcf.gz", ["not found"])
    assert not (tmp_path / "out.zarr").exists()


def test_truncated_gzip_leaves_no_store(tmp_path):
    # Enough records that the cut falls in the records, after an intact header.
    records = [(100 + i, f"r{i}", "A", "G", "0|1 0|0 1|1 0|0 0|1 0|0", "kept") for i in range(3000)]
    vcf = write_vcf(tmp_path / "full.vcf.gz", records=records, bgzf=False)
    data = vcf.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(cut, tmp_path / "out.zarr")
    assert_clean_failure(e, cut, ["truncated or corrupt gzip"])
    assert not (tmp_path / "out.zarr").exists() and not (tmp_path / "out.zarr.tmp").exists()


def test_vcf_without_gt(tmp_path):
    header = HEADER.replace(
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
    )
    vcf = tmp_path / "nogt.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write(header + "chr1\t100\t.\tA\tG\t.\tPASS\t.\tDP\t3\t4\t5\t6\t7\t8\n")
    with pytest.raises(PopcenInputError) as e:
        read_header(vcf)
    assert_clean_failure(e, vcf, ["no GT"])


def test_duplicate_sample_ids_in_vcf(tmp_path):
    vcf = write_vcf(
        tmp_path / "dup.vcf.gz", records=RECORDS[:1], header=HEADER.replace("S6", "S1"), bgzf=False
    )
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(vcf, tmp_path / "out.zarr")
    assert_clean_failure(e, vcf, ["duplicate sample", "S1"])


def test_panel_without_required_column(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample\tpopulation\nS1\tA\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop", "super_pop"])
    assert_clean_failure(e, panel, ["pop", "super_pop", "lacks required column"])


def test_duplicate_sample_ids_in_panel(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample pop\nS1 A\nS2 B\nS1 C\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop"])
    assert_clean_failure(e, panel, ["duplicate sample", "S1"])


def test_no_sample_left_after_selection(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample pop\nS1 A\nS2 B\n")
    p = read_panel(panel, ["pop"])
    with pytest.raises(PopcenInputError) as e:
        select_samples(["S1", "S2"], p, "pop", ["ZZZ"], vcf_path="cohort.vcf.gz")
    assert_clean_failure(e, "cohort.vcf.gz", ["no sample left", "ZZZ"])
    # the panel is named as the file to look at, with the VCF's sample IDs beside it
    with pytest.raises(PopcenInputError) as e:
        select_samples(["X1", "X2"], p, "pop", None, vcf_path="chr1.zarr", panel_path=str(panel))
    assert_clean_failure(e, str(panel), ["no sample left", "(X1, X2, in chr1.zarr)", "sample IDs"])


# Panels: any run of spaces or tabs separates cells, but two tabs in a row are an empty cell; rows must
# have the header's number of cells. Problems name file:line.


def test_panel_with_two_tabs_names_the_line_and_the_empty_cell(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample\tpop\tsuper_pop\nS1\tGBR\tEUR\nS2\t\tEUR\n")  # S2's pop is empty
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop", "super_pop"])
    assert_clean_failure(e, f"{panel}:3:", ["empty 'pop' cell", "fill it in"])


def test_panel_with_a_line_starting_with_a_tab_is_refused(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample\tpop\nS1\tGBR\n\tYRI\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop"])
    assert_clean_failure(e, f"{panel}:3:", ["empty 'sample' cell"])


def test_ragged_panel_row_names_the_line(tmp_path):
    panel = tmp_path / "panel.tsv"
    panel.write_text("sample pop super_pop\nS1 GBR EUR\nS2 YRI\nS3 CHB EAS\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop", "super_pop"])
    assert_clean_failure(e, f"{panel}:3:", ["2 cells where the header has 3", "sample pop super_pop"])
    panel.write_text("sample\tpop\tsuper_pop\nS1\tGBR\tEUR\tmale\n")
    with pytest.raises(PopcenInputError) as e:
        read_panel(panel, ["pop", "super_pop"])
    assert_clean_failure(e, f"{panel}:2:", ["4 cells where the header has 3"])


def test_panel_separators_crlf_and_trailing_tabs_are_read(tmp_path):
    # CRLF, runs of spaces, space+tab, and a header ending in two tabs (the 1000 Genomes panel's).
    panel = tmp_path / "panel.tsv"
    panel.write_bytes(
        b"sample\tpop\tsuper_pop\tgender\t\t\r\n"
        b"S1   GBR  EUR male\r\n"
        b"S2 \tYRI\t AFR\tfemale\r\n"
        b"\r\n"
        b"S3\tCHB\tEAS\tmale\r\n"
    )
    p = read_panel(panel, ["pop", "super_pop"])
    assert p.to_dict("list") == {
        "sample": ["S1", "S2", "S3"],
        "pop": ["GBR", "YRI", "CHB"],
        "super_pop": ["EUR", "AFR", "EAS"],
    }


# Feature sets that mean nothing are refused by assemble_features, the rule that writes them.


def genotype_chain(tmp_path, records, panel=PANEL):
    """vcf_to_zarr, variant_qc and ld_prune of one contig, then assemble_features; returns its outputs."""
    from popcen.pipeline import call, genotypes

    from .test_qc import THRESHOLDS

    vcf = write_vcf(tmp_path / "c.vcf.gz", records=records)
    (tmp_path / "panel.tsv").write_text(panel)
    zarr = tmp_path / "c.zarr"
    call(genotypes.vcf_to_zarr, input={"vcf": vcf}, output={"zarr": zarr}, params={"region": None})
    qc = {"variants": tmp_path / "v.tsv.gz", "samples": tmp_path / "s.tsv", "alt_counts": tmp_path / "a.zarr"}
    call(
        genotypes.variant_qc,
        input={"zarr": zarr, "panel": tmp_path / "panel.tsv"},
        output=qc,
        params={"label_columns": ["pop", "super_pop"], "populations": None, **THRESHOLDS},
    )
    prune = {"window": 10, "step": 5, "r2": 0.99, "iterations": 1, "fraction": 1.0, "seed": 1}
    call(
        genotypes.ld_prune,
        input=qc,
        output={"kept": tmp_path / "k.tsv"},
        params=prune,
        wildcards={"contig": "c"},
    )
    features = {n: tmp_path / "features" / n for n in ("genotypes.zarr", "variants.tsv", "samples.tsv")}
    with pytest.raises(PopcenInputError) as e:
        call(
            genotypes.assemble_features,
            input={
                "alt_counts": [qc["alt_counts"]],
                "kept": [tmp_path / "k.tsv"],
                "samples": [qc["samples"]],
                "qc": [qc["variants"]],
            },
            output=dict(zip(("genotypes", "variants", "samples"), features.values(), strict=True)),
            params={"label_columns": ["pop", "super_pop"]},
        )
    assert not any(p.exists() for p in features.values())
    return e, qc


CALLS = "0|0 0|1 1|1 0|1 0|0 ./."  # S1..S5 called (S6 is not in the panel)


@pytest.mark.parametrize(
    "records, words",
    [
        (
            [(100 + i, ".", "A", "G,T", CALLS, "multiallelic") for i in range(4)],
            ["all 4 records were dropped as multiallelic", "bcftools norm -m -any"],
        ),
        (
            [(100 + i, ".", "AT", "A", CALLS, "indel") for i in range(3)],
            ["all 3 records were dropped as indel", "bcftools view -v snps"],
        ),
        (
            [(100 + i, ".", "A", "G", "./. ./. ./. ./. ./. ./.", "low_call_rate") for i in range(5)],
            ["all 5 records were dropped as low_call_rate", "calls are missing"],
        ),
        (
            [
                (100, ".", "A", "G,T", CALLS, "m"),
                (200, ".", "AT", "A", CALLS, "i"),
                (300, ".", "CT", "C", CALLS, "i"),
            ],
            ["all 3 records were dropped by QC (indel 2, multiallelic 1)", "bcftools view -v snps"],
        ),
    ],
    ids=["all-multiallelic", "all-indels", "all-missing", "mixed"],
)
def test_no_variant_left_is_refused_with_the_qc_reason(tmp_path, records, words):
    e, qc = genotype_chain(tmp_path, records)
    assert_clean_failure(
        e, qc["variants"].parent, ["no variant left for the features of 1 contig(s)", *words]
    )


def test_one_sample_is_refused_at_the_features(tmp_path):
    records = [(100 + 10 * i, ".", "A", "G", CALLS, "kept") for i in range(5)]
    e, qc = genotype_chain(tmp_path, records, panel="sample\tpop\tsuper_pop\nS3\tB\tX\n")
    assert_clean_failure(e, qc["samples"], ["1 sample kept (S3)", "needs at least 2", "panel"])


# A classifier, or its cross-validation, over one class: refused at the folds (the first rule that can tell)
# and by the label encoding every classifier rule goes through.


def test_one_class_is_refused_for_folds_and_classifiers(tmp_path):
    import pandas as pd

    from popcen.classification.tables import encode_labels
    from popcen.pipeline import call
    from popcen.pipeline.classification import classification_folds

    samples = pd.DataFrame(
        {"sample": [f"S{i}" for i in range(12)], "pop": ["GBR"] * 12, "super_pop": ["EUR"] * 12}
    )
    path = tmp_path / "samples.tsv"
    samples.to_csv(path, sep="\t", index=False)
    folds = tmp_path / "classification" / "folds.tsv"
    with pytest.raises(PopcenInputError) as e:
        call(
            classification_folds,
            input={"samples": path},
            output={"folds": folds},
            params={"label_column": "pop", "n_folds": 3, "seed": 0},
        )
    assert_clean_failure(e, path, ["label column 'pop' has 1 class (GBR) over 12 samples", "at least 2"])
    assert not folds.exists()
    with pytest.raises(PopcenInputError, match="label column 'super_pop' has 1 class \\(EUR\\)"):
        encode_labels(samples, "super_pop")
    y, labels = encode_labels(samples.assign(pop=["GBR", "YRI"] * 6), "pop")  # two classes: fine
    assert labels == ["GBR", "YRI"] and y.tolist() == [0, 1] * 6


# ------------------------------------------------------------------------------- BCF, '$' and braces
def test_bcf_under_a_vcf_name_is_refused_with_the_conversion_command(tmp_path):
    import shlex
    import shutil
    import subprocess

    if not shutil.which("bcftools"):
        pytest.skip("needs bcftools")
    vcf = write_vcf(tmp_path / "plain.vcf", records=RECORDS[:3], bgzf=False)
    bcf = tmp_path / "my data.vcf.gz"  # a BCF under a VCF's name (the cohort sheet's .bcf is refused earlier)
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(tmp_path / "x.bcf"), str(vcf)], check=True)
    (tmp_path / "x.bcf").rename(bcf)  # (bcftools picks the output type from a .vcf.gz name)
    with pytest.raises(PopcenInputError) as e:
        vcf_to_zarr(bcf, tmp_path / "out.zarr")
    assert_clean_failure(e, bcf, ["is a BCF", "bcftools view -Oz"])
    assert not (tmp_path / "out.zarr").exists() and not (tmp_path / "out.zarr.tmp").exists()
    # the command given works as written, and leaves a VCF the reader takes
    command = str(e.value).split("`")[1]
    subprocess.run(["bash", "-c", command], check=True, cwd=tmp_path)
    vcf_to_zarr(bcf, tmp_path / "out.zarr")
    assert (tmp_path / "out.zarr").exists() and (tmp_path / "my data.bcf").exists()
    assert shlex.quote(str(bcf)) in command


def _sheet(tmp_path, vcf, panel="p.panel"):
    sheet = tmp_path / "cohorts.tsv"
    sheet.write_text(f"name\tvcf\tpanel\tcontigs\nc1\t{vcf}\t{panel}\tchr1\n")
    return sheet


@pytest.mark.parametrize(
    "vcf, panel, words",
    [
        (
            "data/c.{contig}.bcf",
            "p.panel",
            ["cohort c1", "is a BCF", "for each contig", "bcftools view -Oz -o"],
        ),
        ("$HOME/c.{contig}.vcf.gz", "p.panel", ["cohort c1: vcf", "holds '$'", "no $HOME"]),
        ("${HOME}/c.{contig}.vcf.gz", "p.panel", ["holds '$'"]),
        ("data/{sample}.vcf.gz", "p.panel", ["holds '{sample}'", "only {contig}"]),
        ("data/c.{contig}.vcf.gz", "panels/{contig}.panel", ["cohort c1: panel", "holds '{contig}'"]),
        ("data/c.vcf.gz}", "p.panel", ["holds '}'"]),
    ],
)
def test_cohort_sheet_paths_with_bcf_dollar_or_braces_are_refused(tmp_path, vcf, panel, words):
    from popcen.cohorts import read_cohort_table

    sheet = _sheet(tmp_path, vcf, panel)
    with pytest.raises(PopcenInputError) as e:
        read_cohort_table(sheet)
    assert_clean_failure(e, sheet, words)


def test_cohort_sheet_with_plain_paths_and_contig_pattern_is_read(tmp_path):
    from popcen.cohorts import read_cohort_table

    table = read_cohort_table(_sheet(tmp_path, "my data/c.{contig}.vcf.gz", "/abs/p q.panel"))
    assert table["vcf"].tolist() == ["my data/c.{contig}.vcf.gz"]


@pytest.mark.parametrize(
    "config, words",
    [
        ({"downloads": {"dir": "dl $(touch x)"}}, ["config key downloads.dir:", "holds '$'"]),
        ({"results": "out/{run}"}, ["config key results:", "holds '{run}'", "none is filled in"]),
        ({"downloads": {"files": {"a": {"file": "${X}.bed"}}}}, ["config key downloads.files.a.file"]),
        ({"introgression": {"map": "$HOME/map.bed"}}, ["config key introgression.map"]),
    ],
)
def test_config_paths_with_dollar_or_braces_are_refused(config, words):
    from snakemake.exceptions import WorkflowError

    from popcen.configcheck import check_config_paths

    with pytest.raises(WorkflowError) as e:
        check_config_paths({"results": "results", "cohorts": "config/cohorts.tsv", **config})
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    check_config_paths({"results": "my results", "downloads": {"dir": "public files", "files": {}}})
