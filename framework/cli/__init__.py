"""Command-line entry: plugin discovery, a checked composition, then Hydra's main."""
