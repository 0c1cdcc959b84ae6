"""What the sandbox needs to know, given by whoever mounts it (site or CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SandboxSettings:
    # The one OAuth client the sandbox knows (the site's).
    client_id: str
    client_secret: str = field(repr=False)
    # Registered redirect URIs, matched exactly. An entry that is only a path
    # (e.g. "/auth/patreon/callback") means that path on the origin the
    # authorize request came to: the embedded sandbox serves any host name.
    redirect_uris: tuple[str, ...]
    # Where every Redis key of the sandbox lives (e.g. "gate:sandbox:").
    key_prefix: str
    token_ttl: int = 3600
    extra_members: int = 0  # SANDBOX_MEMBERS
    # Signs webhooks the control page sends; empty means no webhook is sent.
    webhook_secret: str | None = field(default=None, repr=False)
    # Where the control page sends webhooks (besides webhooks created via the API).
    webhook_urls: tuple[str, ...] = ()
    # The creator token pair the "developer portal" issues to the campaign's creator.
    creator_access_token: str | None = field(default=None, repr=False)
    creator_refresh_token: str | None = field(default=None, repr=False)
    app_name: str = "Patron Gate"
    requests_per_minute: int = 100
