"""The `dnsctl` commands the documentation shows: found in the fenced blocks and inline code of the docs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = (
    REPO / "README.md",
    REPO / "deploy" / "README.md",
    *sorted((REPO / "examples").glob("*/README.md")),
)

_FENCE = re.compile(r"^\s*```")
_INLINE = re.compile(r"`([^`\n]+)`")
_ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=")
_COMMENT = re.compile(r"(?:^|\s)#\s*(.*)$")
_EXIT = re.compile(r"^exit (\d+)\b")


@dataclass(frozen=True)
class Command:
    doc: str  # relative to the repository
    line: int
    text: str  # as the doc shows it, comment removed, continuations joined
    env: tuple[tuple[str, str], ...]
    args: tuple[str, ...]  # after `dnsctl`
    exit: int | None  # from a `# exit N` comment

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def _parse(doc: str, line: int, text: str, *, inline: bool) -> Command | None:
    comment = _COMMENT.search(text)
    code = text[: comment.start()].strip() if comment else text.strip()
    try:
        tokens = shlex.split(code)
    except ValueError:
        return None
    env = []
    while tokens and _ENV.match(tokens[0]):
        name, _, value = tokens.pop(0).partition("=")
        env.append((name, value))
    if not tokens or tokens[0] != "dnsctl":
        return None
    args = tokens[1:]
    if args and args[-1] == "&":  # started in the background
        args = args[:-1]
    if inline and len(args) < 2:
        return None  # `dnsctl run`, `dnsctl plan`: the name of a command in a sentence, not a command line
    match = _EXIT.match(comment.group(1)) if comment else None
    return Command(
        doc, line, " ".join(code.split()), tuple(env), tuple(args), int(match.group(1)) if match else None
    )


def documented_commands() -> list[Command]:
    found: list[Command] = []
    for path in DOCS:
        doc = str(path.relative_to(REPO))
        lines = path.read_text(encoding="utf-8").splitlines()
        fenced = False
        pending, start = "", 0
        for number, raw in enumerate(lines, 1):
            if _FENCE.match(raw):
                fenced = not fenced
                continue
            if fenced:
                if not pending:
                    start = number
                if raw.rstrip().endswith("\\"):
                    pending += raw.rstrip()[:-1] + " "
                    continue
                command = _parse(doc, start, pending + raw.strip(), inline=False)
                pending = ""
            else:
                for span in _INLINE.findall(raw):
                    command = _parse(doc, number, span, inline=True)
                    if command is not None:
                        found.append(command)
                continue
            if command is not None:
                found.append(command)
    return found
