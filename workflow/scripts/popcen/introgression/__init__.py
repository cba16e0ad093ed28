"""Neanderthal introgression by k-mers: regions, matched controls, sequences, k-mer models, genes, GC, permutations.

One small module per step, tables and arrays in and out; the rules' file handling is in
``popcen.pipeline.introgression``, the figures in ``popcen.plots.introgression``.
"""
