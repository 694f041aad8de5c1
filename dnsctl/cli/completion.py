"""Shell completion scripts for bash, zsh and fish, generated from the command-line parser.

The parser is the single source of commands and options: a new option completes without any edit here.
A positional argument named `profile` or `endpoint` completes the names in the configuration (like
kubectl completes resource names): the scripts ask `dnsctl __complete line WORDS...`, which reads the
configuration the command line names with -c/--config (else $DNSCTL_CONFIG, else dnsctl.yaml).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")
HELPER = "__complete"  # the hidden first word the scripts call dnsctl with
NAMED = ("profile", "endpoint")  # positional arguments completed from the configuration


@dataclass(frozen=True, slots=True)
class Option:
    flags: tuple[str, ...]
    help: str
    takes_value: bool
    choices: tuple[str, ...] = ()
    files: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]
    words: tuple[str, ...] = ()  # the choices of its positional arguments
    names: tuple[str, ...] = ()  # its positional arguments completed from the configuration, in order


@dataclass(frozen=True, slots=True)
class Cli:
    prog: str
    options: tuple[Option, ...]  # before the command
    commands: tuple[Command, ...]


def describe(
    parser: argparse.ArgumentParser, extra: Mapping[str, argparse.ArgumentParser] | None = None
) -> Cli:
    """The commands and options of `parser`; `extra` gives the parser of a command that parses its own."""
    commands: list[Command] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, sub in action.choices.items():
            own = (extra or {}).get(name, sub)
            words = tuple(
                str(c) for a in own._actions if not a.option_strings and a.choices for c in a.choices
            )
            names = tuple(a.dest for a in own._actions if not a.option_strings and a.dest in NAMED)
            commands.append(Command(name, _plain(helps.get(name, "")), _options(own), words, names))
    return Cli(parser.prog, _options(parser), tuple(commands))


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    out = []
    for a in parser._actions:
        if not a.option_strings or isinstance(a, argparse._SubParsersAction):
            continue
        takes_value = a.nargs != 0
        choices = tuple(str(c) for c in a.choices) if a.choices is not None else ()
        files = takes_value and (a.type is Path or a.metavar == "FILE")
        out.append(Option(tuple(a.option_strings), _plain(a.help or ""), takes_value, choices, files))
    return tuple(out)


def _plain(text: str) -> str:
    # One line, no characters that need quoting rules of their own in any of the three shells.
    text = re.sub(r"\s+", " ", text.replace("%(default)s", "")).strip()
    return re.sub(r"[\[\]:'\"`$\\]", "", text)


def script(shell: str, cli: Cli) -> str:
    if shell == "bash":
        return _bash(cli)
    if shell == "zsh":
        return _zsh(cli)
    if shell == "fish":
        return _fish(cli)
    raise ValueError(f"no completion for {shell!r}; choose one of {', '.join(SHELLS)}")


def _flags(options: Sequence[Option]) -> str:
    return " ".join(f for o in options for f in o.flags)


def _bash_values(options: Sequence[Option], indent: str) -> list[str]:
    """`case "$prev"` arms for the options that take a value."""
    lines = []
    for o in options:
        if not o.takes_value:
            continue
        pattern = "|".join(o.flags)
        if o.choices:
            action = f'COMPREPLY=($(compgen -W "{" ".join(o.choices)}" -- "$cur"))'
        elif o.files:
            action = 'COMPREPLY=($(compgen -f -- "$cur"))'
        else:
            action = "COMPREPLY=()"
        lines.append(f"{indent}{pattern}) {action}; return ;;")
    return lines


def _bash(cli: Cli) -> str:
    fn = f"_{_ident(cli.prog)}_complete"
    names = " ".join(c.name for c in cli.commands)
    lines = [
        f"# bash completion for {cli.prog}; load it with: source <({cli.prog} completion bash)",
        f"{fn}() {{",
        '    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" cmd="" i',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        f'            {"|".join(c.name for c in cli.commands)}) cmd="${{COMP_WORDS[i]}}"; break ;;',
        "        esac",
        "    done",
        '    case "$cmd" in',
        '        "")',
        '            case "$prev" in',
        *_bash_values(cli.options, "                "),
        "            esac",
        f'            COMPREPLY=($(compgen -W "{_flags(cli.options)} {names}" -- "$cur")) ;;',
    ]
    for c in cli.commands:
        lines += [
            f"        {c.name})",
            '            case "$prev" in',
            *_bash_values(c.options, "                "),
            "            esac",
        ]
        if c.names:
            lines += [
                '            if [[ "$cur" != -* ]]; then',
                f'                COMPREPLY=($(compgen -W "$({cli.prog} {HELPER} line '
                '"${COMP_WORDS[@]:0:COMP_CWORD}" 2>/dev/null)" -- "$cur"))',
                "                return 0",
                "            fi",
            ]
        lines.append(
            f'            COMPREPLY=($(compgen -W "{_flags(c.options)} {" ".join(c.words)}" -- "$cur")) ;;'
        )
    lines += ["    esac", "}", f"complete -F {fn} {cli.prog}", ""]
    return "\n".join(lines)


def _zsh_spec(o: Option) -> list[str]:
    value = ""
    if o.takes_value:
        if o.choices:
            value = f":value:({' '.join(o.choices)})"
        elif o.files:
            value = ":file:_files"
        else:
            value = ":value: "
    if len(o.flags) == 1:
        return [f"'{o.flags[0]}[{o.help}]{value}'"]
    exclusive = " ".join(o.flags)
    return [f"'({exclusive})'{{{','.join(o.flags)}}}'[{o.help}]{value}'"]


def _zsh(cli: Cli) -> str:
    fn = f"_{_ident(cli.prog)}"
    lines = [
        f"#compdef {cli.prog}",
        f"# zsh completion for {cli.prog}; put it in a directory of $fpath as _{cli.prog},",
        f"# or load it with: source <({cli.prog} completion zsh)",
        f"{fn}() {{",
        "    local curcontext=$curcontext state line",
        "    local -a commands",
        "    commands=(",
        *(f"        '{c.name}:{c.help}'" for c in cli.commands),
        "    )",
        "    _arguments -C \\",
        *(f"        {spec} \\" for o in cli.options for spec in _zsh_spec(o)),
        "        '1: :->command' \\",
        "        '*:: :->args'",
        "    case $state in",
        f"        command) _describe -t commands '{cli.prog} command' commands ;;",
        "        args)",
        "            case $words[1] in",
    ]
    for c in cli.commands:
        specs = [spec for o in c.options for spec in _zsh_spec(o)]
        rest = f"'1: :({' '.join(c.words)})'" if c.words else "'*: :_files'"
        if c.names:
            rest = " ".join(f"'{i}:{name}:{fn}_names'" for i, name in enumerate(c.names, 1))
        lines.append(f"                {c.name}) _arguments {' '.join(specs)} {rest} ;;")
    lines += [
        "            esac ;;",
        "    esac",
        "}",
        f"{fn}_names() {{",
        "    local -a names",
        f'    names=(${{(f)"$({cli.prog} {HELPER} line {cli.prog} ${{words[1,CURRENT-1]}} 2>/dev/null)"}})',
        "    compadd -a names",
        "}",
        'if [[ "${zsh_eval_context[-1]}" == loadautofunc ]]; then',
        f'    {fn} "$@"',
        "else",
        f"    compdef {fn} {cli.prog}",
        "fi",
        "",
    ]
    return "\n".join(lines)


def _fish(cli: Cli) -> str:
    p = cli.prog
    names_fn = f"__{_ident(p)}_names"
    lines = [
        f"# fish completion for {p}; save it as ~/.config/fish/completions/{p}.fish",
        f"complete -c {p} -f",
        f"function {names_fn}",
        f"    {p} {HELPER} line (commandline -opc) 2>/dev/null",
        "end",
    ]
    lines += [_fish_option(p, "__fish_use_subcommand", o) for o in cli.options]
    for c in cli.commands:
        lines.append(f"complete -c {p} -n '__fish_use_subcommand' -a {c.name} -d '{c.help}'")
    for c in cli.commands:
        seen = f"__fish_seen_subcommand_from {c.name}"
        lines += [_fish_option(p, seen, o) for o in c.options]
        if c.words:
            lines.append(f"complete -c {p} -n '{seen}' -a '{' '.join(c.words)}'")
        if c.names:
            lines.append(f"complete -c {p} -n '{seen}' -a '({names_fn})'")
    return "\n".join(lines) + "\n"


def _fish_option(prog: str, condition: str, o: Option) -> str:
    parts = [f"complete -c {prog} -n '{condition}'"]
    for flag in o.flags:
        if flag.startswith("--"):
            parts.append(f"-l {flag[2:]}")
        elif len(flag) == 2:
            parts.append(f"-s {flag[1]}")
        else:
            parts.append(f"-o {flag[1:]}")
    if o.choices:
        parts.append(f"-x -a '{' '.join(o.choices)}'")
    elif o.files:
        parts.append("-r -F")
    elif o.takes_value:
        parts.append("-x")
    parts.append(f"-d '{o.help}'")
    return " ".join(parts)


def _ident(prog: str) -> str:
    return re.sub(r"\W", "_", prog)


def helper(parser: argparse.ArgumentParser, words: Sequence[str]) -> int:
    """`dnsctl __complete [-c FILE] profiles | endpoints PROFILE | line WORD...`: names, one a line.

    `line` takes the command line typed so far (the program first) and prints the names that fit the
    next positional argument of its command. Never an error: a missing or bad configuration, or a
    word that fits nothing, prints nothing (a completion must not print into the user's prompt).
    """
    config: str | None = None
    words = list(words)
    if len(words) >= 2 and words[0] in ("-c", "--config"):
        config, words = words[1], words[2:]
    kind, rest = (words[0], words[1:]) if words else ("", [])
    if kind == "line":
        config, kind, rest = _from_line(parser, rest)
    if kind not in ("profiles", "endpoints") or (kind == "endpoints" and not rest):
        return 0
    for name in _names(config, kind, rest[0] if rest else ""):
        print(name)
    return 0


def _from_line(parser: argparse.ArgumentParser, words: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """(config, kind, [profile]) for the next positional argument of the command in `words`."""
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands = dict(action.choices)
    command = None
    i = 1  # words[0] is the program
    while i < len(words):
        if words[i] in commands:
            command = commands[words[i]]
            break
        i += 1
    if command is None:
        return None, "", []
    with_value = {f for a in command._actions if a.option_strings and a.nargs != 0 for f in a.option_strings}
    config: str | None = None
    typed: list[str] = []
    rest = list(words[i + 1 :])
    while rest:
        word = rest.pop(0)
        if word in with_value:
            value = rest.pop(0) if rest else ""
            if word in ("-c", "--config"):
                config = value
        elif word.startswith("--config="):
            config = word.partition("=")[2]
        elif not word.startswith("-"):
            typed.append(word)
    dests = [a.dest for a in command._actions if not a.option_strings]
    if len(typed) >= len(dests) or dests[len(typed)] not in NAMED:
        return config, "", []
    if dests[len(typed)] == "profile":
        return config, "profiles", []
    profile = typed[dests.index("profile")] if "profile" in dests[: len(typed)] else ""
    return config, "endpoints", [profile] if profile else []


def _names(config: str | None, kind: str, profile: str) -> list[str]:
    from dnsctl.config.load import config_path, load

    try:
        spec = load(config_path(config), serving=False)
    except Exception:  # whatever is wrong with the file, the prompt gets no completion, not a traceback
        return []
    if kind == "profiles":
        return [p.name for p in spec.profiles]
    return [e.name for p in spec.profiles if p.name == profile for e in p.endpoints]
