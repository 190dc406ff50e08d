"""/v1/models and /v1/chat/completions: answers from fine-tuned runs (plain or SSE stream)."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import StreamingResponse

from framework.service.auth import project_of
from framework.service.db import Job, new_id
from framework.service.errors import api_error
from framework.service.jobs import model_presets

router = APIRouter()
BODY = Body(...)  # the JSON body as a dict (OpenAI requests carry extension fields)
CACHED_MODELS = 4  # two fine-tuned models and their bases


class ModelCache:
    """The most recently used fine-tuned models, loaded once each (one generation at a time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: OrderedDict[str, tuple[Any, Any, Any]] = OrderedDict()

    def get(self, run_dir: Path, base: bool = False) -> tuple[Any, Any, Any]:
        """(model, tokenizer, run) of a run dir, or of its base model before training (a
        full fine-tune's base is loaded on its own); call with self.lock held."""
        key = f"{run_dir}#base" if base else str(run_dir)
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        import torch

        from framework.inference.load import base_factory, load_model, load_run_tokenizer
        from framework.inference.run_dir import open_run_dir

        run = open_run_dir(str(run_dir))
        tokenizer = load_run_tokenizer(run)
        if base:
            model = base_factory(run, tokenizer)().eval()
        else:
            model = load_model(run, tokenizer, torch.device("cpu"))
        self.models[key] = (model, tokenizer, run)
        while len(self.models) > CACHED_MODELS:
            self.models.popitem(last=False)
        return self.models[key]


def preload() -> None:
    """Import torch, transformers and peft ahead of the first chat request (~15 s here)."""
    import peft  # noqa: F401

    import framework.inference.load  # noqa: F401


@router.get("/v1/models")
def list_models(request: Request, project: str = Depends(project_of)) -> dict[str, Any]:
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "hydratune"}
        for name in model_presets(request.app.state.config_dir)
    ]
    with request.app.state.db.session() as session:
        jobs = session.execute(
            sa.select(Job)
            .where(Job.project == project, Job.status == "succeeded")
            .order_by(Job.seq)
        ).scalars()
        data += [
            {
                "id": j.fine_tuned_model,
                "object": "model",
                "created": j.finished_at,
                "owned_by": project,
            }
            for j in jobs
        ]
    return {"object": "list", "data": data}


def _job_of_model(request: Request, project: str, model: str) -> Job:
    with request.app.state.db.session() as session:
        job = session.execute(
            sa.select(Job).where(
                Job.project == project, Job.fine_tuned_model == model, Job.status == "succeeded"
            )
        ).scalar_one_or_none()
    if job is None:
        raise api_error(
            404,
            f"The model '{model}' does not exist or you do not have access to it.",
            "model",
            "model_not_found",
        )
    return job


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise api_error(400, "'messages' must be a non-empty list", "messages")
    out = []
    for index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # [{"type": "text", "text": ...}]
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise api_error(
                400, f"messages[{index}]: needs a role and text content", f"messages[{index}]"
            )
        out.append({"role": role, "content": content})
    return out


def generate(
    cache: ModelCache,
    run_dir: Path,
    messages: list[dict[str, str]],
    body: dict[str, Any],
    base: bool = False,
) -> tuple[str, int, int, str]:
    """(text, prompt tokens, completion tokens, finish reason) for a conversation, from the
    fine-tuned model or (base=True) the model it started from."""
    import torch

    from framework.inference.generate import (
        Sampling,
        conversation,
        generate_tokens,
        prompt_ids,
        stop_token_ids,
    )

    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 128
    temperature = body.get("temperature")
    sampling = Sampling(
        max_new_tokens=max(1, min(int(max_tokens), 4096)),
        do_sample=bool(temperature),  # temperature 0 or unset: greedy
        temperature=float(temperature or 1.0),
        top_p=float(body.get("top_p") or 1.0),
    )
    with cache.lock:
        model, tokenizer, run = cache.get(run_dir, base)
        if body.get("seed") is not None:
            torch.manual_seed(int(body["seed"]))
        history = conversation(messages, run.cfg.dataset.system_prompt)
        prompt = prompt_ids(tokenizer, history)
        stop = stop_token_ids(tokenizer, model)
        tokens = generate_tokens(model, prompt, sampling, stop, int(tokenizer.pad_token_id))
        text = str(tokenizer.decode(tokens, skip_special_tokens=True)).strip()
    reason = "length" if len(tokens) >= sampling.max_new_tokens else "stop"
    return text, len(prompt), len(tokens), reason


@router.post("/v1/chat/completions", response_model=None)
def chat(
    request: Request, body: dict[str, Any] = BODY, project: str = Depends(project_of)
) -> dict[str, Any] | StreamingResponse:
    model = body.get("model")
    if not isinstance(model, str):
        raise api_error(400, "'model' is required", "model")
    messages = _messages(body)
    job = _job_of_model(request, project, model)
    text, prompt_tokens, completion_tokens, reason = generate(
        request.app.state.models, Path(job.job_dir) / "run", messages, body
    )
    completion_id, created = new_id("chatcmpl"), int(time.time())
    if body.get("stream"):
        return StreamingResponse(
            _stream(completion_id, created, model, text, reason), media_type="text/event-stream"
        )
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _stream(completion_id: str, created: int, model: str, text: str, reason: str) -> Iterator[str]:
    """Server-sent chat.completion.chunk events: the role, the text word by word, the end."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = text.split(" ")
    for index, word in enumerate(words):
        yield chunk({"content": word if index == 0 else " " + word})
    yield chunk({}, reason)
    yield "data: [DONE]\n\n"
