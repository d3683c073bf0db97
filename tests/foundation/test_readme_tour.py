"""The README tour: it writes nothing into the checkout, and says that `stratops up` blocks (or backgrounds it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
# Options and commands whose path argument is a file or folder the tour creates.
WRITES = {"init", "--repo", "--tokens", "--html", "--junit", "--dir", ">"}


def tour() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("## A short tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_the_tour_creates_nothing_inside_the_checkout() -> None:
    for line in tour():
        words = shlex.split(line, posix=True)
        for word, following in zip(words, words[1:], strict=False):
            if word in WRITES or (words[:2] == ["stratops", "up"] and word == "up"):
                assert following.startswith("$TOUR/"), f"{line!r} writes {following!r} inside the checkout"
    assert any(re.match(r"export TOUR=\$\(mktemp -d\)", line) for line in tour())


def test_the_tour_says_up_blocks_or_backgrounds_it() -> None:
    text = README.read_text(encoding="utf-8")
    lines = [line for line in text.split("## A short tour", 1)[1].splitlines() if "stratops up " in line]
    assert lines, "the tour runs `stratops up`"
    for line in lines:
        command = line.split("#", 1)[0].rstrip()
        assert command.endswith("&") or "blocks" in line, line
