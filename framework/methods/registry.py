"""The method registry: @register_method validates at once and stores the typed config."""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Callable
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

from framework.config.schema import MethodConfig
from framework.errors import PluginError, allowed_list, did_you_mean
from framework.methods.base import Method

MethodT = type[Method]  # type: ignore[type-arg]


@dataclass(frozen=True)
class MethodEntry:
    """A registered method and the module that registered it."""

    name: str
    cls: MethodT
    module: str


_REGISTRY: dict[str, MethodEntry] = {}


def register_method(name: str) -> Callable[[MethodT], MethodT]:
    """Register a Method subclass under `name`, selectable as `method=<name>`."""

    def decorator(cls: MethodT) -> MethodT:
        _validate(name, cls)
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            prior = _REGISTRY[name]
            raise PluginError(
                f"method '{name}' is registered twice: by {prior.module} and by {cls.__module__}"
            )
        cls.name = name
        _REGISTRY[name] = MethodEntry(name=name, cls=cls, module=cls.__module__)
        ConfigStore.instance().store(
            group="method", name=name, node=cls.config_class(name=name), provider="hydratune"
        )
        return cls

    return decorator


def _validate(name: str, cls: MethodT) -> None:
    where = f"{cls.__module__}.{cls.__qualname__}"
    if not name.isidentifier() or keyword.iskeyword(name):
        raise PluginError(f"{where}: method name '{name}' must be a Python identifier")
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise PluginError(f"{where}: @register_method('{name}') needs a Method subclass")
    cfg = cls.config_class
    if not (dataclasses.is_dataclass(cfg) and issubclass(cfg, MethodConfig)):
        raise PluginError(f"{where}: config_class must be a dataclass subclassing MethodConfig")
    if cls.apply is Method.apply:
        raise PluginError(f"{where}: method '{name}' does not implement apply()")


def get_method(name: str) -> MethodEntry:
    """Look up a registered method, with a did-you-mean on a miss."""
    if name not in _REGISTRY:
        from framework.errors import UserError

        raise UserError(
            f"method '{name}' is not registered. Allowed: {allowed_list(_REGISTRY)}."
            + did_you_mean(name, _REGISTRY)
        )
    return _REGISTRY[name]


def method_names() -> list[str]:
    """All registered method names, sorted."""
    return sorted(_REGISTRY)
