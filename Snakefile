# popcen: VCF -> QC -> LD pruning -> features -> clustering / ancestry / explanations; Neanderthal introgression.
# Thin on purpose: every stage lives in rules/<stage>.smk, every piece of logic in workflow/scripts/popcen/.
import sys

from snakemake.utils import min_version

min_version("9.0")
sys.path.insert(0, f"{workflow.basedir}/workflow/scripts")
from popcen.configcheck import validate_config


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


validate_config(config, workflow.source_path("config/schemas/config.schema.yaml"))


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/genotypes.smk"
include: "rules/representation.smk"
include: "rules/clustering.smk"
include: "rules/classification.smk"
include: "rules/predict.smk"
include: "rules/explain.smk"
include: "rules/introgression.smk"
include: "rules/downloads.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
