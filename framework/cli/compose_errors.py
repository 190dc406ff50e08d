"""Turn Hydra/OmegaConf composition errors into one clear message naming the key."""

from __future__ import annotations

from collections.abc import Callable

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from framework.errors import allowed_list, did_you_mean

BaseComposer = Callable[[], DictConfig | None]


def describe(error: Exception, base_config: BaseComposer) -> str:
    """One message for a composition error: the key, what is allowed, a did-you-mean."""
    if isinstance(error, MissingConfigException):
        return _missing_config(error)
    if isinstance(error, OverrideParseException):
        return f"cannot parse the override: {str(error).splitlines()[0]}"
    cause = error.__cause__
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return _unknown_key(str(cause.full_key), base_config())
    if isinstance(cause, ValidationError):
        return _bad_value(cause, base_config())
    if isinstance(error, ConfigCompositionException):
        first = str(error).splitlines()[0]
        if first.startswith("Error merging override ~"):
            key = first.removeprefix("Error merging override ~").split("=")[0]
            return (
                f"~{key}: a typed key of the schema cannot be deleted; set it instead "
                f"({key}=<value>, or {key}=null where the schema allows it)"
            )
        return first
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _missing_config(error: MissingConfigException) -> str:
    missing = error.missing_cfg_file or ""
    # Schemas and bases of other presets (conf/<group>/_*.yaml) are not for selecting.
    options = [o for o in (error.options or []) if not o.endswith("_schema") and o[:1] != "_"]
    if "/" in missing:
        group, _, value = missing.rpartition("/")
        return (
            f"{group}={value}: no such {group} preset. Allowed: {allowed_list(options)}."
            + did_you_mean(value, options)
        )
    return f"config '{missing}' not found" + (
        f". Allowed: {allowed_list(options)}" if options else ""
    )


def _unknown_key(full_key: str, base: DictConfig | None) -> str:
    parent_key, _, leaf = full_key.rpartition(".")
    allowed: list[str] = []
    if base is not None:
        node = OmegaConf.select(base, parent_key) if parent_key else base
        if isinstance(node, DictConfig):
            allowed = [str(k) for k in node.keys()]
    where = f"'{parent_key}'" if parent_key else "the top level"
    message = f"{full_key}: unknown key (no key '{leaf}' in {where})."
    if allowed:
        message += f" Allowed: {allowed_list(allowed)}." + did_you_mean(leaf, allowed)
    return message


def _bad_value(cause: ValidationError, base: DictConfig | None) -> str:
    key = str(cause.full_key)
    reason = str(cause.msg).splitlines()[0] if cause.msg else "invalid value"
    message = f"{key}: {reason}"
    if base is not None:
        current = OmegaConf.select(base, key, default=None)
        if current is not None:
            message += f" (expected a {type(current).__name__}, e.g. {key}={current})"
    return message
