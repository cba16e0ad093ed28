# Shared helpers: the cohort sheet, wildcard constraints, input functions and the list of targets.
from popcen.cohorts import Cohorts, read_cohort_table

# Stage files validate their own config section with validate_config (one-line errors naming the key).
_cohort_table = read_cohort_table(config["cohorts"])
validate_config(_cohort_table, workflow.source_path("../config/schemas/cohorts.schema.yaml"))
COHORTS = Cohorts(_cohort_table)
RESULTS = config["results"]


wildcard_constraints:
    cohort="[A-Za-z0-9][A-Za-z0-9_.-]*",
    contig="[A-Za-z0-9_.]+",


def contigs_of(cohort):
    return COHORTS.contigs(cohort)


def vcf_of(wildcards):
    return COHORTS.vcf(wildcards.cohort, wildcards.contig)


def panel_of(wildcards):
    return COHORTS.panel(wildcards.cohort)


def per_contig(pattern):
    """Input function: ``pattern`` expanded over the cohort's contigs."""

    def _expand(wildcards):
        return expand(pattern, cohort=wildcards.cohort, contig=contigs_of(wildcards.cohort))

    return _expand


# Each stage appends the targets of a cohort to this list (a function of the cohort name), so that
# `rule all` and the report stay in one place and a new stage needs no edit here.
COHORT_TARGETS = []
GLOBAL_TARGETS = []


def all_targets():
    targets = []
    for cohort in COHORTS.names:
        for target in COHORT_TARGETS:
            targets.extend(target(cohort))
    for target in GLOBAL_TARGETS:
        targets.extend(target())
    return targets
