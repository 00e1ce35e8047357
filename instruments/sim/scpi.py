"""Command parsing for the simulated instruments.

Two grammars cover the instruments we simulate:

- SCPI (Keithley, Keysight, Yokogawa, QDevil, AMI, Lakeshore's ``*`` commands): headers are colon-separated
  mnemonics with a short form (the capitals of the manual's spelling, ``VOLT``) and a long form (``VOLTAGE``),
  optional nodes in brackets (``[:SOURce]:VOLTage[:LEVel]``), optional numeric suffixes (``OUTPut[1]``), and
  compound messages joined by ``;`` where a command that does not start with ``:`` continues the previous path.
- SR8xx-style (Stanford Research): a four-letter mnemonic, optional ``?``, arguments separated by commas, no
  space required (``OUTP?1``, ``SENS 10``, ``SLVL0.100``).

A pattern compiles once to a regular expression; :class:`CommandTable` caches header -> handler so the hot path
(the same few headers read again and again) is one dict lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Command", "CommandTable", "scpi_pattern", "split_scpi_message", "split_sr_message"]

_NODE = re.compile(r"(\[)?:?([A-Za-z*]+)(\d*|#)?(\])?")


def _mnemonic_regex(spelling: str) -> str:
    """``VOLTage`` -> ``VOLT(?:AGE)?``: the short form is the leading capitals, the long form all of it."""
    short = re.match(r"[A-Z*]*", spelling).group(0) or spelling.upper()
    rest = spelling[len(short):].upper()
    return re.escape(short) + (f"(?:{re.escape(rest)})?" if rest else "")


def scpi_pattern(spec: str) -> re.Pattern:
    """Compile a header in the manuals' notation (``[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]``).

    ``#`` after a mnemonic stands for a numeric suffix captured as a group (``OUTPut#``); a bare digit
    suffix in brackets, as in ``CALCulate[3]``, is matched literally and optional.
    The compiled regex matches an upper-cased header with a leading colon (common commands too: ``:*IDN?``)
    and an optional ``?``.
    """
    parts = []
    spec = spec.strip()
    tokens = re.findall(r"\[?:?[A-Za-z*]+(?:#|\[\d+\]|\d+)?\]?", spec)
    for tok in tokens:
        optional = tok.startswith("[")
        body = (tok[1:-1] if optional else tok).lstrip(":")
        m = re.match(r"([A-Za-z*]+)(#|\[\d+\]|\d+)?$", body)
        if m is None:
            raise ValueError(f"bad SCPI pattern {spec!r} at {tok!r}")
        word, suffix = m.group(1), m.group(2) or ""
        rx = _mnemonic_regex(word)
        if suffix == "#":
            rx += r"(\d*)"
        elif suffix.startswith("["):
            rx += f"(?:{suffix[1:-1]})?"
        elif suffix:
            rx += suffix
        node = f":{rx}"
        parts.append(f"(?:{node})?" if optional else node)
    return re.compile("^" + "".join(parts) + r"(\?)?$")


@dataclass
class Command:
    """One command of an instrument: a header pattern and what it does.

    ``query`` is called for ``HEADER? args`` and returns the reply text; ``write`` for ``HEADER args``.
    Both get the parsed argument list and the regex groups of numeric suffixes.
    """

    pattern: str
    query: Callable[..., str] | None = None
    write: Callable[..., Any] | None = None
    regex: re.Pattern | None = None


class CommandTable:
    """Matches headers against an instrument's command list, with a per-header cache."""

    def __init__(self, commands: list[Command], compile_pattern: Callable[[str], re.Pattern] = scpi_pattern):
        self.commands = commands
        for c in commands:
            c.regex = compile_pattern(c.pattern)
        self._cache: dict[str, tuple[Command, tuple] | None] = {}

    def lookup(self, header: str) -> tuple[Command, tuple, bool] | None:
        """Return (command, suffix groups, is_query) for an upper-cased header, or None if unknown.

        SCPI headers are looked up with a leading ``:`` (``:SOUR:VOLT``, ``:*IDN?``), SR8xx ones as they are.
        """
        hit = self._cache.get(header, False)
        if hit is False:
            hit = None
            for c in self.commands:
                m = c.regex.match(header)
                if m:
                    groups = m.groups()
                    hit = (c, groups[:-1], groups[-1] == "?")
                    break
            self._cache[header] = hit
        return hit


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    if '"' not in text and "'" not in text:
        return text.split(sep)
    out, cur, quote = [], [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur.append(ch)
        elif ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def split_args(argtext: str) -> list[str]:
    """Split a comma-separated argument list, stripping blanks and quotes."""
    argtext = argtext.strip()
    if not argtext:
        return []
    return [a.strip().strip("\"'") for a in _split_outside_quotes(argtext, ",")]


def split_scpi_message(message: str) -> list[tuple[str, list[str]]]:
    """Split a SCPI program message into (absolute upper-case header, args) pairs.

    Implements the SCPI path rule: after ``:SOUR:VOLT 1;`` a command ``CURR 2`` means ``:SOUR:CURR 2``;
    a leading ``:`` or a common command (``*RST``) resets the path.
    """
    result = []
    path: list[str] = []
    for unit in _split_outside_quotes(message, ";"):
        unit = unit.strip()
        if not unit:
            continue
        head, _, args = unit.partition(" ")
        head = head.upper()
        if head.startswith("*"):
            result.append((head, split_args(args)))
            continue
        if head.startswith(":"):
            nodes = head[1:].split(":")
        else:
            nodes = path + head.split(":")
        path = nodes[:-1]
        result.append((":".join(nodes), split_args(args)))
    return result


_SR_UNIT = re.compile(r"^\s*(\*?[A-Za-z]+)\s*(\?)?\s*(.*?)\s*$", re.S)


def split_sr_message(message: str) -> list[tuple[str, list[str]]]:
    """Split an SR8xx message (``OUTP?1;SENS?``) into (header, args); the header keeps its ``?``."""
    result = []
    for unit in message.split(";"):
        if not unit.strip():
            continue
        m = _SR_UNIT.match(unit)
        if m is None:
            result.append((unit.strip().upper(), []))
            continue
        result.append((m.group(1).upper() + (m.group(2) or ""), split_args(m.group(3))))
    return result


def sr_pattern(spec: str) -> re.Pattern:
    """Compile an SR8xx mnemonic (``OUTP``, ``*IDN``) to a regex matching it with an optional ``?``."""
    return re.compile("^" + re.escape(spec.upper()) + r"(\?)?$")
