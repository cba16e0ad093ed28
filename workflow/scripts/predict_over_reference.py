from popcen.pipeline import predict, run_rule

run_rule(predict.predict_over_reference, snakemake)
