"""Builders: turn each config group into its flat spec once (modules never see the config).

One module per group: model, data, method, optim, trainer (loggers and callbacks).
Import-light: torch, transformers and Lightning load inside the functions that need them,
so the checks and the dry run can use the specs without paying for those imports.
"""
