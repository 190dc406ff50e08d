"""Render conversations with the tokenizer's chat template; mask everything but answers.

Correct by construction: for every trained assistant turn, the tokens before it are exactly
the tokens of what inference renders for the conversation so far with
add_generation_prompt=True (render_prompt, also used by framework.inference.generate), and
the trained tokens are the turn as the template writes it plus its end-of-turn marker
(<|end|>, <|eot_id|>, <|im_end|>, </s>, <end_of_turn>, ...). Whatever a template appends
after the last turn when it is not generating (Phi-3's EOS) is neither trained nor kept.
Renders are never assumed to extend each other: every prefix is checked, token by token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.data.rows import ChatRow
from framework.errors import UserError

IGNORE_INDEX = -100
TRAIN_ON = ("all", "last_turn")  # dataset.train_on: every assistant turn, or the last
_SYSTEM_PROBE = "hydratune-system-probe"
_FOLLOW_PROBE = "hydratune-next-turn-probe"
Message = dict[str, str]


@dataclass(frozen=True)
class Encoded:
    """Token ids and labels (IGNORE_INDEX where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool
    position_ids: list[int] | None = None  # set on packed sequences (restart per example)


class RenderError(UserError):
    """A row or chat template that cannot be rendered the same way in training and inference."""


def _model_label(tokenizer: Any) -> str:
    name = str(getattr(tokenizer, "name_or_path", "") or "").strip()
    return f"the chat template of {name}" if name else "the chat template"


def _render(tokenizer: Any, messages: list[Message], generation_prompt: bool) -> str:
    if not messages:
        return ""
    return str(
        tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    )


_SYSTEM_ROLE: dict[str, bool] = {}


def has_system_role(tokenizer: Any) -> bool:
    """Whether the chat template renders a system message (Gemma raises, Phi-3-medium drops it)."""
    template = tokenizer.chat_template
    if not isinstance(template, str):
        return True
    if template not in _SYSTEM_ROLE:
        probe = [{"role": "system", "content": _SYSTEM_PROBE}, {"role": "user", "content": "u"}]
        try:
            _SYSTEM_ROLE[template] = _SYSTEM_PROBE in _render(tokenizer, probe, True)
        except Exception:  # jinja2 TemplateError from raise_exception, or a role it lacks
            _SYSTEM_ROLE[template] = False
    return _SYSTEM_ROLE[template]


def template_messages(tokenizer: Any, messages: list[Message]) -> list[Message]:
    """The messages as given to the template: a system prompt the template cannot show is
    folded into the first user turn (Gemma, Mistral, Phi-3-medium have no system role)."""
    if not messages or messages[0]["role"] != "system" or has_system_role(tokenizer):
        return [dict(m) for m in messages]
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for m in rest:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def render_prompt(tokenizer: Any, messages: list[Message]) -> str:
    """What inference feeds the model: the conversation so far plus the generation prompt."""
    return _render(tokenizer, template_messages(tokenizer, messages), generation_prompt=True)


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _content_span(rest: str, content: str) -> int | None:
    """End of the reply inside `rest` (the template may trim it or write text before it)."""
    for variant in (content, content.strip(), content.rstrip(), content.lstrip()):
        if variant:
            at = rest.find(variant)
            if at >= 0:
                return at + len(variant)
    return 0 if not content.strip() else None


def _end_marker(tokenizer: Any, tail: str, follow_tail: str) -> str:
    """The end-of-turn text: what the template always writes after a reply, whatever follows.

    The common token prefix of the turn's tail when it is last (Phi-3 adds EOS there) and when
    another turn follows; trailing whitespace is left to the next prompt.
    """
    enc = tokenizer(tail, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    other = _ids(tokenizer, follow_tail)
    common = 0
    while common < min(len(ids), len(other)) and ids[common] == other[common]:
        common += 1
    end = int(offsets[common - 1][1]) if common else 0
    return tail[:end].rstrip()


def _turn_text(tokenizer: Any, messages: list[Message], index: int, prompt: str) -> str:
    """The trained text of assistant turn `index`: the reply as rendered + its end marker."""
    full = _render(tokenizer, messages[: index + 1], generation_prompt=False)
    if not full.startswith(prompt):
        raise _Inconsistent(
            "rendering the conversation with the reply does not start with the inference "
            "prompt (the template renders earlier turns differently when it adds the "
            "generation prompt)"
        )
    rest = full[len(prompt) :]
    end = _content_span(rest, messages[index]["content"])
    if end is None:
        raise _Inconsistent("the template does not write the assistant's reply verbatim")
    head, tail = rest[:end], rest[end:]
    following = messages[index + 1 : index + 2] or [{"role": "user", "content": _FOLLOW_PROBE}]
    try:
        follow = _render(tokenizer, messages[: index + 1] + following, generation_prompt=True)
    except Exception:
        follow = full
    follow_tail = follow[len(prompt) + len(head) :] if follow.startswith(prompt + head) else ""
    return head + _end_marker(tokenizer, tail, follow_tail)


class _Inconsistent(Exception):
    """Why a row cannot be rendered consistently (wrapped into a RenderError with the row)."""


def chat_examples(
    row: ChatRow, tokenizer: Any, system_prompt: str | None, train_on: str = "all"
) -> list[list[tuple[list[int], bool]]]:
    """Token pieces of a conversation, each flagged True when it is a trained assistant turn.

    Usually one example per row. When the inference prompt of a later turn does not extend the
    tokens of the earlier ones (a template that rewrites history, or a tokenizer that merges
    across the end of a reply), that turn starts a new example, so every trained turn still
    sits after exactly the tokens inference would feed the model.
    """
    messages = [{"role": r, "content": c} for r, c in row.messages]
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    if tokenizer.chat_template is None:
        plain = _plain_segments(messages, tokenizer.eos_token or "")
        return [[(_ids(tokenizer, text), answer) for text, answer in plain]]
    messages = template_messages(tokenizer, messages)
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if train_on == "last_turn":
        answers = answers[-1:]
    examples: list[list[tuple[list[int], bool]]] = []
    ids: list[int] = []
    for number, index in enumerate(answers, start=1):
        try:
            prompt = _render(tokenizer, messages[:index], generation_prompt=True)
            prompt_ids = _ids(tokenizer, prompt)
            turn = _ids(tokenizer, _turn_text(tokenizer, messages, index, prompt))
        except _Inconsistent as why:
            raise RenderError(
                f"{row.origin}: {_model_label(tokenizer)} cannot render assistant turn "
                f"{number} of this conversation consistently: {why}. Fix: set "
                "dataset.train_on=last_turn (trains only the final reply), or use a consistent "
                "template with model.chat_template=<name or path to a .jinja file>"
            ) from None
        except UserError:
            raise
        except Exception as error:  # the template's raise_exception, a role it lacks, ...
            raise RenderError(
                f"{row.origin}: {_model_label(tokenizer)} cannot render this conversation: "
                f"{type(error).__name__}: {error}. Fix the row (e.g. roles must alternate "
                "user/assistant), or pick another template with model.chat_template="
            ) from None
        if examples and prompt_ids[: len(ids)] == ids:
            examples[-1] += [(prompt_ids[len(ids) :], False), (turn, True)]
        else:  # the first turn, or a prompt that does not extend what was trained so far
            examples.append([(prompt_ids, False), (turn, True)])
        ids = prompt_ids + turn
    return [[(p, answer) for p, answer in example if p] for example in examples]


def chat_pieces(
    row: ChatRow, tokenizer: Any, system_prompt: str | None, train_on: str = "all"
) -> list[tuple[list[int], bool]]:
    """The pieces of the row's last example (all of it when the row renders as one)."""
    examples = chat_examples(row, tokenizer, system_prompt, train_on)
    return examples[-1] if examples else []


def _plain_segments(messages: list[Message], eos: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for msg in messages:
        if msg["role"] == "assistant":
            out.append((msg["content"] + eos, True))
        else:
            out.append((msg["content"] + "\n", False))
    return out


def encode_pieces(
    pieces: list[tuple[list[int], bool]], max_length: int, train_on_prompt: bool
) -> Encoded:
    """Concatenate token pieces (labels only on answers unless train_on_prompt); truncate."""
    ids: list[int] = []
    labels: list[int] = []
    for piece_ids, answer in pieces:
        ids.extend(piece_ids)
        labels.extend(piece_ids if (answer or train_on_prompt) else [IGNORE_INDEX] * len(piece_ids))
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], labels[:max_length], truncated)


def encode(
    pieces: list[tuple[str, bool]], tokenizer: Any, max_length: int, train_on_prompt: bool
) -> Encoded:
    """Tokenize text pieces without extra special tokens; truncate to max_length."""
    return encode_pieces(
        [(_ids(tokenizer, text), answer) for text, answer in pieces], max_length, train_on_prompt
    )
