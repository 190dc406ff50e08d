"""Chat template / EOS check: assistant turns must end with the token generation stops at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.data.render import RenderError, chat_pieces
from framework.data.rows import ChatRow
from framework.inference.generate import stop_token_ids

PROBE = ChatRow((("user", "Hi"), ("assistant", "Hello")), "eos-check")


@dataclass(frozen=True)
class EosCheck:
    """The verdict and what was seen (for the log and the model card)."""

    ok: bool
    detail: str


def check_chat_template_eos(tokenizer: Any, model: Any, system_prompt: str | None) -> EosCheck:
    """Render an assistant turn as training does and compare its last token with the stop ids.

    Training puts the loss on the whole assistant piece, so the model learns to emit its last
    non-whitespace token; generation (framework.inference.generate) stops at the tokenizer's
    EOS or the generation config's. The two must agree, or a trained model runs on.
    """
    if tokenizer.chat_template is None:
        return EosCheck(False, "the tokenizer has no chat template (plain rendering)")
    stop_ids = stop_token_ids(tokenizer, model)
    try:
        pieces = chat_pieces(PROBE, tokenizer, system_prompt)
    except RenderError as error:
        return EosCheck(False, str(error))
    answers = [ids for ids, answer in pieces if answer]
    if not answers or not stop_ids:
        return EosCheck(False, "no assistant turn or no EOS token to compare")
    ids = list(answers[-1])  # the trained tokens of the reply, as training sees them
    while ids and ids[-1] not in stop_ids and not tokenizer.decode([ids[-1]]).strip():
        ids.pop()  # trailing whitespace after the end-of-turn token
    names = ", ".join(f"{tokenizer.convert_ids_to_tokens(i)}={i}" for i in stop_ids)
    last = tokenizer.convert_ids_to_tokens(ids[-1]) if ids else "nothing"
    if ids and ids[-1] in stop_ids:
        return EosCheck(True, f"assistant turns end with {last}")
    return EosCheck(
        False,
        f"the chat template ends an assistant turn with {last!r}, but generation stops at "
        f"{names}: a trained model would not stop where training taught it to",
    )


def check_saved_tokenizer(tokenizer_dir: Path, model: Any, system_prompt: str | None) -> EosCheck:
    """The check on the tokenizer as saved in the run dir (what inference loads)."""
    from transformers import AutoTokenizer

    return check_chat_template_eos(
        AutoTokenizer.from_pretrained(str(tokenizer_dir)), model, system_prompt
    )
