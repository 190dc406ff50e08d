"""The README's layout tree is the one generated from the module docstrings."""

from __future__ import annotations

import difflib
from pathlib import Path

from framework.cli.layout import BEGIN, END, README, readme_section, section, tree, write


def test_readme_layout_matches_the_module_docstrings() -> None:
    current = readme_section(README.read_text(encoding="utf-8"))
    assert current is not None, f"{README} lost its layout markers"
    expected = section()
    diff = "\n".join(difflib.unified_diff(current.splitlines(), expected.splitlines(), lineterm=""))
    assert current == expected, (
        "README.md's layout tree is stale: run `make layout` "
        f"(python -m framework.cli.layout --write) and commit README.md\n{diff}"
    )


def test_every_module_has_a_docstring_for_its_line() -> None:
    lines = tree().splitlines()
    missing = [line.split()[-1] for line in lines if " # " not in line and line.endswith(".py")]
    assert not missing, f"give these modules a one-line docstring, then `make layout`: {missing}"


def test_write_replaces_only_the_section(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "framework" / "sub").mkdir(parents=True)
    (root / "framework" / "__init__.py").write_text('"""The library."""\n')
    (root / "framework" / "sub" / "__init__.py").write_text('"""A subpackage."""\n')
    (root / "framework" / "sub" / "mod.py").write_text('"""Does one thing.\n\nMore."""\n')
    (root / "framework" / "bare.py").write_text("x = 1\n")
    readme = root / "README.md"
    readme.write_text(f"# title\n\n{BEGIN}\nold\n{END}\ntail\n")
    assert write(readme, root) and not write(readme, root)
    text = readme.read_text()
    assert text.startswith("# title\n") and text.endswith("tail\n") and "old" not in text
    assert "├── sub/" in text and "# A subpackage." in text and "# Does one thing." in text
    assert "└── bare.py\n" in text  # no docstring: the bare name, flagged by the test above
