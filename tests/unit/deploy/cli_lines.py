"""Find the `martingale ...` command lines in deployment files and docs, and check each one
against the real CLI parser (`app.cli.build_parser`), so a renamed command or option cannot
leave a unit file, the compose file or docs/production.md quietly wrong.

Two strengths of check: a command line meant to be run (a unit's ExecStart, a compose
command, a line in a code block) must parse as a whole, required arguments included; a
command quoted in prose (`martingale db upgrade`) must name a real command and real options.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# Shell words that separate one simple command from the next.
_OPERATORS = frozenset({";", "&&", "||", "|", "(", ")", "&"})
# What may stand before a command without being it.
_WRAPPERS = frozenset({"exec", "sudo", "time", "nice", "env"})
_SUBCOMMAND_WORD = re.compile(r"^[a-z][a-z-]*$")


@dataclass(frozen=True)
class CommandLine:
    where: str  # file and line, for the failure message
    args: tuple[str, ...]  # what follows `martingale`
    whole: bool  # a line to run (parse it whole) or a mention in prose (names only)


def _is_martingale(word: str) -> bool:
    """The console script, bare or from a virtualenv (/opt/martingale/bin/martingale); not a
    directory such as /var/lib/martingale, nor a URL ending in the database's name."""
    return (
        word == "martingale" or re.fullmatch(r"[\w.-]*(/[\w.-]+)*/bin/martingale", word) is not None
    )


def _shell_words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote in prose: fall back to plain words
        return text.split()


def commands_in(text: str, where: str, *, whole: bool) -> Iterator[CommandLine]:
    """Every `martingale` invocation in one shell line. The console script's word starts one when it comes first in its simple command (after VAR=value and
    wrappers such as exec), or when a subcommand-like word follows it; so `useradd ...
    martingale` and `systemctl restart martingale` are not commands, `sudo -u martingale
    /opt/martingale/bin/martingale status` and `docker compose run --rm martingale users ...`
    are."""
    words = _shell_words(text)
    first = True
    for i, word in enumerate(words):
        if word in _OPERATORS or word.startswith(">") or word.startswith("<"):
            first = True
            continue
        following = words[i + 1] if i + 1 < len(words) else ""
        if _is_martingale(word) and (first or _SUBCOMMAND_WORD.match(following)):
            args: list[str] = []
            for arg in words[i + 1 :]:
                if arg in _OPERATORS or arg.startswith(">") or arg.startswith("<"):
                    break
                args.append(arg)
            yield CommandLine(where, tuple(args), whole)
        if first and not (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word) or word in _WRAPPERS):
            first = False


def markdown_commands(text: str, name: str) -> Iterator[CommandLine]:
    """Command lines in a Markdown file: every line of a ```sh block (backslash continuations
    joined), and every inline code span in prose."""
    fence: str | None = None
    pending = ""
    paragraph: list[str] = []
    start = 0
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        if fence is None and (line.startswith("```") or not line.strip()):
            # Inline spans may wrap across lines: look for them in the whole paragraph.
            for span in re.findall(r"`([^`]+)`", " ".join(paragraph)):
                yield from commands_in(span, f"{name}:{start}", whole=False)
            paragraph = []
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
            continue
        if fence is not None:
            if fence not in ("sh", "bash", "console"):
                continue
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield from commands_in(pending + line, f"{name}:{number}", whole=True)
            pending = ""
        elif line.strip():
            start = start if paragraph else number
            paragraph.append(line)


def _subparsers(parser: argparse.ArgumentParser) -> Mapping[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_names(parser: argparse.ArgumentParser) -> frozenset[str]:
    return frozenset(parser._option_string_actions)


def problem(parser: argparse.ArgumentParser, line: CommandLine) -> str | None:
    """Why `line` is not a valid use of the CLI, or None."""
    path: list[str] = []
    current = parser
    args = list(line.args)
    while (choices := _subparsers(current)) and args and not args[0].startswith("-"):
        word = args[0]
        if word not in choices:
            return f"`martingale {' '.join((*path, word))}` is not a command"
        path.append(args.pop(0))
        current = choices[word]
    if _subparsers(current) and not any(a in ("-h", "--help") for a in args):
        if line.whole or args:
            return f"`martingale {' '.join(path)}` needs a subcommand"
        return None
    if line.whole:
        return _parse_error(parser, line.args)
    unknown = [a.split("=", 1)[0] for a in args if a.startswith("-")]
    unknown = [a for a in unknown if a not in _option_names(current)]
    if unknown:
        return f"`martingale {' '.join(path)}` has no option {', '.join(unknown)}"
    return None


def _parse_error(parser: argparse.ArgumentParser, args: tuple[str, ...]) -> str | None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(list(args))
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                return err.getvalue().strip().splitlines()[-1]
    return None
