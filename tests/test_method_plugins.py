"""Method plugins: a .py in a plugins folder, and a pip-installed `hydratune.methods` package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.config.schema import register_schemas
from framework.errors import PluginError
from framework.methods.discovery import discover_methods, load_plugin_folder
from framework.methods.registry import get_method
from tests.helpers import ROOT, TINY, run_dirs, run_train
from tests.method_expectations import lora_b_only
from tests.plugin_package import ENTRY_POINT_METHOD, install_entry_point_plugin

register_schemas()
discover_methods(ROOT / "plugins")
BROKEN_PLUGIN = "import nonexistent_module_for_hydratune_tests\n"
DUPLICATE_PLUGIN = """
from dataclasses import dataclass
from framework.config.schema import MethodConfig
from framework.methods import Method, register_method

@dataclass
class Cfg(MethodConfig):
    pass

@register_method("lora")
class Impostor(Method[Cfg]):
    config_class = Cfg

    def apply(self, model, ctx):
        return model
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, train_py: object) -> Path:
    """The entry-point package, pip-installed (a subprocess: its users are e2e)."""
    return install_entry_point_plugin(tmp_path_factory.mktemp("entry_point_site"))


def test_entry_point_package_is_found_and_trains(site: Path, tmp_path: Path) -> None:
    """train.py finds `lora_fa` only through the installed package's entry point, and trains."""
    assert get_method(ENTRY_POINT_METHOD).module == "hydratune_lora_fa"
    overrides = [*TINY, f"method={ENTRY_POINT_METHOD}", "run.save_checkpoints=false"]
    result = run_train(overrides, tmp_path, extra_env={"PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = get_method(ENTRY_POINT_METHOD).cls.config_class(name=ENTRY_POINT_METHOD)
    assert metrics["trainable_parameters"] == lora_b_only(config)
    assert metrics["train_loss_after"] < metrics["train_loss_before"]
    assert (run_dir / "adapter" / "adapter_config.json").is_file()


@pytest.mark.e2e
def test_without_the_package_the_method_is_unknown(tmp_path: Path) -> None:
    result = run_train([f"method={ENTRY_POINT_METHOD}", "run.dry_run=true"], tmp_path, timeout=60)
    assert result.returncode == 2
    assert f"method={ENTRY_POINT_METHOD}" in result.stderr


@pytest.mark.e2e
def test_folder_plugin_is_selectable_by_train_py(tmp_path: Path) -> None:
    result = run_train(["method=loraplus", "method.lr_ratio=8", "run.dry_run=true"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "method: loraplus" in result.stdout
    assert "lr_ratio: 8.0" in result.stdout


@pytest.mark.e2e
def test_broken_plugin_stops_with_its_file_named(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_PLUGIN)
    with pytest.raises(PluginError, match=r"broken\.py failed to import: ModuleNotFoundError"):
        load_plugin_folder(tmp_path)


@pytest.mark.e2e
def test_plugin_reusing_a_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "impostor.py").write_text(DUPLICATE_PLUGIN)
    with pytest.raises(PluginError, match="method 'lora' is registered twice"):
        load_plugin_folder(tmp_path)
    assert get_method("lora").module == "framework.methods.builtin.lora"


def test_plugins_readme_documents_the_contract() -> None:
    readme = (ROOT / "plugins" / "README.md").read_text()
    for term in ("@register_method", "hydratune.methods", "Capabilities", "conformance"):
        assert term in readme
