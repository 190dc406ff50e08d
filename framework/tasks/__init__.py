"""Tasks: the loss and the validation metrics of each head (causal LM, seq_cls, token_cls, qa)."""
