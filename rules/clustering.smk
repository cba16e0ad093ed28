# Clustering on the CAE latent space: CEC (deep embedded clustering) per label level and baselines on the
# same samples, at K = clustering.k (labels: the level's number of labels; auto: k_sweep's choice, then an
# input of train_cec and cluster_baselines; or a number); the choice of K; figures; CEC's soft assignments as
# an admixture-style Q matrix with its STRUCTURE plot, per level and at the K sweep's K.
# Code: workflow/scripts/popcen/pipeline/clustering.py; library: popcen/clustering/, models/cec.py,
# plots/clustering.py. Each rule passes only the clustering keys it reads (a change reruns those rules).
CLU_DIR = f"{RESULTS}/{{cohort}}/clustering"


rule train_cec:
    input:
        unpack(k_choice_input),
        **FEATURES,
        **CAE,
    output:
        weights=f"{CLU_DIR}/{{level}}/cec.pt",
        config=f"{CLU_DIR}/{{level}}/cec.json",
        assignments=f"{CLU_DIR}/{{level}}/cec_assignments.tsv",
        losses=f"{CLU_DIR}/{{level}}/cec_losses.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/train_cec/{{level}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/train_cec/{{level}}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        training=TRAINING,
        # CEC's keys and k, and this level's override only: not those of the baselines, the sweep or the figures
        clustering=lambda wc: {
            **drop(
                CLUSTERING,
                "levels",
                "min_samples",
                "pca_components",
                "k_max",
                "k_sweep_epochs",
                "tsne_perplexity",
            ),
            "levels": keys(CLUSTERING.get("levels", {}), wc.level),
        },
        device=config["device"],
        checkpoint_dir=lambda wc: f"{RESULTS}/{wc.cohort}/checkpoints/cec_{wc.level}",
    script:
        "../workflow/scripts/train_cec.py"


rule cluster_baselines:
    input:
        unpack(k_choice_input),
        **FEATURES,
        latent=rules.train_cae.output.latent,
        cae_json=rules.train_cae.output.config,
        assignments=rules.train_cec.output.assignments,
        cec_json=rules.train_cec.output.config,
    output:
        metrics=f"{CLU_DIR}/{{level}}/metrics.tsv",
        assignments=f"{CLU_DIR}/{{level}}/baseline_assignments.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/cluster_baselines/{{level}}.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/cluster_baselines/{{level}}.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        k=lambda wc: k_setting(wc.level),
        min_samples=CLUSTERING["min_samples"],
        pca_components=CLUSTERING["pca_components"],
        seed=TRAINING["seed"],
    script:
        "../workflow/scripts/cluster_baselines.py"


rule k_sweep:
    input:
        **FEATURES,
        **CAE,
        latent=rules.train_cae.output.latent,
    output:
        table=f"{CLU_DIR}/k_sweep.tsv",
        choice=f"{CLU_DIR}/k_choice.json",
        q=f"{CLU_DIR}/k_sweep_q.tsv",
        plot=report(
            f"{CLU_DIR}/k_sweep.png",
            category="Clustering",
            subcategory="{cohort}",
            caption="../workflow/report/k_sweep.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/k_sweep.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/k_sweep.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        label_columns=lambda wc: label_levels(wc.cohort),
        training=TRAINING,
        # the section's CEC keys (no per-level override), k_max and k_sweep_epochs; not k (the sweep
        # chooses one K for the cohort, whatever clustering.k)
        clustering=drop(CLUSTERING, "k", "levels", "min_samples", "pca_components", "tsne_perplexity"),
        device=config["device"],
    script:
        "../workflow/scripts/k_sweep.py"


rule clustering_figures:
    input:
        **FEATURES,
        latent=rules.train_cae.output.latent,
        cae_losses=rules.train_cae.output.losses,
        assignments=rules.train_cec.output.assignments,
        cec_json=rules.train_cec.output.config,
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
    log:
        f"{RESULTS}/{{cohort}}/logs/clustering_figures/{{level}}.log",
    conda:
        "../envs/torch.yaml"
    params:
        seed=TRAINING["seed"],
        perplexity=CLUSTERING["tsne_perplexity"],
        k=lambda wc: k_setting(wc.level),  # for the captions; the figures read K from cec.json
    script:
        "../workflow/scripts/clustering_figures.py"


rule admixture_proportions:
    input:
        assignments=rules.train_cec.output.assignments,
        cec_json=rules.train_cec.output.config,
    output:
        q=f"{RESULTS}/{{cohort}}/admixture/{{level}}/Q.tsv",
        plot=report(
            f"{RESULTS}/{{cohort}}/admixture/{{level}}/structure.png",
            category="Ancestry proportions",
            subcategory="{cohort}",
            caption="../workflow/report/admixture_structure.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/admixture_proportions/{{level}}.log",
    conda:
        "../envs/torch.yaml"
    params:
        k=lambda wc: k_setting(wc.level),  # for the caption; the Q matrix reads K from cec_assignments.tsv
    script:
        "../workflow/scripts/admixture_proportions.py"


# The Q matrix at the K the sweep chose, from the sweep's own soft assignments at that K; written for every
# trained cohort, whether or not that K is the number of labels (known only once the sweep has run).
# admixture/k_sweep is not a label level: this rule, not admixture_proportions, writes it.
ruleorder: k_sweep_proportions > admixture_proportions


rule k_sweep_proportions:
    input:
        q=rules.k_sweep.output.q,
        choice=rules.k_sweep.output.choice,
    output:
        q=f"{RESULTS}/{{cohort}}/admixture/k_sweep/Q.tsv",
        plot=report(
            f"{RESULTS}/{{cohort}}/admixture/k_sweep/structure.png",
            category="Ancestry proportions",
            subcategory="{cohort}",
            caption="../workflow/report/admixture_k_sweep.rst",
        ),
    log:
        f"{RESULTS}/{{cohort}}/logs/k_sweep_proportions.log",
    conda:
        "../envs/torch.yaml"
    params:
        k_sweep_epochs=CLUSTERING["k_sweep_epochs"],  # for the caption: CEC's q, or k-means' (0 epochs)
    script:
        "../workflow/scripts/k_sweep_proportions.py"
