"""Kaito on Kubernetes: a tuning Workspace + ConfigMap from a composed run, and a serving one."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from framework.errors import UserError, allowed_list

API_VERSION = "kaito.sh/v1beta1"
MANIFEST = "kaito-tuning.yaml"
DATA_FILE = "train.jsonl"
# Kaito presets that support tuning (kaito-project/kaito supported_models, tuning: true).
TUNING_PRESETS = (
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "falcon-7b",
    "falcon-7b-instruct",
    "qwen2.5-coder-7b-instruct",
)
METHODS = ("lora", "qlora")
# The only sections Kaito accepts in training_config.yaml (TrainingConfig in its API).
SECTIONS = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DataCollator",
    "DatasetConfig",
)
OUTPUT_BASE = "/mnt"
OPTIMIZERS = {"adamw": "adamw_torch", "sgd": "sgd"}
SCHEDULERS = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_ADAPTERS = 10


def preset_name(model: DictConfig, chosen: Any = None) -> str | None:
    """`chosen`, else the model's hub id lower-cased (microsoft/Phi-3-mini-4k-instruct ->
    phi-3-mini-4k-instruct), the name Kaito's presets use."""
    if chosen:
        return str(chosen)
    hub_id = model.get("hub_id")
    return str(hub_id).rsplit("/", 1)[-1].lower() if hub_id else None


def preset_for(cfg: DictConfig) -> str | None:
    """The tuning preset: hydra.launcher.preset, else from model.hub_id."""
    return preset_name(cfg.model, cfg.hydra.launcher.get("preset"))


def dns_name(text: str) -> str:
    """A Kubernetes DNS-1123 label from a run name (lower case, '-', at most 63 characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].strip("-") or "hydratune"


def workspace_name(cfg: DictConfig) -> str:
    """hydra.launcher.name, else run.name, as a DNS-1123 label."""
    return dns_name(str(cfg.hydra.launcher.get("name") or cfg.run.name))


def _method(cfg: DictConfig) -> Any:
    from framework.builders.method import build_method

    return build_method(cfg.method)


def kaito_method(cfg: DictConfig) -> tuple[str | None, str]:
    """('lora' | 'qlora', '') for what Kaito can express, else (None, the reason)."""
    from framework.methods.builtin.lora import LoraFamily

    method = _method(cfg)
    name = str(cfg.method.name)
    if not isinstance(method, LoraFamily) or method.use_dora:
        what = method.capabilities.description or name
        return None, (
            f"method={name} ({what}) cannot run on Kaito: Kaito's tuning.method is "
            f"{' or '.join(METHODS)} (peft LoRA, on a full-precision or a bitsandbytes base); "
            "use method=lora or method=qlora"
        )
    return ("qlora" if method.quantization() is not None else "lora"), ""


def config_problems(cfg: DictConfig) -> list[str]:
    """What in the run Kaito's tuning job cannot express; each with the reason."""
    found = []
    method, why = kaito_method(cfg)
    if method is None:
        found.append(why)
    if str(cfg.task.name) != "causal_lm":
        found.append(
            f"task={cfg.task.name} cannot run on Kaito: its tuning job trains text generation "
            "(task=causal_lm) only"
        )
    strategy = str(cfg.hardware.strategy)
    if strategy.startswith("deepspeed") or strategy.startswith("fsdp"):
        found.append(
            f"hardware={cfg.hardware.name} (strategy {strategy}) cannot run on Kaito: its tuning "
            "job trains with Hugging Face Trainer's DDP and takes no DeepSpeed or FSDP settings; "
            "use hardware=single_gpu or multi_gpu (Kaito uses every GPU of resource.instanceType)"
        )
    nodes = cfg.hardware.num_nodes
    if str(nodes) != "1" and str(nodes) != "auto":
        found.append(
            f"hardware.num_nodes={nodes} cannot run on Kaito: a tuning workspace runs on one node"
        )
    preset = preset_for(cfg)
    if preset not in TUNING_PRESETS:
        found.append(
            f"model={cfg.model.name} maps to Kaito preset '{preset}', which Kaito cannot tune "
            f"(tuning presets: {allowed_list(TUNING_PRESETS)}); pick such a model "
            "(model=phi3_mini, phi3_medium_128k, ...) or set hydra.launcher.preset"
        )
    return found


def _quantization(method: Any) -> dict[str, Any]:
    spec = method.quantization()
    if spec is None:
        return {"load_in_4bit": False, "load_in_8bit": False}
    if spec.bits == 8:
        return {"load_in_8bit": True, "llm_int8_threshold": spec.int8_threshold}
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": spec.quant_type,
        "bnb_4bit_compute_dtype": spec.compute_dtype,
        "bnb_4bit_use_double_quant": spec.double_quant,
        "bnb_4bit_quant_storage": spec.quant_storage,
    }


def _dataset_config(cfg: DictConfig) -> dict[str, Any]:
    fraction = float(cfg.dataset.val_fraction)
    columns = (
        {"response_column": "text"}
        if str(cfg.dataset.format) == "text"
        else {"messages_column": "messages"}
    )
    return {
        "dataset_path": DATA_FILE,
        "shuffle_dataset": True,
        "shuffle_seed": int(cfg.run.seed),
        "train_test_split": round(1.0 - fraction, 6),
        **columns,
    }


def training_config(cfg: DictConfig) -> dict[str, Any]:
    """training_config.yaml: method hyper-parameters, quantization, optimizer, steps, data."""
    from framework.builders.method import apply_context
    from framework.methods.peft_common import resolve_targets

    method = _method(cfg)
    mc, optim, trainer = method.config, cfg.optim, cfg.trainer
    lora = {
        "r": int(mc.r),
        "lora_alpha": int(mc.alpha),
        "lora_dropout": float(mc.dropout),
        "target_modules": resolve_targets(list(mc.target_modules), apply_context(cfg)),
        "bias": str(mc.bias),
        "use_rslora": bool(mc.use_rslora),
    }
    args: dict[str, Any] = {
        "output_dir": str(cfg.hydra.launcher.output_dir),
        "learning_rate": float(optim.lr),
        "weight_decay": float(optim.weight_decay),
        "warmup_steps": int(optim.warmup_steps),
        "lr_scheduler_type": SCHEDULERS.get(str(optim.scheduler), str(optim.scheduler)),
        "optim": OPTIMIZERS.get(str(optim.name), str(optim.name)),
        "max_steps": int(trainer.max_steps),
        "per_device_train_batch_size": int(cfg.dataset.batch_size),
        "gradient_accumulation_steps": int(trainer.accumulate_grad_batches),
        "seed": int(cfg.run.seed),
        "ddp_find_unused_parameters": False,
        "save_strategy": "steps",
        "save_steps": int(cfg.run.checkpoint_every_n_steps),
        "logging_steps": int(trainer.log_every_n_steps),
    }
    if trainer.gradient_clip_val is not None:
        args["max_grad_norm"] = float(trainer.gradient_clip_val)
    if getattr(mc, "gradient_checkpointing", False):
        args["gradient_checkpointing"] = True
    if str(optim.name) == "adamw":
        args.update(
            adam_beta1=float(optim.betas[0]),
            adam_beta2=float(optim.betas[1]),
            adam_epsilon=float(optim.eps),
        )
    return {
        "training_config": {
            "ModelConfig": {
                "torch_dtype": str(cfg.model.dtype),
                "local_files_only": True,
                "device_map": "auto",
                "trust_remote_code": bool(cfg.model.trust_remote_code),
            },
            "QuantizationConfig": _quantization(method),
            "LoraConfig": lora,
            "TrainingArguments": args,
            "DataCollator": {"mlm": False},  # causal language modelling
            "DatasetConfig": _dataset_config(cfg),
        }
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the ConfigMap's training_config.yaml) as readable `|` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def dump_all(docs: list[dict[str, Any]]) -> str:
    """Kubernetes manifests, one YAML document each."""
    return yaml.dump_all(docs, Dumper=_BlockDumper, sort_keys=False)


def images(cfg: DictConfig) -> tuple[str, str]:
    """(data image, adapter image) in hydra.launcher.registry, tagged hydra.launcher.tag."""
    launcher, name = cfg.hydra.launcher, workspace_name(cfg)
    base = str(launcher.registry).rstrip("/")
    return f"{base}/{name}-data:{launcher.tag}", f"{base}/{name}-adapter:{launcher.tag}"


def documents(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ConfigMap, Workspace) for the run's tuning job."""
    launcher, name = cfg.hydra.launcher, workspace_name(cfg)
    method, _ = kaito_method(cfg)
    config_name = f"{name}-tuning"
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_name, "namespace": str(launcher.namespace)},
        "data": {"training_config.yaml": yaml.safe_dump(training_config(cfg), sort_keys=False)},
    }
    data_image, adapter_image = images(cfg)
    urls = [str(u) for u in launcher.input_urls]
    tuning_input: dict[str, Any] = {"urls": urls} if urls else {"image": data_image}
    if launcher.get("image_pull_secret") and not urls:
        tuning_input["imagePullSecrets"] = [str(launcher.image_pull_secret)]
    workspace = {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": {"name": name, "namespace": str(launcher.namespace)},
        "resource": {
            "instanceType": str(launcher.instance_type),
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "tuning": {
            "preset": {"name": preset_for(cfg)},
            "method": method,
            "config": config_name,
            "input": tuning_input,
            "output": {"image": adapter_image, "imagePushSecret": str(launcher.image_push_secret)},
        },
    }
    return configmap, workspace


def _truthy(section: dict[str, Any], key: str) -> bool:
    value = section.get(key)
    return value is True


def rule_problems(configmap: dict[str, Any], workspace: dict[str, Any]) -> list[str]:
    """Kaito's admission rules (its webhook), checked on the documents before they are written."""
    found = []
    name = str(workspace.get("metadata", {}).get("name", ""))
    if not DNS_LABEL.match(name):
        found.append(f"metadata.name='{name}' is not a DNS-1123 label")
    if not workspace.get("resource", {}).get("instanceType"):
        found.append("resource.instanceType is required (node auto-provisioning)")
    tuning = workspace.get("tuning") or {}
    method = str(tuning.get("method", "")).lower()
    if method not in METHODS:
        found.append(
            f"tuning.method='{tuning.get('method')}' is not allowed (allowed: lora, qlora)"
        )
    preset = (tuning.get("preset") or {}).get("name")
    if preset not in TUNING_PRESETS:
        found.append(
            f"tuning.preset.name='{preset}' is not a Kaito tuning preset "
            f"(allowed: {allowed_list(TUNING_PRESETS)})"
        )
    sources = tuning.get("input") or {}
    if sum(bool(sources.get(k)) for k in ("urls", "image", "volume")) != 1:
        found.append("tuning.input: exactly one of urls, image or volume must be set")
    for url in sources.get("urls") or []:
        if not re.match(r"^https?://[^/\s]+", str(url)):
            found.append(f"tuning.input.urls: '{url}' is not an http(s) URL")
    out = tuning.get("output") or {}
    if sum(bool(out.get(k)) for k in ("image", "volume")) != 1:
        found.append("tuning.output: exactly one of image or volume must be set")
    if out.get("image") and not out.get("imagePushSecret"):
        found.append("tuning.output.imagePushSecret is required with tuning.output.image")
    if tuning.get("config") != configmap.get("metadata", {}).get("name"):
        found.append("tuning.config must name the ConfigMap written with it")
    found += training_config_problems(configmap, method)
    return found


def training_config_problems(configmap: dict[str, Any], method: str) -> list[str]:
    """Kaito's checks of training_config.yaml: sections, quantization per method, output_dir."""
    text = (configmap.get("data") or {}).get("training_config.yaml")
    if text is None:
        return ["ConfigMap data has no training_config.yaml"]
    sections = (yaml.safe_load(text) or {}).get("training_config")
    if not isinstance(sections, dict):
        return ["training_config.yaml: 'training_config' must be a map"]
    found = [
        f"training_config.yaml: section {s} is not one Kaito accepts "
        f"(allowed: {', '.join(SECTIONS)})"
        for s in sections
        if s not in SECTIONS
    ]
    quant = sections.get("QuantizationConfig") or {}
    four, eight = _truthy(quant, "load_in_4bit"), _truthy(quant, "load_in_8bit")
    if four and eight:
        found.append("QuantizationConfig: load_in_4bit and load_in_8bit cannot both be true")
    if method == "lora" and (four or eight):
        found.append("QuantizationConfig: method lora forbids load_in_4bit / load_in_8bit")
    if method == "qlora" and not (four or eight):
        found.append("QuantizationConfig: method qlora needs load_in_4bit or load_in_8bit")
    output_dir = (sections.get("TrainingArguments") or {}).get("output_dir")
    if output_dir is not None:
        clean = posixpath.normpath(posixpath.join(OUTPUT_BASE, str(output_dir)))
        if clean == OUTPUT_BASE or not clean.startswith(OUTPUT_BASE + "/"):
            found.append(
                f"TrainingArguments.output_dir='{output_dir}' must be a directory "
                f"under {OUTPUT_BASE}"
            )
    return found


def kaito_problems(cfg: DictConfig) -> list[str]:
    """Every reason this run cannot become a Kaito tuning workspace (empty: it can)."""
    found = config_problems(cfg)
    if found:
        return found
    configmap, workspace = documents(cfg)
    return [f"Kaito would refuse it: {p}" for p in rule_problems(configmap, workspace)]


def not_carried_over(cfg: DictConfig) -> list[str]:
    """Settings the Kaito job does not take (it picks them itself)."""
    notes = [
        f"hardware.devices={cfg.hardware.devices}: Kaito trains on every GPU of "
        f"resource.instanceType={cfg.hydra.launcher.instance_type}",
        f"hardware.precision={cfg.hardware.precision}: Kaito loads the base in "
        f"ModelConfig.torch_dtype={cfg.model.dtype}",
        f"dataset.max_length={cfg.dataset.max_length}, packing and the chat template: Kaito's "
        "trainer (SFTTrainer) uses the preset's tokenizer and its own defaults",
    ]
    quant = _method(cfg).quantization()
    if quant is not None and quant.bits == 4 and quant.compute_dtype == "float32":
        notes.append(
            "method.compute_dtype=float32 is written as is (the CPU default); on Kaito's GPUs "
            "method.compute_dtype=bfloat16 is faster"
        )
    if str(cfg.method.name) not in METHODS:
        notes.append(f"method={cfg.method.name} runs as Kaito's {kaito_method(cfg)[0]}")
    if not bool(cfg.dataset.get("train_on_prompt", False)):
        notes.append("loss on completions only: Kaito's trainer decides the loss mask")
    return notes


def rows_as_records(cfg: DictConfig) -> list[dict[str, Any]]:
    """The run's dataset rows in Kaito's input formats (messages, or text)."""
    from framework.builders.data import row_spec, source_spec
    from framework.data.load import load_rows
    from framework.data.rows import ChatRow, TextRow

    loaded = load_rows(source_spec(cfg.dataset), row_spec(cfg.dataset), str(cfg.dataset.on_bad_row))
    system = cfg.dataset.get("system_prompt")
    records: list[dict[str, Any]] = []
    for row in loaded.rows:
        if isinstance(row, ChatRow):
            messages = [{"role": r, "content": c} for r, c in row.messages]
            if system and not any(m["role"] == "system" for m in messages):
                messages.insert(0, {"role": "system", "content": str(system)})
            records.append({"messages": messages})
        elif isinstance(row, TextRow):
            records.append({"text": row.text})
        else:
            raise UserError(
                f"dataset={cfg.dataset.name} has {type(row).__name__}s, which Kaito's tuning "
                "job cannot read (it takes conversations or text)"
            )
    limit = cfg.dataset.get("limit")
    return records[: int(limit)] if limit else records


@dataclass
class Written:
    """What the Kaito launcher wrote, the steps left to the user, and what was not carried."""

    manifest: Path
    steps: list[str] = field(default_factory=list)
    not_carried_over: list[str] = field(default_factory=list)


def write_tuning(cfg: DictConfig, job_dir: Path) -> Written:
    """Write kaito-tuning.yaml (ConfigMap + Workspace) and, unless input_urls, the data image."""
    found = kaito_problems(cfg)
    if found:
        raise UserError("\n  ".join(["the Kaito workspace cannot be written:", *found]))
    configmap, workspace = documents(cfg)
    job_dir.mkdir(parents=True, exist_ok=True)
    manifest = job_dir / MANIFEST
    manifest.write_text(dump_all([configmap, workspace]))
    written = Written(manifest=manifest, not_carried_over=not_carried_over(cfg))
    if not cfg.hydra.launcher.input_urls:
        data_dir = job_dir / "data"
        data_dir.mkdir(exist_ok=True)
        lines = [json.dumps(r, ensure_ascii=False) for r in rows_as_records(cfg)]
        (data_dir / DATA_FILE).write_text("\n".join(lines) + "\n")
        (data_dir / "Dockerfile").write_text(f"FROM busybox:latest\nCOPY {DATA_FILE} /data/\n")
        data_image, _ = images(cfg)
        written.steps += [
            f"docker build -t {data_image} {data_dir} && docker push {data_image}",
        ]
    written.steps += [
        f"kubectl create secret docker-registry {cfg.hydra.launcher.image_push_secret} "
        f"--docker-server={cfg.hydra.launcher.registry} ... (once per namespace)",
        f"kubectl apply -f {manifest}",
    ]
    return written


def inference_workspace(
    preset: str, adapter_name: str, adapter_image: str, instance_type: str, strength: str = "1.0"
) -> dict[str, Any]:
    """A Workspace serving the base preset with one adapter (inference.adapters[])."""
    name = dns_name(f"{adapter_name}-serve")
    return {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": {"name": name},
        "resource": {
            "instanceType": instance_type,
            "labelSelector": {"matchLabels": {"apps": name}},
        },
        "inference": {
            "preset": {"name": preset},
            "adapters": [
                {
                    "source": {"name": dns_name(adapter_name), "image": adapter_image},
                    "strength": strength,
                }
            ],
        },
    }


def adapter_problems(workspace: dict[str, Any]) -> list[str]:
    """Kaito's adapter rules: a DNS name, an image or volume (no URLs), strength in [0, 1]."""
    found = []
    adapters = (workspace.get("inference") or {}).get("adapters") or []
    if len(adapters) > MAX_ADAPTERS:
        found.append(f"inference.adapters: at most {MAX_ADAPTERS}")
    for adapter in adapters:
        source = adapter.get("source") or {}
        if not DNS_LABEL.match(str(source.get("name", ""))):
            found.append(f"inference.adapters.source.name='{source.get('name')}' is not a DNS name")
        if not (source.get("image") or source.get("volume")) or source.get("urls"):
            found.append("inference.adapters.source: an image or a volume, never urls")
        if not 0.0 <= float(adapter.get("strength", "1.0")) <= 1.0:
            found.append("inference.adapters.strength must be between 0 and 1")
    return found


def export_for_kaito(run: Any, settings: DictConfig, output: Path | None = None) -> list[str]:
    """export.py format=kaito: the adapter as an image build context, and the serving Workspace."""
    import shutil

    cfg = run.cfg
    method, why = kaito_method(cfg)
    if method is None:
        raise UserError(why.replace("cannot run on Kaito", "cannot be served by Kaito"))
    preset = preset_name(cfg.model, settings.get("preset"))
    if preset not in TUNING_PRESETS:
        raise UserError(
            f"the run's model ({cfg.model.name}) maps to Kaito preset '{preset}', which has no "
            f"adapter support here (presets: {allowed_list(TUNING_PRESETS)}); set kaito.preset"
        )
    if not run.adapter_dir.is_dir():
        raise UserError(f"{run.adapter_dir}: no adapter in this run dir (train.py writes it)")
    out = output or run.path / "export" / "kaito"
    name = dns_name(str(cfg.run.name))
    image = f"{str(settings.registry).rstrip('/')}/{name}-adapter:{settings.tag}"
    workspace = inference_workspace(
        preset, name, image, str(settings.instance_type), str(settings.strength)
    )
    found = adapter_problems(workspace)
    if found:
        raise UserError("\n  ".join(["Kaito would refuse the inference workspace:", *found]))
    if out.exists():
        shutil.rmtree(out / "adapter", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(run.adapter_dir, out / "adapter")
    # Kaito copies an adapter image's /data into the serving pod's adapter folder.
    (out / "Dockerfile").write_text("FROM busybox:latest\nCOPY adapter/ /data/\n")
    manifest = out / "kaito-inference.yaml"
    manifest.write_text(dump_all([workspace]))
    return [
        f"kaito: wrote {manifest} (preset {preset}, adapter {name})",
        f"  next: docker build -t {image} {out} && docker push {image}",
        f"  next: kubectl apply -f {manifest}",
        "  the serving node pulls the adapter image: give it pull access to the registry",
    ]
