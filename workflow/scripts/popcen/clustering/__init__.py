"""Clustering of samples: scores against known labels, baselines, and the choice of the number of clusters."""
