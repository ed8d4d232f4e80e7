"""The repository cites only its own venue notes, and every citation names a section that exists.

The fact sheets the project was built from live outside the repository; users never see them, so
no shipped text, test or benchmark may point at them. Test data is loaded at run time through
``tests/shared_data.py``, which builds its paths from parts and so needs no exemption here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "docs" / "venue-notes.md"
SCANNED = ("src", "tests", "bench", "docs", "README.md")
SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".json", ".yml", ".yaml", ".cfg", ".ini", ".sh", ".rst"}

# Spelled in pieces so that this file does not match itself.
PRIVATE = tuple(
    "".join(parts)
    for parts in (
        ("clob", ".md"),
        ("apis", ".md"),
        ("grpc", ".md"),
        ("onchain", ".md"),
        ("addendum", "-20"),
        ("shared", "/protocol"),
        ("shared", "/captures"),
        ("shared", "/seeds"),
        ("DESIGN", ".md"),
    )
)
PRIVATE_RE = re.compile("|".join(re.escape(p) for p in PRIVATE))
CITATION_RE = re.compile("venue notes" + r":[ \t]*")
ANCHOR_RE = re.compile(r"venue-notes\.md#([A-Za-z0-9_-]*)")


def scanned_files() -> list[Path]:
    files = []
    for name in SCANNED:
        path = ROOT / name
        candidates = [path] if path.is_file() else path.rglob("*")
        for file in candidates:
            relative = file.relative_to(ROOT).parts
            if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative):
                continue
            if file.is_file() and file.suffix in TEXT_SUFFIXES:
                files.append(file)
    return sorted(files)


def headings() -> list[str]:
    return [line[3:].strip() for line in NOTES.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def cited_sections(text: str, start: int, known: list[str]) -> tuple[list[str], str | None]:
    """The sections a citation starting at ``start`` names, and what broke it (None when sound).

    A citation is one heading or several separated by ", "; the longest heading that fits wins, so
    ``Orders`` never shadows a longer heading that begins with it.
    """
    longest_first = sorted(known, key=len, reverse=True)
    names: list[str] = []
    position = start
    while True:
        name = next((h for h in longest_first if text.startswith(h, position)), None)
        if name is None:
            return names, text[position : position + 40].splitlines()[0] if position < len(text) else ""
        names.append(name)
        position += len(name)
        if not re.match(r", [A-Z]", text[position:]):
            return names, None
        position += 2


def test_nothing_cites_the_private_fact_sheets() -> None:
    offenders = []
    for file in scanned_files():
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if PRIVATE_RE.search(line):
                offenders.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "cite docs/venue-notes.md instead:\n" + "\n".join(offenders)


def test_every_citation_names_a_section_of_the_notes() -> None:
    known = headings()
    assert len(known) == len(set(known)), "two sections of the notes share a heading"
    broken = []
    citations = 0
    for file in scanned_files():
        text = file.read_text(encoding="utf-8")
        for match in CITATION_RE.finditer(text):
            names, problem = cited_sections(text, match.end(), known)
            citations += len(names)
            if problem is not None:
                line = text.count("\n", 0, match.start()) + 1
                broken.append(f"{file.relative_to(ROOT)}:{line}: no section of the notes starts {problem!r}")
    assert citations > 0, "no citations found: has the citation style changed?"
    assert not broken, "\n".join(broken)


def test_every_link_into_the_notes_names_an_existing_anchor() -> None:
    anchors = {anchor(h) for h in headings()}
    broken = []
    for file in scanned_files():
        text = file.read_text(encoding="utf-8")
        for match in ANCHOR_RE.finditer(text):
            if match[1] not in anchors:
                line = text.count("\n", 0, match.start()) + 1
                broken.append(f"{file.relative_to(ROOT)}:{line}: #{match[1]}")
    assert not broken, "links to missing sections of docs/venue-notes.md:\n" + "\n".join(broken)


def test_the_guard_sees_what_it_guards() -> None:
    """The scan covers the notes and the package, and finds a citation wherever one is written."""
    files = scanned_files()
    assert NOTES in files
    assert ROOT / "src" / "polyinfra" / "__init__.py" in files
    assert PRIVATE_RE.search("see " + PRIVATE[0] + " for the details") is not None
    assert cited_sections("Orders, Fees).", 0, headings()) == (["Orders", "Fees"], None)
    assert cited_sections("Ordres).", 0, headings())[1] == "Ordres)."
