"""`python -m framework.cli.list_presets` (`make presets`): every preset of every config group,
with its one-line description and where it comes from."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from framework.config.schema import TrainConfig

# Every group of the composed config (the schema's order; run.* has no presets) and the sweep
# group of sweeps/.
GROUPS = (*(f.name for f in fields(TrainConfig)), "sweep")


@dataclass(frozen=True)
class Preset:
    """One selectable preset: group, name, description and where it comes from."""

    group: str
    name: str
    description: str
    provider: str


def _first_comment(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not stripped.startswith("# @package"):
            return stripped.lstrip("# ").strip()
        if stripped and not stripped.startswith("#"):
            break
    return ""


def _describe(source: object, group: str, name: str) -> str:
    """The preset's first comment line (file or package), or a method's own description."""
    scheme = source.scheme()  # type: ignore[attr-defined]
    path = f"{group}/{name}.yaml"
    if scheme == "file":
        file = Path(source.path) / path  # type: ignore[attr-defined]
        return _first_comment(file.read_text()) if file.is_file() else ""
    if scheme == "pkg":
        from importlib.resources import files

        package, _, sub = source.path.partition("/")  # type: ignore[attr-defined]
        resource = files(package).joinpath(sub, path) if sub else files(package).joinpath(path)
        return _first_comment(resource.read_text()) if resource.is_file() else ""
    if group == "method":
        from framework.methods.registry import get_method

        entry = get_method(name)
        return entry.cls.capabilities.description or (entry.cls.__doc__ or "").strip()
    return ""


def list_presets(project_root: Path, extra_searchpath: list[str]) -> list[Preset]:
    """Presets found on the whole search path: conf/, sweeps/, plugins' and extra paths."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from framework.config.schema import register_schemas
    from framework.methods.discovery import discover_methods

    os.environ.setdefault("HYDRATUNE_ROOT", str(project_root))
    register_schemas()
    discover_methods(project_root / "plugins")
    with initialize_config_dir(str(project_root / "conf"), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        sources = list(loader.get_sources())
    from hydra.core.plugins import Plugins
    from hydra.plugins.config_source import ConfigSource

    source_classes = Plugins.instance().discover(ConfigSource)
    for index, path in enumerate([f"file://{project_root / 'sweeps'}", *extra_searchpath]):
        scheme, _, location = path.partition("://")
        for source_cls in source_classes:
            if source_cls.scheme() == scheme:  # type: ignore[attr-defined]
                source = source_cls(provider=f"searchpath[{index}]", path=location)  # type: ignore[call-arg]
                sources.append(source)  # type: ignore[arg-type]
    found: dict[tuple[str, str], Preset] = {}
    for source in sources:
        for group in GROUPS:
            if not source.is_group(group):
                continue
            for name in source.list(group, results_filter=None):
                name = name.removesuffix(".yaml")
                if source.is_config(f"{group}/{name}") and (group, name) not in found:
                    if name.endswith("_schema") or name.startswith("_"):
                        continue  # schemas, and bases that presets list in their defaults
                    found[(group, name)] = Preset(
                        group, name, _describe(source, group, name), source.provider
                    )
    return sorted(found.values(), key=lambda p: (GROUPS.index(p.group), p.name))


def main(argv: list[str]) -> int:
    """Print the presets grouped; extra search-path entries may be given as arguments."""
    root = Path(__file__).resolve().parents[2]
    presets = list_presets(root, argv)
    width = max((len(p.name) for p in presets), default=10) + 2
    current = ""
    for preset in presets:
        if preset.group != current:
            current = preset.group
            print(f"\n{current}:")
        print(f"  {preset.name:<{width}}{preset.description}  [{preset.provider}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
