"""The client knows nothing of Flask or of the site and sandbox built on it."""

from __future__ import annotations

import ast
from pathlib import Path

import webapp.patreon

FORBIDDEN = ("flask", "flask_login", "flask_wtf", "werkzeug", "webapp.site", "webapp.sandbox")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_client_imports_no_web_framework_nor_the_site():
    package = Path(webapp.patreon.__file__).parent
    offenders = {
        f"{path.name}: {name}"
        for path in package.glob("*.py")
        for name in imported_modules(path)
        if name in FORBIDDEN or name.startswith(tuple(f"{f}." for f in FORBIDDEN))
    }
    assert offenders == set()
    assert len(list(package.glob("*.py"))) >= 10  # the glob really found the client
