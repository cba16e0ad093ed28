# Genotypes: [PLINK ->] VCF -> Zarr -> variant QC -> LD pruning (per cohort × contig) -> features (per cohort).
# Code: workflow/scripts/popcen/pipeline/genotypes.py; library: popcen/{plink,vcf,qc,ld,zarrio,features}.py.


rule plink_to_vcf:
    input:
        plink=plink_of,
    output:
        vcf=temp(f"{RESULTS}/{{cohort}}/plink/{{contig}}.vcf.gz"),
    log:
        f"{RESULTS}/{{cohort}}/logs/plink_to_vcf/{{contig}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/plink_to_vcf/{{contig}}.tsv"
    conda:
        "../envs/genotypes.yaml"
    threads: 2
    params:
        kind=lambda wc: COHORTS.plink(wc.cohort, wc.contig).kind,
        prefix=lambda wc: COHORTS.plink(wc.cohort, wc.contig).prefix,
        # One file set for all contigs, or one per contig ({contig} in the sheet's path).
        whole=lambda wc: not COHORTS.vcf_is_per_contig(wc.cohort),
        # plink2 --memory follows the job's memory (the profile's mem_mb).
        mem_mb=lambda wc, resources: resources.get("mem_mb"),
    script:
        "../workflow/scripts/plink_to_vcf.py"


rule vcf_to_zarr:
    input:
        vcf=vcf_of,
    output:
        zarr=directory(f"{RESULTS}/{{cohort}}/zarr/{{contig}}.zarr"),
    log:
        f"{RESULTS}/{{cohort}}/logs/vcf_to_zarr/{{contig}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/vcf_to_zarr/{{contig}}.tsv"
    conda:
        "../envs/genotypes.yaml"
    # A second thread decompresses the BGZF stream (bgzip) while the first parses.
    threads: 2
    params:
        # One VCF for all contigs: read this contig's region through the tabix index.
        region=lambda wc: COHORTS.region(wc.cohort, wc.contig),
    script:
        "../workflow/scripts/vcf_to_zarr.py"


rule variant_qc:
    input:
        zarr=rules.vcf_to_zarr.output.zarr,
        panel=panel_of,
    output:
        variants=f"{RESULTS}/{{cohort}}/qc/{{contig}}.variants.tsv.gz",
        samples=f"{RESULTS}/{{cohort}}/qc/{{contig}}.samples.tsv",
        # Alt counts of the records that pass QC over the kept samples: ld_prune and assemble_features read
        # these instead of decompressing the whole GT array again. Not temp(): changing a pruning setting
        # would then rerun QC.
        alt_counts=directory(f"{RESULTS}/{{cohort}}/qc/{{contig}}.alt_counts.zarr"),
    log:
        f"{RESULTS}/{{cohort}}/logs/variant_qc/{{contig}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/variant_qc/{{contig}}.tsv"
    conda:
        "../envs/genotypes.yaml"
    params:
        label_columns=lambda wc: COHORTS.label_columns(wc.cohort),
        populations=lambda wc: COHORTS.populations(wc.cohort),
        min_call_rate=config["qc"]["min_call_rate"],
        min_mac=config["qc"]["min_mac"],
        min_maf=config["qc"]["min_maf"],
    script:
        "../workflow/scripts/variant_qc.py"


rule ld_prune:
    input:
        alt_counts=rules.variant_qc.output.alt_counts,
        variants=rules.variant_qc.output.variants,
        samples=rules.variant_qc.output.samples,
    output:
        kept=f"{RESULTS}/{{cohort}}/ld/{{contig}}.kept.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/ld_prune/{{contig}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/ld_prune/{{contig}}.tsv"
    conda:
        "../envs/genotypes.yaml"
    params:
        **keys(config["ld_prune"], "window", "step", "r2", "iterations", "fraction", "seed"),
    script:
        "../workflow/scripts/ld_prune.py"


rule qc_summary:
    input:
        variants=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.variants.tsv.gz"),
        kept=per_contig(f"{RESULTS}/{{cohort}}/ld/{{contig}}.kept.tsv"),
    output:
        table=f"{RESULTS}/{{cohort}}/qc/summary.tsv",
        plot=report(
            f"{RESULTS}/{{cohort}}/qc/summary.png",
            category="Genotypes QC",
            subcategory="{cohort}",
            caption="../workflow/report/qc_summary.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/qc_summary.log",
    conda:
        "../envs/genotypes.yaml"
    params:
        contigs=lambda wc: contigs_of(wc.cohort),
    script:
        "../workflow/scripts/qc_summary.py"


rule assemble_features:
    input:
        alt_counts=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.alt_counts.zarr"),
        kept=per_contig(f"{RESULTS}/{{cohort}}/ld/{{contig}}.kept.tsv"),
        samples=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.samples.tsv"),
        # Read only when no variant is left, to say why.
        qc=per_contig(f"{RESULTS}/{{cohort}}/qc/{{contig}}.variants.tsv.gz"),
    output:
        genotypes=directory(f"{RESULTS}/{{cohort}}/features/genotypes.zarr"),
        variants=f"{RESULTS}/{{cohort}}/features/variants.tsv",
        samples=f"{RESULTS}/{{cohort}}/features/samples.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/assemble_features.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/assemble_features.tsv"
    conda:
        "../envs/genotypes.yaml"
    params:
        label_columns=lambda wc: COHORTS.label_columns(wc.cohort),
    script:
        "../workflow/scripts/assemble_features.py"
