"""Typed configuration: dataclass schemas registered in Hydra's ConfigStore."""
