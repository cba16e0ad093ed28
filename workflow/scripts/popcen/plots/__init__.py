"""Figures. Every module sets the non-interactive Agg backend: rules run without a display."""

import matplotlib

matplotlib.use("Agg")
