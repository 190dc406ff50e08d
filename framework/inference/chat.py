"""An interactive chat loop over any reply engine: history, /reset and /exit."""

from __future__ import annotations

from collections.abc import Callable

from framework.errors import UserError
from framework.inference.generate import Message, ReplyEngine, conversation

EXIT_COMMANDS = ("/exit", "/quit")
RESET_COMMAND = "/reset"


def chat_loop(
    engine: ReplyEngine,
    system_prompt: str | None,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> int:
    """Chat until /exit, /quit, end of input or Ctrl-C; return the number of replies."""
    write("chat: type a message; /reset clears the history, /exit (or Ctrl-D) quits")
    history: list[Message] = []
    replies = 0
    while True:
        try:
            line = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            write("")
            return replies
        if line in EXIT_COMMANDS:
            return replies
        if line == RESET_COMMAND:
            history = []
            write("(history cleared)")
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        try:
            answer = engine.reply(conversation(history, system_prompt))
        except UserError as error:  # e.g. the history outgrew the context: say so, go on
            history.pop()
            write(f"error: {error}")
            continue
        history.append({"role": "assistant", "content": answer})
        replies += 1
        write(f"assistant> {answer}")
