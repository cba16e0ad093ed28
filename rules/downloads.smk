# Public inputs: 1000 Genomes phase 3, SGDP, hg19, the Vernot & Akey map, GENCODE genes. Nothing here is in
# `rule all`: a file is downloaded when a cohort sheet or the introgression config points at it, or when
# you ask for it (`snakemake --cores 4 download_1kg`). Addresses and checksums: config `downloads`.
# Code: workflow/scripts/popcen/pipeline/downloads.py; library: popcen/download.py.
rule download:
    output:
        file=f"{DL_DIR}/{{entry}}/{{filename}}",
        checksum=f"{DL_DIR}/{{entry}}/{{filename}}.sha256",
    log:
        "logs/downloads/{entry}/{filename}.log",
    wildcard_constraints:
        entry=alternatives(s.entry for s in DOWNLOADS.values()),
        filename=alternatives(s.file for s in DOWNLOADS.values()),
    # Compute nodes are often offline: downloads run where snakemake runs (the login node on a cluster).
    localrule: True
    conda:
        "../envs/downloads.yaml"
    params:
        url=lambda wc: download_spec(wc).url,
        sha256=lambda wc: download_spec(wc).sha256,
        md5=lambda wc: download_spec(wc).md5,
        retries=DL["retries"],
        timeout=DL["timeout"],
    script:
        "../workflow/scripts/download.py"


# SGDP comes as BCF; the genotype stages read bgzipped VCF (scikit-allel).
rule sgdp_vcf:
    input:
        bcf=lambda wc: downloaded("sgdp_bcf", wc.contig),
    output:
        vcf=f"{DL_DIR}/sgdp/sgdp.{{contig}}.vcf.gz",
        tbi=f"{DL_DIR}/sgdp/sgdp.{{contig}}.vcf.gz.tbi",
    log:
        "logs/downloads/sgdp_vcf/{contig}.log",
    conda:
        "../envs/genotypes.yaml"
    shell:
        "(bcftools view -Oz -o {output.vcf:q} {input.bcf:q} && tabix -p vcf {output.vcf:q}) 2> {log:q}"


rule download_1kg:
    input:
        downloaded("kg_phase3_vcf"),
        downloaded("kg_phase3_vcf_index"),
        downloaded("kg_phase3_panel"),
    localrule: True


rule download_sgdp:
    input:
        expand(
            f"{DL_DIR}/sgdp/sgdp.{{contig}}.vcf.gz",
            contig=[s.contig for s in DOWNLOADS.values() if s.entry == "sgdp_bcf"],
        ),
        downloaded("sgdp_metadata"),
    localrule: True


rule download_introgression:
    input:
        downloaded("hg19_fasta"),
        downloaded("vernot_akey_map"),
        downloaded("gencode_v19_gtf"),
    localrule: True
