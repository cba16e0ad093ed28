# Shared pieces of every stage: config validation, the cohort sheet, paths and names that several rule
# files use, input functions, the config keys each rule reads, and the list of final targets.
# Rule files hold rules only (snakemake --lint); their code is workflow/scripts/popcen/pipeline/<stage>.py.
import os
import re

from snakemake.exceptions import WorkflowError

from popcen.cohorts import Cohorts, read_cohort_table
from popcen.configcheck import check_config_paths
from popcen.download import plan_downloads
from popcen.panel import fine_level

# ------------------------------------------------------------------------------------------ config
# Every section is validated before any job starts (one-line errors naming the key).
for _schema in (
    "training",
    "representation",
    "clustering",
    "classification",
    "explain",
    "introgression",
    "downloads",
):
    validate_config(config, workflow.source_path(f"../config/schemas/{_schema}.schema.yaml"))
check_config_paths(config)  # '$' or braces in a path: one line before Snakemake's WildcardError

_cohort_table = read_cohort_table(config["cohorts"])
validate_config(_cohort_table, workflow.source_path("../config/schemas/cohorts.schema.yaml"))
COHORTS = Cohorts(_cohort_table)
RESULTS = config["results"]
TRAINING = config["training"]
REPRESENTATION = config["representation"]
CLUSTERING = config["clustering"]
CLASSIFICATION = config["classification"]
INTRO = config["introgression"]
DEMO = config["demo"]
DL = config["downloads"]


def keys(section, *names):
    """Only the named keys of a config section, as a rule's params: a rule reruns when what it reads
    changes, not when a neighbouring key of the same section does."""
    return {name: section[name] for name in names if name in section}


def drop(section, *names):
    """A config section without the named keys (the keys another rule reads)."""
    return {k: v for k, v in section.items() if k not in names}


wildcard_constraints:
    cohort="[A-Za-z0-9][A-Za-z0-9_.-]*",
    contig="[A-Za-z0-9_.]+",
    level="[A-Za-z0-9_]+",
    dataset="[A-Za-z0-9][A-Za-z0-9_.-]*",


# ----------------------------------------------------------------------------------------- cohorts
def contigs_of(cohort):
    return COHORTS.contigs(cohort)


def label_levels(cohort):
    """The cohort's label columns, fine to coarse (pop, super_pop)."""
    return COHORTS.label_columns(cohort)


def vcf_of(wildcards):
    """The cohort × contig's VCF: the sheet's, or rule plink_to_vcf's conversion of its PLINK file set."""
    if COHORTS.plink(wildcards.cohort, wildcards.contig) is not None:
        return f"{RESULTS}/{wildcards.cohort}/plink/{wildcards.contig}.vcf.gz"
    return COHORTS.vcf(wildcards.cohort, wildcards.contig)


def plink_of(wildcards):
    """The members of the cohort × contig's PLINK file set that exist: plink_to_vcf names a missing one in
    one line (popcen.plink.check_file_set)."""
    file_set = COHORTS.plink(wildcards.cohort, wildcards.contig)
    if file_set is None:
        raise WorkflowError(
            f"cohort {wildcards.cohort}: vcf {COHORTS.row(wildcards.cohort)['vcf']!r} names no PLINK file set"
        )
    return [path for path in file_set.members if os.path.exists(path)]


def panel_of(wildcards):
    return COHORTS.panel(wildcards.cohort)


def per_contig(pattern):
    """Input function: ``pattern`` expanded over the cohort's contigs."""

    def _expand(wildcards):
        return expand(pattern, cohort=wildcards.cohort, contig=contigs_of(wildcards.cohort))

    return _expand


# A cohort's feature set (rule assemble_features), input of every cohort-wide rule.
FEATURES = {
    "genotypes": f"{RESULTS}/{{cohort}}/features/genotypes.zarr",
    "variants": f"{RESULTS}/{{cohort}}/features/variants.tsv",
    "samples": f"{RESULTS}/{{cohort}}/features/samples.tsv",
}
# The trained CAE (rule train_cae), input of clustering, classification and the K sweep.
CAE = {
    "cae_weights": f"{RESULTS}/{{cohort}}/representation/cae.pt",
    "cae_json": f"{RESULTS}/{{cohort}}/representation/cae.json",
}


# ---------------------------------------------------------------------------------------- clustering
def k_setting(level):
    """clustering.k of one label level (labels, auto or a number): the level's override, else the section's."""
    return CLUSTERING.get("levels", {}).get(level, {}).get("k", CLUSTERING["k"])


def k_choice_input(wildcards):
    """The K sweep's choice, an input of train_cec and cluster_baselines only where the level's K is
    ``auto``: with ``labels`` or a number they neither wait for the sweep nor rerun after it."""
    if k_setting(wildcards.level) == "auto":
        return {"k_choice": f"{RESULTS}/{wildcards.cohort}/clustering/k_choice.json"}
    return {}


# ------------------------------------------------------------------------------------ classification
# Classification keys that do not change how a classifier is trained: folds, prediction, calibrated calls,
# the outlier score.
NOT_TRAINING_KEYS = (
    "n_folds",
    "fold_seed",
    "cv_representation",
    "min_overlap",
    "strand_ambiguous",
    "min_af_correlation",
    "af_mismatch",
    "assign_threshold",
    "population_thresholds",
    "outlier_quantile",
)


def fine_oof_predictions(wildcards):
    """The fine level's out-of-fold predictions: the outlier score of a reference sample is computed under
    its out-of-fold predicted population, as a new sample's under its most similar one (the same argmax:
    the calibration's temperature does not move it, so a threshold change does not rerun the reference)."""
    fine = fine_level(label_levels(wildcards.cohort))
    return f"{RESULTS}/{wildcards.cohort}/classification/cv/{fine}/predictions.tsv"


def fine_predictions(wildcards):
    """A coarse level (super_pop) is also scored from the fine level's (pop) out-of-fold predictions."""
    fine = fine_level(label_levels(wildcards.cohort))
    if wildcards.level == fine:
        return []
    return f"{RESULTS}/{wildcards.cohort}/classification/cv/{fine}/predictions.tsv"


def cv_metrics(wildcards):
    return expand(
        f"{RESULTS}/{wildcards.cohort}/classification/cv/{{level}}/metrics.tsv",
        level=label_levels(wildcards.cohort),
    )


def fine_per_class(wildcards):
    fine = fine_level(label_levels(wildcards.cohort))
    return f"{RESULTS}/{wildcards.cohort}/classification/cv/{fine}/per_class.tsv"


# ------------------------------------------------------------------------------------------ predict
def model_cohort(wildcards):
    """The trained cohort whose classifier predicts this one (``predict_with`` in the cohort sheet)."""
    model = COHORTS.predict_with(wildcards.cohort)
    if model is None:
        raise WorkflowError(f"cohort {wildcards.cohort} has no predict_with in {config['cohorts']}")
    if model not in COHORTS.names or COHORTS.predict_with(model):
        raise WorkflowError(
            f"cohort {wildcards.cohort}: predict_with={model} must name a cohort that trains "
            f"its own model in {config['cohorts']}"
        )
    return model


def model_file(name):
    def _path(wildcards):
        return f"{RESULTS}/{model_cohort(wildcards)}/{name}"

    return _path


def model_fine_file(name):
    """A file of the model cohort's cross-validation at its fine level (the level its classifier predicts)."""

    def _path(wildcards):
        cohort = model_cohort(wildcards)
        fine = fine_level(label_levels(cohort))
        return f"{RESULTS}/{cohort}/classification/cv/{fine}/{name}"

    return _path


# ------------------------------------------------------------------------------------------- report
def summary_inputs(wildcards):
    cohort = wildcards.cohort
    if COHORTS.predict_with(cohort):
        return {
            "overlap": f"{RESULTS}/{cohort}/predict/overlap.json",
            "predictions": f"{RESULTS}/{cohort}/predict/predictions.tsv",
        }
    levels = label_levels(cohort)
    return {
        "qc": f"{RESULTS}/{cohort}/qc/summary.tsv",
        "samples": f"{RESULTS}/{cohort}/features/samples.tsv",
        "clustering": expand(f"{RESULTS}/{cohort}/clustering/{{level}}/metrics.tsv", level=levels),
        "k_choice": f"{RESULTS}/{cohort}/clustering/k_choice.json",
        "classification": expand(f"{RESULTS}/{cohort}/classification/cv/{{level}}/metrics.tsv", level=levels),
        "explain_metrics": f"{RESULTS}/{cohort}/explain/metrics_comparison.tsv",
        "top_variants": f"{RESULTS}/{cohort}/explain/top_variants.tsv",
    }


# ------------------------------------------------------------------------------------- introgression
INTRO_DEMO_DIR = f"{RESULTS}/introgression/demo_inputs"
INTRO_DIR = f"{RESULTS}/introgression/{{dataset}}"


def introgression_input(kind):
    """Path of the map / fasta / genes: generated for the demo, else from the config (must be set)."""
    if INTRO["demo"]:
        return {
            "map": f"{INTRO_DEMO_DIR}/map.bed",
            "fasta": f"{INTRO_DEMO_DIR}/reference.fa",
            "genes": f"{INTRO_DEMO_DIR}/genes.bed",
        }[kind]
    if not INTRO[kind]:
        raise WorkflowError(
            f"config introgression.{kind} is empty: give a path, or set introgression.demo: true"
        )
    return INTRO[kind]


# ----------------------------------------------------------------------------------------- downloads
DL_DIR = DL["dir"]
DOWNLOADS = plan_downloads(DL["files"])


def alternatives(names):
    """A regex that matches exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(n) for n in sorted(set(names))) or "(?!)"


def downloaded(entry, contig=None):
    """Local paths of a config entry's files (of one contig when given)."""
    return [
        f"{DL_DIR}/{s.entry}/{s.file}"
        for s in DOWNLOADS.values()
        if s.entry == entry and (contig is None or s.contig == contig)
    ]


def download_spec(wildcards):
    return DOWNLOADS[(wildcards.entry, wildcards.filename)]


# ------------------------------------------------------------------------------------------ targets
def cohort_targets(cohort):
    """What `rule all` builds for one cohort."""
    d = f"{RESULTS}/{cohort}"
    if COHORTS.predict_with(cohort):
        # A predicted cohort only goes through QC; it is aligned to the model cohort's variants, drawn over
        # its reference and given Q through its CEC at each of its label levels.
        model_levels = label_levels(COHORTS.predict_with(cohort))
        return (
            [f"{d}/predict/predictions.tsv", f"{d}/predict/over_reference.png", f"{d}/summary.html"]
            + expand(f"{d}/qc/{{contig}}.variants.tsv.gz", contig=contigs_of(cohort))
            + expand(
                [f"{d}/predict/admixture/{{level}}/Q.tsv", f"{d}/predict/admixture/{{level}}/structure.png"],
                level=model_levels,
            )
        )
    levels = label_levels(cohort)
    targets = [f"{d}/features/variants.tsv", f"{d}/qc/summary.tsv", f"{d}/summary.html"]
    if cohort in COHORTS.trained():
        targets += [f"{d}/representation/latent.tsv", f"{d}/clustering/k_choice.json"]
        targets += expand(
            [
                f"{d}/clustering/{{level}}/metrics.tsv",
                f"{d}/clustering/{{level}}/tsne.png",
                f"{d}/admixture/{{level}}/Q.tsv",
                f"{d}/admixture/{{level}}/structure.png",
            ],
            level=levels,
        )
        if levels:  # the Q at the K sweep's K, its clusters named by the fine level's labels
            targets += [f"{d}/admixture/k_sweep/Q.tsv", f"{d}/admixture/k_sweep/structure.png"]
    targets += [f"{d}/classification/model.pt", f"{d}/explain/top_variants.tsv"]
    targets += expand(f"{d}/classification/cv/{{level}}/metrics.tsv", level=levels)
    targets += expand(f"{d}/classification/cv/{{level}}/assignment.tsv", level=levels)
    targets += [f"{d}/classification/reference.json"]
    return targets


def introgression_targets():
    d = f"{RESULTS}/introgression/{INTRO['dataset']}"
    return [
        f"{d}/regions/lengths.png",
        f"{d}/kmers/top_kmers.png",
        f"{d}/models/metrics.tsv",
        f"{d}/genes/genes_ranked.tsv",
        f"{d}/embedding/embedding.png",
        f"{d}/gc/gc_summary.tsv",
        f"{d}/permutation/summary.tsv",
    ]


def all_targets():
    targets = []
    for cohort in COHORTS.names:
        targets.extend(cohort_targets(cohort))
    return targets + introgression_targets()
