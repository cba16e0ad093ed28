"""Ancestry classification: the classifier on the frozen CAE encoder, cross-validation and its metrics."""
