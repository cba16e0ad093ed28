# Neanderthal introgression by k-mers: regions -> matched controls -> sequences -> k-mers -> models -> genes,
# plus embeddings, GC content and a gene-overlap permutation test. Code: workflow/scripts/popcen/pipeline/
# introgression.py (one function per rule). Each rule passes only the config keys its function reads.
INTRO_LOGS = f"{INTRO_DIR}/logs"


rule introgression_demo_inputs:
    output:
        fasta=f"{INTRO_DEMO_DIR}/reference.fa",
        fai=f"{INTRO_DEMO_DIR}/reference.fa.fai",
        map=f"{INTRO_DEMO_DIR}/map.bed",
        genes=f"{INTRO_DEMO_DIR}/genes.bed",
    log:
        f"{RESULTS}/introgression/logs/demo_inputs.log",
    conda:
        "../envs/introgression.yaml"
    params:
        **keys(INTRO, "synthetic", "seed"),
    script:
        "../workflow/scripts/introgression_demo_inputs.py"


rule introgression_reference:
    input:
        fasta=introgression_input("fasta"),
    output:
        genome=f"{INTRO_DIR}/reference/genome.txt",
        gaps=f"{INTRO_DIR}/reference/gaps.bed",
        composition=f"{INTRO_DIR}/reference/composition.tsv",
    log:
        f"{INTRO_LOGS}/reference.log",
    benchmark:
        f"{INTRO_LOGS}/reference.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    script:
        "../workflow/scripts/introgression_reference.py"


rule introgression_regions:
    input:
        map=introgression_input("map"),
        genome=rules.introgression_reference.output.genome,
    output:
        bed=f"{INTRO_DIR}/regions/regions.bed",
        tsv=f"{INTRO_DIR}/regions/regions.tsv",
        introgressed=f"{INTRO_DIR}/regions/introgressed_on_reference.bed",
        counts=f"{INTRO_DIR}/regions/counts.tsv",
        lengths=f"{INTRO_DIR}/regions/lengths.tsv",
        lengths_png=report(
            f"{INTRO_DIR}/regions/lengths.png",
            category="Introgression",
            subcategory="regions",
            caption="../workflow/report/introgression_lengths.rst",
        ),
    log:
        f"{INTRO_LOGS}/regions.log",
    conda:
        "../envs/introgression.yaml"
    script:
        "../workflow/scripts/introgression_regions.py"


rule introgression_controls:
    input:
        regions=rules.introgression_regions.output.tsv,
        bed=rules.introgression_regions.output.bed,
        introgressed=rules.introgression_regions.output.introgressed,
        genome=rules.introgression_reference.output.genome,
        gaps=rules.introgression_reference.output.gaps,
        fasta=introgression_input("fasta"),
    output:
        exclusion=f"{INTRO_DIR}/controls/exclusion.bed",
        bed=f"{INTRO_DIR}/controls/controls.bed",
        tsv=f"{INTRO_DIR}/controls/controls.tsv",
    log:
        f"{INTRO_LOGS}/controls.log",
    benchmark:
        f"{INTRO_LOGS}/controls.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    params:
        **keys(INTRO, "controls", "max_len", "seed"),
    script:
        "../workflow/scripts/introgression_controls.py"


rule introgression_sequences:
    input:
        fasta=introgression_input("fasta"),
        regions=rules.introgression_regions.output.tsv,
        controls=rules.introgression_controls.output.tsv,
    output:
        fasta=f"{INTRO_DIR}/sequences/sequences.fa.gz",
        tsv=f"{INTRO_DIR}/sequences/sequences.tsv",
        counts=f"{INTRO_DIR}/sequences/counts.tsv",
    log:
        f"{INTRO_LOGS}/sequences.log",
    benchmark:
        f"{INTRO_LOGS}/sequences.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    params:
        **keys(INTRO, "max_len"),
    script:
        "../workflow/scripts/introgression_sequences.py"


rule introgression_kmers:
    input:
        fasta=rules.introgression_sequences.output.fasta,
        tsv=rules.introgression_sequences.output.tsv,
    output:
        matrix=f"{INTRO_DIR}/kmers/counts.npz",
        vocabulary=f"{INTRO_DIR}/kmers/vocabulary.json",
        top=f"{INTRO_DIR}/kmers/top_kmers.tsv",
        top_png=report(
            f"{INTRO_DIR}/kmers/top_kmers.png",
            category="Introgression",
            subcategory="k-mers",
            caption="../workflow/report/introgression_top_kmers.rst",
        ),
    log:
        f"{INTRO_LOGS}/kmers.log",
    benchmark:
        f"{INTRO_LOGS}/kmers.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    params:
        **keys(INTRO, "k", "canonical", "top_kmers"),
    script:
        "../workflow/scripts/introgression_kmers.py"


rule introgression_models:
    input:
        matrix=rules.introgression_kmers.output.matrix,
        vocabulary=rules.introgression_kmers.output.vocabulary,
        tsv=rules.introgression_sequences.output.tsv,
    output:
        metrics=f"{INTRO_DIR}/models/metrics.tsv",
        confusion=f"{INTRO_DIR}/models/confusion.tsv",
        per_class=f"{INTRO_DIR}/models/per_class.tsv",
        importances=f"{INTRO_DIR}/models/rf_importances.tsv",
        predictions=f"{INTRO_DIR}/models/test_predictions.tsv",
        gene_model=f"{INTRO_DIR}/models/gene_model.joblib",
        mlp=f"{INTRO_DIR}/models/mlp.pt",
        mlp_json=f"{INTRO_DIR}/models/mlp.json",
        mlp_losses=f"{INTRO_DIR}/models/mlp_losses.tsv",
        performance_png=report(
            f"{INTRO_DIR}/models/performance.png",
            category="Introgression",
            subcategory="models",
            caption="../workflow/report/introgression_performance.rst",
        ),
        importances_png=report(
            f"{INTRO_DIR}/models/rf_importances.png",
            category="Introgression",
            subcategory="models",
            caption="../workflow/report/introgression_importances.rst",
        ),
    log:
        f"{INTRO_LOGS}/models.log",
    benchmark:
        f"{INTRO_LOGS}/models.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    threads: 2
    params:
        **keys(
            INTRO,
            "split",
            "max_len",
            "seed",
            "random_forest_trees",
            "mlp",
            "gene_model",
            "top_kmers",
        ),
        device=config["device"],
        checkpoints=f"{INTRO_DIR}/models/checkpoints",
    script:
        "../workflow/scripts/introgression_models.py"


rule introgression_genes:
    input:
        fasta=introgression_input("fasta"),
        genes=introgression_input("genes"),
        genome=rules.introgression_reference.output.genome,
        vocabulary=rules.introgression_kmers.output.vocabulary,
        model=rules.introgression_models.output.gene_model,
    output:
        tsv=f"{INTRO_DIR}/genes/genes_ranked.tsv",
        counts=f"{INTRO_DIR}/genes/counts.tsv",
    log:
        f"{INTRO_LOGS}/genes.log",
    benchmark:
        f"{INTRO_LOGS}/genes.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    params:
        **keys(INTRO, "gene_len", "gene_biotypes"),
    script:
        "../workflow/scripts/introgression_genes.py"


rule introgression_embedding:
    input:
        fasta=rules.introgression_sequences.output.fasta,
        vocabulary=rules.introgression_kmers.output.vocabulary,
        importances=rules.introgression_models.output.importances,
    output:
        tsv=f"{INTRO_DIR}/embedding/embedding.tsv",
        png=report(
            f"{INTRO_DIR}/embedding/embedding.png",
            category="Introgression",
            subcategory="embedding",
            caption="../workflow/report/introgression_embedding.rst",
        ),
    log:
        f"{INTRO_LOGS}/embedding.log",
    benchmark:
        f"{INTRO_LOGS}/embedding.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    params:
        **keys(INTRO, "embedding", "top_kmers", "seed"),
    script:
        "../workflow/scripts/introgression_embedding.py"


rule introgression_gc:
    input:
        sequences=rules.introgression_sequences.output.tsv,
        genes=rules.introgression_genes.output.tsv,
        composition=rules.introgression_reference.output.composition,
    output:
        tsv=f"{INTRO_DIR}/gc/gc_summary.tsv",
        png=report(
            f"{INTRO_DIR}/gc/gc_content.png",
            category="Introgression",
            subcategory="GC content",
            caption="../workflow/report/introgression_gc.rst",
        ),
    log:
        f"{INTRO_LOGS}/gc.log",
    conda:
        "../envs/introgression.yaml"
    script:
        "../workflow/scripts/introgression_gc.py"


rule introgression_permutation:
    input:
        regions=rules.introgression_regions.output.tsv,
        genome=rules.introgression_reference.output.genome,
        exclusion=rules.introgression_controls.output.exclusion,
        genes=introgression_input("genes"),
    output:
        loci=f"{INTRO_DIR}/permutation/loci.bed",
        null=f"{INTRO_DIR}/permutation/null_counts.tsv",
        summary=f"{INTRO_DIR}/permutation/summary.tsv",
        png=report(
            f"{INTRO_DIR}/permutation/permutation.png",
            category="Introgression",
            subcategory="permutation test",
            caption="../workflow/report/introgression_permutation.rst",
        ),
    log:
        f"{INTRO_LOGS}/permutation.log",
    benchmark:
        f"{INTRO_LOGS}/permutation.bench.tsv"
    conda:
        "../envs/introgression.yaml"
    threads: 2
    params:
        **keys(INTRO, "permutations", "seed", "gene_biotypes"),
    script:
        "../workflow/scripts/introgression_permutation.py"
