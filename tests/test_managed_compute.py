"""Managed compute: Azure ML command jobs and Kaito workspaces, written and validated offline."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from omegaconf import DictConfig, OmegaConf

from framework.launchers import azureml, kaito, kaito_checks, kaito_output
from framework.launchers.environment import conda_spec, pip_requirements
from framework.launchers.remote import remote_launcher, task_overrides
from tests.helpers import CONF, ROOT, compose_config, run_train

# azure-ai-ml's marshmallow schemas emit hundreds of Marshmallow4Warnings when first imported.
pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")
SWEEP = ["hardware=multi_gpu", "hardware.devices=4", "hydra/launcher=azureml"]


def composed(overrides: list[str], model: str = "tiny") -> DictConfig:
    """The train config with its hydra node (the launcher), as the preflight composes it."""
    from hydra import compose, initialize_config_dir

    compose_config([])  # registers schemas and plugin methods once
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", [f"model={model}", *overrides], return_hydra_config=True)


# --- Azure ML -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_azureml_job_loads_and_follows_the_hardware(method: str, tmp_path: Path) -> None:
    from azure.ai.ml import load_job

    overrides = [f"method={method}", *SWEEP]
    cfg = composed(overrides)
    path = azureml.write_job(cfg, overrides, tmp_path / "0", ROOT)
    with warnings.catch_warnings():  # azure-ai-ml's marshmallow schemas warn on every load
        warnings.simplefilter("ignore")
        job = load_job(source=str(path))  # offline: no workspace, no network
    assert job.distribution.process_count_per_instance == 4
    assert job.resources.instance_count == 1
    spec = yaml.safe_load(path.read_text())
    assert spec["command"].startswith("python train.py ")
    assert f"method={method}" in spec["command"] and "hydra/launcher" not in spec["command"]
    assert "hydra.run.dir=${{outputs.run_dir}}" in spec["command"]
    assert spec["code"] == str(ROOT)
    assert spec["compute"] == "azureml:gpu-cluster"
    assert spec["outputs"]["run_dir"]["type"] == "uri_folder"
    assert (path.parent / spec["environment"]["conda_file"]).is_file()


def test_azureml_instance_count_follows_num_nodes(tmp_path: Path) -> None:
    overrides = ["hardware=multi_node", "hardware.num_nodes=2", "hardware.devices=8"]
    overrides.append("hydra/launcher=azureml")
    spec = azureml.job_spec(composed(overrides), overrides, ROOT)
    assert spec["resources"]["instance_count"] == 2
    assert spec["distribution"]["process_count_per_instance"] == 8


def test_environment_is_generated_from_pyproject() -> None:
    pip = conda_spec(ROOT / "pyproject.toml")["dependencies"][-1]["pip"]
    assert pip == pip_requirements(ROOT / "pyproject.toml")
    assert any(r.startswith("torch") for r in pip) and any(r.startswith("peft") for r in pip)
    assert not any(r.startswith("azure-ai-ml") for r in pip)  # submit side only


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("hardware.devices=auto", "hydra.launcher.process_count_per_instance"),
        ("hydra.launcher.instance_count=0", "hydra.launcher.instance_count"),
        ("hydra.launcher.compute=", "hydra.launcher.compute"),
        ("hydra.launcher.experiment_name=-bad", "hydra.launcher.experiment_name"),
        ("+hydra.launcher.environment_variables.HF_TOKEN=x", "environment_variables.HF_TOKEN"),
        ("hydra.launcher.submit=true", "hydra.launcher.subscription_id"),
    ],
)
def test_azureml_bad_launcher_field_is_named(override: str, field: str) -> None:
    overrides = ["hardware=multi_gpu", "hardware.devices=2", "hydra/launcher=azureml", override]
    found = azureml.job_problems(composed(overrides))
    assert any(field in p for p in found), found


def test_azureml_load_job_refusal_names_the_field(tmp_path: Path) -> None:
    cfg = composed(SWEEP)
    spec = azureml.job_spec(cfg, SWEEP, ROOT)
    spec["distribution"]["process_count_per_instance"] = "four"
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    (tmp_path / "conda.yaml").write_text(yaml.safe_dump(conda_spec(ROOT / "pyproject.toml")))
    (problem,) = azureml.load_problems(path)
    assert "process_count_per_instance" in problem


def test_no_secret_reaches_the_job_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "hf_TopSecretValue0123456789"
    monkeypatch.setenv("HF_TOKEN", secret)
    path = azureml.write_job(composed(SWEEP), SWEEP, tmp_path, ROOT)
    assert secret not in path.read_text() and "HF_TOKEN" not in path.read_text()


def test_launch_overrides_are_not_passed_to_the_remote_run() -> None:
    given = ["method=lora", "hydra/launcher=azureml", "hydra.launcher.compute=a100", "+x=1"]
    assert task_overrides(given) == ["method=lora", "+x=1"]


def test_remote_launcher_skips_machine_checks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.config.validate import all_problems

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU visible here, whatever the machine
    remote = composed(["hardware=multi_gpu", "hydra/launcher=azureml"])
    assert remote_launcher(remote) == "azureml"
    local = composed(["hardware=multi_gpu"])
    assert remote_launcher(local) is None
    assert any("needs a CUDA GPU" in p for p in all_problems(local))
    assert all_problems(remote) == []  # the same preset, prepared for the job's own machine


# --- Kaito: tuning ------------------------------------------------------------------------


def kaito_docs(overrides: list[str], model: str = "phi3_mini") -> tuple[dict[str, Any], ...]:
    return kaito.documents(composed([*overrides, "hydra/launcher=kaito"], model=model))


def training(configmap: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(configmap["data"]["training_config.yaml"])["training_config"]


def test_kaito_qlora_workspace_satisfies_the_rules() -> None:
    configmap, workspace = kaito_docs(["method=qlora"])
    assert kaito_checks.rule_problems(configmap, workspace) == []
    assert workspace["apiVersion"] == "kaito.sh/v1beta1" and workspace["kind"] == "Workspace"
    assert workspace["tuning"]["preset"]["name"] == "phi-3-mini-4k-instruct"
    assert workspace["tuning"]["method"] == "qlora"
    assert workspace["tuning"]["config"] == configmap["metadata"]["name"]
    assert set(training(configmap)) == set(kaito.SECTIONS)
    quant = training(configmap)["QuantizationConfig"]
    assert quant["load_in_4bit"] is True and quant["bnb_4bit_quant_type"] == "nf4"


def test_kaito_round_trips_lora_settings_and_training_arguments() -> None:
    overrides = [
        "method=lora",
        "method.r=16",
        "method.alpha=32",
        "method.dropout=0.05",
        "method.target_modules=[qkv_proj]",
        "optim.lr=3e-4",
        "trainer.max_steps=120",
        "dataset.batch_size=2",
        "trainer.accumulate_grad_batches=4",
    ]
    configmap, workspace = kaito_docs(overrides)
    sections = training(configmap)
    lora = sections["LoraConfig"]
    assert (lora["r"], lora["lora_alpha"], lora["lora_dropout"]) == (16, 32, 0.05)
    assert lora["target_modules"] == ["qkv_proj"]
    args = sections["TrainingArguments"]
    assert args["learning_rate"] == 3e-4 and args["max_steps"] == 120
    assert args["per_device_train_batch_size"] == 2 and args["gradient_accumulation_steps"] == 4
    assert args["output_dir"].startswith("/mnt/")
    assert workspace["tuning"]["method"] == "lora"
    assert not sections["QuantizationConfig"]["load_in_4bit"]
    assert sections["DatasetConfig"]["messages_column"] == "messages"


def test_kaito_8bit_lora_is_qlora_with_load_in_8bit() -> None:
    configmap, workspace = kaito_docs(["method=lora_8bit"])
    assert workspace["tuning"]["method"] == "qlora"
    assert training(configmap)["QuantizationConfig"]["load_in_8bit"] is True
    assert kaito_checks.rule_problems(configmap, workspace) == []


def _with_training(configmap: dict[str, Any], section: str, **values: Any) -> dict[str, Any]:
    changed = copy.deepcopy(configmap)
    sections = training(changed)
    sections.setdefault(section, {}).update(values)
    changed["data"]["training_config.yaml"] = yaml.safe_dump({"training_config": sections})
    return changed


def test_kaito_rule_lora_forbids_4_and_8_bit() -> None:
    configmap, workspace = kaito_docs(["method=lora"])
    for key in ("load_in_4bit", "load_in_8bit"):
        bad = _with_training(configmap, "QuantizationConfig", **{key: True})
        assert any("lora forbids" in p for p in kaito_checks.rule_problems(bad, workspace))


def test_kaito_rule_qlora_needs_4_or_8_bit() -> None:
    configmap, workspace = kaito_docs(["method=qlora"])
    bad = _with_training(configmap, "QuantizationConfig", load_in_4bit=False)
    assert any("qlora needs" in p for p in kaito_checks.rule_problems(bad, workspace))


@pytest.mark.parametrize("output_dir", ["/mnt", "/tmp/results", "../etc", "/mnt/../root"])
def test_kaito_rule_output_dir_under_mnt(output_dir: str) -> None:
    configmap, workspace = kaito_docs(["method=qlora"])
    bad = _with_training(configmap, "TrainingArguments", output_dir=output_dir)
    assert any("under /mnt" in p for p in kaito_checks.rule_problems(bad, workspace))


def test_kaito_rule_only_known_sections() -> None:
    configmap, workspace = kaito_docs(["method=qlora"])
    bad = _with_training(configmap, "DeepSpeedConfig", stage=3)
    assert any("DeepSpeedConfig" in p for p in kaito_checks.rule_problems(bad, workspace))


def test_kaito_rule_preset_method_input_output() -> None:
    configmap, workspace = kaito_docs(["method=qlora"])
    cases = {
        "preset": ("preset", {"name": "smollm2-135m-instruct"}),
        "tuning.method": ("method", "dora"),
        "exactly one of urls, image or volume": (
            "input",
            {"image": "a/b:1", "urls": ["https://x/y"]},
        ),
        "imagePushSecret": ("output", {"image": "registry.io/a:1"}),
    }
    for expected, (key, value) in cases.items():
        bad = copy.deepcopy(workspace)
        bad["tuning"][key] = value
        assert any(expected in p for p in kaito_checks.rule_problems(configmap, bad)), expected


@pytest.mark.parametrize(
    ("overrides", "model", "reason"),
    [
        (["method=dora"], "phi3_mini", "method=dora"),
        (["method=ia3"], "phi3_mini", "method=ia3"),
        (["method=qlora", "hardware=zero2"], "phi3_mini", "DeepSpeed"),
        (["method=lora", "hardware=fsdp"], "phi3_mini", "FSDP"),
        (["method=lora", "hardware=multi_node", "hardware.num_nodes=2"], "phi3_mini", "one node"),
        (["method=lora"], "tiny", "Kaito cannot tune"),
        (["method=lora", "hydra.launcher.output_dir=/tmp/out"], "phi3_mini", "under /mnt"),
        (["method=lora", "optim.lr=auto"], "phi3_mini", "optim.lr=auto cannot run on Kaito"),
    ],
)
def test_kaito_refuses_what_it_cannot_express(
    overrides: list[str], model: str, reason: str
) -> None:
    found = kaito_checks.kaito_problems(composed([*overrides, "hydra/launcher=kaito"], model=model))
    assert any(reason in p for p in found), found


# --- Kaito: serving the result --------------------------------------------------------------


def fake_run_dir(path: Path) -> Path:
    cfg = compose_config(["method=qlora"], model="phi3_mini")
    path.mkdir(parents=True)
    OmegaConf.save(cfg, path / "config.yaml")
    (path / "adapter").mkdir()
    (path / "adapter" / "adapter_config.json").write_text(json.dumps({"r": 8}))
    (path / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    (path / "tokenizer").mkdir()
    (path / "tokenizer" / "tokenizer_config.json").write_text("{}")
    return path


def test_kaito_inference_workspace_names_the_adapter(tmp_path: Path) -> None:
    from framework.cli.tool_configs import KaitoExportConfig
    from framework.inference.run_dir import open_run_dir

    run = open_run_dir(str(fake_run_dir(tmp_path / "run")))
    lines = kaito_output.export_for_kaito(
        run, OmegaConf.structured(KaitoExportConfig), tmp_path / "out"
    )
    (workspace,) = yaml.safe_load_all((tmp_path / "out" / "kaito-inference.yaml").read_text())
    assert workspace["inference"]["preset"]["name"] == "phi-3-mini-4k-instruct"
    (adapter,) = workspace["inference"]["adapters"]
    assert adapter["source"]["name"] == kaito.dns_name(str(run.cfg.run.name))
    assert adapter["source"]["image"].endswith("-adapter:0.0.1")
    assert kaito_output.adapter_problems(workspace) == []
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    assert "COPY adapter/ /data/" in (tmp_path / "out" / "Dockerfile").read_text()
    assert any("docker build" in line for line in lines)


# --- The commands as written in the README (subprocess) ------------------------------------


@pytest.mark.e2e
def test_acceptance_azureml_sweep_writes_one_valid_job_per_trial(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "method=lora,qlora", *SWEEP, f"hydra.sweep.dir={sweep}"]
    result = run_train(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(sweep.glob("*/azureml-job.yaml"))
    assert len(jobs) == 2
    for job in jobs:  # load_job ran in the launcher; the files say what it accepted
        assert yaml.safe_load(job.read_text())["distribution"]["process_count_per_instance"] == 4
    assert result.stdout.count("load_job: valid") == 2
    assert not list(tmp_path.rglob("sweep_summary.csv"))  # nothing ran here


@pytest.mark.e2e
def test_acceptance_kaito_writes_workspace_and_refuses_dora(tmp_path: Path) -> None:
    out = tmp_path / "kaito"
    args = ["model=phi3_mini", "method=qlora", "hydra/launcher=kaito", "dataset.limit=20"]
    result = run_train([*args, f"hydra.sweep.dir={out}"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    configmap, workspace = yaml.safe_load_all((out / "0" / kaito.MANIFEST).read_text())
    assert kaito_checks.rule_problems(configmap, workspace) == []
    rows = (out / "0" / "data" / kaito.DATA_FILE).read_text().splitlines()
    assert len(rows) == 20 and "messages" in json.loads(rows[0])
    assert not list(tmp_path.rglob("adapter_model.safetensors"))  # nothing trained here
    refused = run_train(["model=phi3_mini", "method=dora", "hydra/launcher=kaito"], tmp_path)
    assert refused.returncode == 2
    assert "method=dora" in refused.stderr and "Kaito" in refused.stderr


@pytest.mark.e2e
def test_bad_launcher_field_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_train(["hydra/launcher=azureml", "hydra.launcher.compute="], tmp_path)
    assert result.returncode == 2 and "hydra.launcher.compute" in result.stderr
    assert "Traceback" not in result.stderr
    typo = run_train(["hydra/launcher=azureml", "hydra.launcher.computer=a100"], tmp_path)
    assert typo.returncode == 2 and "Did you mean 'compute'?" in typo.stderr
    show = ["hydra/launcher=azureml", "--cfg", "hydra", "-p", "hydra.launcher"]
    shown = run_train(show, tmp_path)  # --cfg prints; it does not write a job
    assert shown.returncode == 0 and "compute: gpu-cluster" in shown.stdout


def test_search_sweepers_are_refused_with_remote_launchers() -> None:
    from framework.launchers.remote import launcher_problems

    cfg = composed(["+sweep=optuna", *SWEEP])
    (problem,) = launcher_problems(cfg)
    assert "hydra/launcher=azureml" in problem and "grid" in problem


@pytest.mark.e2e
def test_kaito_sweep_trials_get_distinct_workspace_names(tmp_path: Path) -> None:
    out = tmp_path / "kaito"
    args = ["-m", "model=phi3_mini", "method=qlora", "method.r=4,8", "hydra/launcher=kaito"]
    result = run_train([*args, "dataset.limit=4", f"hydra.sweep.dir={out}"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    names, ranks = set(), set()
    for manifest in sorted(out.glob(f"*/{kaito.MANIFEST}")):
        configmap, workspace = yaml.safe_load_all(manifest.read_text())
        names.add(workspace["metadata"]["name"])
        ranks.add(training(configmap)["LoraConfig"]["r"])
    assert len(names) == 2 and ranks == {4, 8}


def test_azureml_names_search_paths_outside_the_code_folder(tmp_path: Path) -> None:
    cfg = composed([*SWEEP, f"hydra.searchpath=[file://{tmp_path}]"])
    notes = azureml.not_carried_over(cfg, ROOT)
    assert any(str(tmp_path) in n and "outside the project folder" in n for n in notes)
    assert not any("sweeps" in n for n in azureml.not_carried_over(composed(SWEEP), ROOT))
