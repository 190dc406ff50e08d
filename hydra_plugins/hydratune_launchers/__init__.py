"""hydratune's Hydra launcher plugins: hydra/launcher=azureml | kaito (found by Hydra's scan)."""
