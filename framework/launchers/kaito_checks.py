"""Kaito's own admission rules, checked before anything is written: what the run asks for
that Kaito cannot express, and what its documents would be refused for."""

from __future__ import annotations

import posixpath
import re
from typing import Any

import yaml
from omegaconf import DictConfig

from framework.config.strict import is_auto_lr
from framework.errors import allowed_list
from framework.launchers.kaito import (
    DNS_LABEL,
    METHODS,
    OUTPUT_BASE,
    SECTIONS,
    TUNING_PRESETS,
    documents,
    kaito_method,
    preset_for,
)


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
    if is_auto_lr(cfg.optim.lr):
        found.append(
            "optim.lr=auto cannot run on Kaito: its tuning job takes a fixed learning rate; run "
            "train.py run.find_lr=true here and pass its suggestion as optim.lr=<number>"
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
