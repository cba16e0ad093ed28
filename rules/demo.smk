# The demo cohort: simulated by the workflow itself (stdpopsim HomSap model, mean recombination rate).
# Each contig's simulation also yields a held-out 'demo_new' cohort (other individuals of the same
# populations, written like an independent VCF) that the demo's trained models predict.
# Code: workflow/scripts/popcen/pipeline/demo.py; library: popcen/demo.py.
DEMO_DIR = "resources/demo"


rule simulate_demo_contig:
    output:
        vcf=f"{DEMO_DIR}/demo.{{contig}}.vcf.gz",
        tbi=f"{DEMO_DIR}/demo.{{contig}}.vcf.gz.tbi",
        new_vcf=f"{DEMO_DIR}/demo_new.{{contig}}.vcf.gz",
        new_tbi=f"{DEMO_DIR}/demo_new.{{contig}}.vcf.gz.tbi",
    log:
        "logs/demo/simulate_{contig}.log",
    benchmark:
        "logs/demo/simulate_{contig}.bench.tsv"
    wildcard_constraints:
        contig="chr[0-9]+",
    conda:
        "../envs/genotypes.yaml"
    params:
        model=DEMO["model"],
        length=DEMO["contig_length"],
        per_population=DEMO["samples_per_population"],
        heldout_per_population=DEMO["heldout_per_population"],
        new_drop_fraction=DEMO["new_cohort_missing_fraction"],
        new_swap_fraction=DEMO["new_cohort_swapped_fraction"],
        seed=DEMO["seed"],
    script:
        "../workflow/scripts/simulate_demo_contig.py"


rule demo_panel:
    output:
        panel=f"{DEMO_DIR}/demo.panel",
        new_panel=f"{DEMO_DIR}/demo_new.panel",
    log:
        "logs/demo/panel.log",
    conda:
        "../envs/genotypes.yaml"
    params:
        model=DEMO["model"],
        per_population=DEMO["samples_per_population"],
        heldout_per_population=DEMO["heldout_per_population"],
    script:
        "../workflow/scripts/demo_panel.py"
