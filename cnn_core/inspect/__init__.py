"""Looking inside a model: hooks, per-layer summaries, generated code, feature maps, attribution."""
