"""What every template can use: banners, money and time formatting."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from flask import Flask

from webapp.config import Config


def money(cents: int | None) -> str:
    return f"${(cents or 0) / 100:,.2f}"


def when(value: float | str | None) -> str:
    """A timestamp (epoch seconds or ISO 8601) as a short UTC date and time."""
    if value in (None, ""):
        return "—"
    try:
        moment = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value))
        )
    except ValueError:
        return str(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def extract(key: str, mapping: Mapping[str, str]) -> str:
    """`ids | map("extract", titles)`: each key's value in `mapping` (the key when absent)."""
    return mapping.get(key, key)


def register_template_context(app: Flask, config: Config) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["extract"] = extract
    banners = []
    if config.sandbox:
        banners.append(
            "Sandbox mode: logins and pledges come from the built-in Patreon sandbox, not Patreon."
        )
    if config.redis_url is None:
        banners.append("In-process store: all data is lost when the server restarts.")

    @app.context_processor
    def site_context() -> dict:
        return {"banners": banners, "sandbox_enabled": config.sandbox}
