"""hydratune's Hydra launcher plugins: hydra/launcher=azureml | kaito (found by Hydra's scan),
and the SLURM launcher that +sweep=slurm / on_slurm use (slurm.py)."""
