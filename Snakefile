# popcen: VCF -> QC -> LD pruning -> features -> clustering / ancestry / explanations; Neanderthal introgression.
# Thin on purpose: every stage lives in rules/<stage>.smk, every piece of logic in workflow/scripts/popcen/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/genotypes.smk"


rule all:
    input:
        all_targets(),
    default_target: True
