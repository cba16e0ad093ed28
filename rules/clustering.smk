# Clustering on the CAE latent space: CEC (deep embedded clustering) per label level, with K = the number
# of labels of that level; baselines on the same samples; the choice of K; figures.
# Logic: workflow/scripts/popcen/clustering/, models/cec.py, plots/clustering.py.
CLU_DIR = f"{RESULTS}/{{cohort}}/clustering"


rule train_cec:
    input:
        **FEATURES,
        cae_weights=rules.train_cae.output.weights,
        cae_json=rules.train_cae.output.config,
    output:
        weights=f"{CLU_DIR}/{{level}}/cec.pt",
        config=f"{CLU_DIR}/{{level}}/cec.json",
        assignments=f"{CLU_DIR}/{{level}}/cec_assignments.tsv",
        losses=f"{CLU_DIR}/{{level}}/cec_losses.tsv",
    params:
        features=features_folder,
        training=TRAINING,
        clustering=CLUSTERING,
        device=config["device"],
        checkpoint_dir=lambda wc: f"{RESULTS}/{wc.cohort}/checkpoints/cec_{wc.level}",
    log:
        f"{RESULTS}/{{cohort}}/logs/train_cec/{{level}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/train_cec/{{level}}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_cec.py"


rule cluster_baselines:
    input:
        **FEATURES,
        latent=rules.train_cae.output.latent,
        cae_json=rules.train_cae.output.config,
        assignments=rules.train_cec.output.assignments,
        cec_json=rules.train_cec.output.config,
    output:
        metrics=f"{CLU_DIR}/{{level}}/metrics.tsv",
        assignments=f"{CLU_DIR}/{{level}}/baseline_assignments.tsv",
    params:
        features=features_folder,
        clustering=CLUSTERING,
        seed=TRAINING["seed"],
    log:
        f"{RESULTS}/{{cohort}}/logs/cluster_baselines/{{level}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/cluster_baselines/{{level}}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/cluster_baselines.py"


rule k_sweep:
    input:
        **FEATURES,
        latent=rules.train_cae.output.latent,
        cae_weights=rules.train_cae.output.weights,
        cae_json=rules.train_cae.output.config,
    output:
        table=f"{CLU_DIR}/k_sweep.tsv",
        choice=f"{CLU_DIR}/k_choice.json",
        plot=report(
            f"{CLU_DIR}/k_sweep.png",
            category="Clustering",
            subcategory="{cohort}",
            caption="../workflow/report/k_sweep.rst",
        ),
    params:
        features=features_folder,
        label_columns=lambda wc: COHORTS.label_columns(wc.cohort),
        training=TRAINING,
        clustering=CLUSTERING,
        device=config["device"],
    log:
        f"{RESULTS}/{{cohort}}/logs/k_sweep.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/k_sweep.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/k_sweep.py"


rule clustering_figures:
    input:
        **FEATURES,
        latent=rules.train_cae.output.latent,
        cae_losses=rules.train_cae.output.losses,
        assignments=rules.train_cec.output.assignments,
        cec_losses=rules.train_cec.output.losses,
    output:
        losses=report(
            f"{CLU_DIR}/{{level}}/loss_curves.png",
            category="Clustering",
            subcategory="{cohort}",
            caption="../workflow/report/clustering_losses.rst",
        ),
        tsne=report(
            f"{CLU_DIR}/{{level}}/tsne.png",
            category="Clustering",
            subcategory="{cohort}",
            caption="../workflow/report/clustering_tsne.rst",
        ),
        composition=report(
            f"{CLU_DIR}/{{level}}/composition.png",
            category="Clustering",
            subcategory="{cohort}",
            caption="../workflow/report/clustering_composition.rst",
        ),
    params:
        features=features_folder,
        seed=TRAINING["seed"],
        perplexity=CLUSTERING["tsne_perplexity"],
    log:
        f"{RESULTS}/{{cohort}}/logs/clustering_figures/{{level}}.log",
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/clustering_figures.py"
