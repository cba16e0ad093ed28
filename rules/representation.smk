# Representation learning: every LD-pruned variant in genome order (or genotype images) -> convolutional
# autoencoder (CAE) -> latent features per sample.
# Code: workflow/scripts/popcen/pipeline/representation.py; library: popcen/{images,representation}.py,
# models/cae.py, training.py (shared loop).
REP_DIR = f"{RESULTS}/{{cohort}}/representation"


rule train_cae:
    input:
        **FEATURES,
    output:
        weights=f"{REP_DIR}/cae.pt",
        config=f"{REP_DIR}/cae.json",
        latent=f"{REP_DIR}/latent.tsv",
        losses=f"{REP_DIR}/cae_losses.tsv",
    log:
        f"{RESULTS}/{{cohort}}/logs/train_cae.log",
    benchmark:
        f"{RESULTS}/{{cohort}}/benchmarks/train_cae.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        training=TRAINING,
        representation=REPRESENTATION,
        label_columns=lambda wc: label_levels(wc.cohort),
        device=config["device"],
        # Not an output: Snakemake deletes the outputs of a failed job, and the checkpoint must outlive
        # an interrupted one so that the rerun resumes. fit() deletes it after a normal end.
        checkpoint_dir=lambda wc: f"{RESULTS}/{wc.cohort}/checkpoints/cae",
    script:
        "../workflow/scripts/train_cae.py"
