"""Errors a user can fix. The CLI prints them without a traceback and exits 2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, what is wrong, how to fix it."""

    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text} ({self.fix})" if self.fix else text


class UserError(Exception):
    """Bad input. Carries every problem found, not only the first."""

    exit_code = 2

    def __init__(self, title: str, problems: list[Problem] | None = None):
        self.title = title
        self.problems = problems or []
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.title]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)
