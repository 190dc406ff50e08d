"""Base models: resolve a model preset to weights and a tokenizer on disk, offline."""
