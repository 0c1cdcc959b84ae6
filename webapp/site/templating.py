"""What every template can use: banners, money and time formatting."""

from __future__ import annotations

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


def register_template_context(app: Flask, config: Config) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["when"] = when
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
