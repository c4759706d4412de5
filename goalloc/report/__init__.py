"""Report layer: metrics, human text, JSON and comparisons, built from engine or trace results."""
