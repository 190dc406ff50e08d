"""Kaito files: the tuning manifest and data of a run or trial, and the inference Workspace
that serves a finished run's adapter (export.py format=kaito)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.errors import UserError, allowed_list
from framework.launchers.kaito import (
    API_VERSION,
    DATA_FILE,
    DNS_LABEL,
    MANIFEST,
    MAX_ADAPTERS,
    METHODS,
    TUNING_PRESETS,
    dns_name,
    documents,
    dump_all,
    images,
    kaito_method,
    method_config,
    preset_name,
)
from framework.launchers.kaito_checks import kaito_problems


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
    quant = method_config(cfg).quantization()
    if quant is not None and quant.bits == 4 and quant.compute_dtype == "float32":
        notes.append(
            "method.compute_dtype=float32 is written as is (the CPU default); on Kaito's GPUs "
            "method.compute_dtype=bfloat16 is faster"
        )
    if str(cfg.method.name) not in METHODS:
        notes.append(f"method={cfg.method.name} runs as Kaito's {kaito_method(cfg)[0]}")
    if not bool(cfg.dataset.train_on_prompt):
        notes.append("loss on completions only: Kaito's trainer decides the loss mask")
    return notes


def rows_as_records(cfg: DictConfig) -> list[dict[str, Any]]:
    """The run's dataset rows in Kaito's input formats (messages, or text)."""
    from framework.builders.data import row_spec, source_spec
    from framework.data.load import load_rows
    from framework.data.rows import ChatRow, TextRow

    loaded = load_rows(source_spec(cfg.dataset), row_spec(cfg.dataset), str(cfg.dataset.on_bad_row))
    system = cfg.dataset.system_prompt
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
    limit = cfg.dataset.limit
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
