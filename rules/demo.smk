# The demo cohort: simulated by the workflow itself (stdpopsim HomSap model, mean recombination rate).
DEMO = config["demo"]
DEMO_DIR = "resources/demo"


rule simulate_demo_contig:
    output:
        vcf=f"{DEMO_DIR}/demo.{{contig}}.vcf.gz",
        tbi=f"{DEMO_DIR}/demo.{{contig}}.vcf.gz.tbi",
    params:
        model=DEMO["model"],
        length=DEMO["contig_length"],
        per_population=DEMO["samples_per_population"],
        seed=DEMO["seed"],
    wildcard_constraints:
        contig="chr[0-9]+",
    log:
        "logs/demo/simulate_{contig}.log",
    benchmark:
        "logs/demo/simulate_{contig}.bench.tsv"
    conda:
        "../envs/genotypes.yaml"
    script:
        "../workflow/scripts/simulate_demo_contig.py"


rule demo_panel:
    output:
        f"{DEMO_DIR}/demo.panel",
    params:
        model=DEMO["model"],
        per_population=DEMO["samples_per_population"],
    log:
        "logs/demo/panel.log",
    conda:
        "../envs/genotypes.yaml"
    script:
        "../workflow/scripts/demo_panel.py"
