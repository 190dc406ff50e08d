"""Training: the LightningModule, optimizer, callbacks, Trainer construction, artifacts."""
