"""Neanderthal introgression by k-mers: regions, matched controls, sequences, k-mer models, genes, GC, permutations.

One small module per step; the rule scripts in ``workflow/scripts/introgression_*.py`` only call these.
"""
