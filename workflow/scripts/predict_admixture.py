from popcen.pipeline import predict, run_rule

run_rule(predict.predict_admixture, snakemake)
