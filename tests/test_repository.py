"""Nothing in the repository points outside it: the design document lives in docs/."""

import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tracked_text_files():
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
        ).stdout.split()
        files = [ROOT / f for f in out]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        files = [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    for path in files:
        if path.suffix in (
            ".py",
            ".md",
            ".hpp",
            ".cpp",
            ".toml",
            ".txt",
            ".sh",
            ".cfg",
        ) or path.name in ("run", "CMakeLists.txt"):
            yield path


def test_no_reference_outside_the_repository():
    needle = "../" + "shared"  # written in two parts so this file does not match itself
    offenders = [
        str(p.relative_to(ROOT))
        for p in _tracked_text_files()
        if p.exists() and needle in p.read_text(errors="replace")
    ]
    assert not offenders, f"files pointing outside the repository: {offenders}"


def test_design_documents_exist():
    assert (ROOT / "docs" / "design.md").exists()
    text = (ROOT / "docs" / "design.md").read_text()
    assert "## 1. The math contract" in text and "## 2. Architecture" in text
