"""Hardware: presets' schema and checks, one HardwarePlan per run, strategies, ranks, memory.

A run resolves its plan once (plan.resolve_plan: the preset's HardwareSpec on a Machine) and
passes the object on: to the checks, the dry run and the Trainer arguments (trainer.py), which
build the strategy (strategies.py) from the settings in settings.py. Modules that import torch
(strategies, consolidate, trainer's strategy build) are only imported by the training process.
"""
