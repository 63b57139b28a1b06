"""User docs stand alone and name the command a fresh checkout really has."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USER_DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_user_docs_never_point_outside_the_repository() -> None:
    for doc in USER_DOCS:
        assert "../shared" not in doc.read_text(), f"{doc.name} points at ../shared"


def test_readme_names_the_command_a_checkout_installs() -> None:
    readme = (REPO / "README.md").read_text()
    assert ".venv/bin/iomt-agent" in readme
    assert (REPO / ".venv" / "bin" / "iomt-agent").exists() or not (REPO / ".venv").exists()
