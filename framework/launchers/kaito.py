"""Kaito on Kubernetes: the tuning Workspace + ConfigMap documents of a composed run (names,
presets, method mapping, training_config.yaml); checks in kaito_checks, files in kaito_output."""

from __future__ import annotations

import re
from typing import Any

import yaml
from omegaconf import DictConfig

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


def method_config(cfg: DictConfig) -> Any:
    from framework.builders.method import build_method

    return build_method(cfg.method)


def kaito_method(cfg: DictConfig) -> tuple[str | None, str]:
    """('lora' | 'qlora', '') for what Kaito can express, else (None, the reason)."""
    from framework.methods.builtin.lora import LoraFamily

    method = method_config(cfg)
    name = str(cfg.method.name)
    if not isinstance(method, LoraFamily) or method.use_dora:
        what = method.capabilities.description or name
        return None, (
            f"method={name} ({what}) cannot run on Kaito: Kaito's tuning.method is "
            f"{' or '.join(METHODS)} (peft LoRA, on a full-precision or a bitsandbytes base); "
            "use method=lora or method=qlora"
        )
    return ("qlora" if method.quantization() is not None else "lora"), ""


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

    method = method_config(cfg)
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
