"""The sandbox plays Patreon: it borrows nothing from the site or its client,
and its pages obey the site's Content-Security-Policy (no inline code or style)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_CODE = sorted((ROOT / "webapp" / "sandbox").glob("*.py"))
SANDBOX_TEMPLATES = sorted((ROOT / "templates" / "sandbox").iterdir())
FORBIDDEN = ("webapp.patreon", "webapp.site", "webapp.config", "webapp.extensions")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_there_is_sandbox_code_to_check():
    assert {p.name for p in SANDBOX_CODE} >= {"__init__.py", "oauth.py", "api.py", "webhooks.py"}


@pytest.mark.parametrize("path", SANDBOX_CODE, ids=lambda p: p.name)
def test_the_sandbox_imports_nothing_from_the_site_or_its_client(path):
    borrowed = {
        name for name in imported_modules(path) if name.startswith(FORBIDDEN) or name == "webapp"
    }
    assert borrowed == set(), f"{path.name} imports {sorted(borrowed)}"


@pytest.mark.parametrize("path", SANDBOX_TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_inline_script_style_or_outside_assets(path):
    text = path.read_text()
    assert "<script" not in text
    assert "<style" not in text
    assert not re.search(r"\sstyle\s*=", text)
    assert not re.search(r"\son[a-z]+\s*=", text)
    outside = re.findall(r"(?:src|href)=\"(https?:)?//", text)
    assert outside == []


def test_the_stylesheet_loads_nothing_from_elsewhere():
    css = (ROOT / "static" / "css" / "site.css").read_text()
    assert "@import" not in css
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css)
    assert "@font-face" not in css


def test_rendered_pages_carry_no_inline_code(sandbox):
    for path in ("/sandbox/", "/sandbox/c/5000", "/sandbox/u/202"):
        html = sandbox.client.get(path).get_data(as_text=True)
        assert "<script" not in html and not re.search(r"\sstyle\s*=", html)
    consent = sandbox.authorize().get_data(as_text=True)
    assert "<script" not in consent and not re.search(r"\sstyle\s*=", consent)
