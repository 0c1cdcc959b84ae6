"""`flask patreon ...`: the creator token, members and the webhook from a terminal."""

from __future__ import annotations

import time
from contextlib import ExitStack

import click
from flask import Flask
from flask.cli import AppGroup

from webapp.patreon import PatreonError
from webapp.patreon.webhooks import MEMBER_TRIGGERS
from webapp.site.campaign import CampaignService, seed_creator_token
from webapp.site.services import services
from webapp.site.sync import sync_members

patreon = AppGroup("patreon", help="The creator token, the members index and the webhook.")


@patreon.command("store-creator-token")
def store_creator_token() -> None:
    """Store PATREON_CREATOR_ACCESS/REFRESH_TOKEN unless a token is already stored."""
    if not services().config.creator_access_token:
        raise click.ClickException("PATREON_CREATOR_ACCESS_TOKEN is not set")
    if seed_creator_token(services()):
        click.echo("Stored the creator token from the environment.")
    else:
        click.echo("A creator token is already stored (it may be newer); left it as it is.")


@patreon.command("token-status")
def token_status() -> None:
    """Show whether a creator token is stored and when it expires (never the token)."""
    svc = services()
    token = svc.creator_store().get()
    if token is None and svc.redis.exists(svc.keys.creator_token):
        # store-creator-token would not replace it (it may be the newer token).
        click.echo(
            "A creator token is stored but cannot be decrypted with TOKEN_ENCRYPTION_KEY "
            "(or the SECRET_KEY it is derived from): restore the key that encrypted it, "
            "or delete the token and store a new one."
        )
        return
    if token is None:
        click.echo("No creator token is stored. Run `flask patreon store-creator-token`.")
        return
    left = token.seconds_left()
    if left is None:
        click.echo("A creator token is stored; its expiry is unknown (refreshed on first 401).")
    elif left <= 0:
        click.echo("The stored creator token has expired; it is refreshed on next use.")
    else:
        click.echo(f"A creator token is stored; it expires in {left / 86400:.1f} days.")
    click.echo(f"Refresh token: {'present' if token.refresh_token else 'missing'}.")


@patreon.command("sync")
def sync() -> None:
    """Re-read every member of the campaign into the dashboard's index."""
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            bar = None

            def progress(read: int, total: int) -> None:
                nonlocal bar
                if bar is None:  # the total is known once the first page arrives
                    bar = stack.enter_context(
                        click.progressbar(length=total, label="Reading members", show_pos=True)
                    )
                bar.update(read - bar.pos)

            count = sync_members(services(), progress=progress)
    except PatreonError as exc:
        raise click.ClickException(f"sync failed: {exc}") from None
    click.echo(f"Synced {count:,} members in {time.monotonic() - started:.1f}s.")


@patreon.command("register-webhook")
@click.option("--uri", required=True, help="This site's public URL of /webhooks/patreon.")
def register_webhook(uri: str) -> None:
    """Ask Patreon to send member events to URI; prints the secret to configure."""
    svc = services()
    try:
        campaign = CampaignService(svc).refresh(svc.batch_creator_client)
        created = svc.batch_creator_client.create_webhook(
            campaign.id, uri, sorted(MEMBER_TRIGGERS)
        ).data
    except PatreonError as exc:
        raise click.ClickException(f"Patreon refused: {exc}") from None
    click.echo(f"Webhook {created['id']} created for campaign {campaign.id}.")
    click.echo("Set this in the environment as PATREON_WEBHOOK_SECRET (shown once):")
    click.echo(created.get("secret") or "(Patreon returned no secret)")


def register_cli(app: Flask) -> None:
    app.cli.add_command(patreon)
