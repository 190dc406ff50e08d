"""Sweeps: Hydra multirun helpers (summary callback, Optuna resume, allowed targets)."""
