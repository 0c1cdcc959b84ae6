"""The Redis key layout, in one place (README: "Redis layout")."""

from __future__ import annotations


class RedisKeys:
    def __init__(self, prefix: str):
        self.prefix = prefix

    @property
    def creator_token(self) -> str:
        return f"{self.prefix}token:creator"

    def user_token(self, user_id: str) -> str:
        return f"{self.prefix}token:user:{user_id}"

    def user(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def membership(self, user_id: str) -> str:
        return f"{self.prefix}membership:{user_id}"

    def refresh_lock(self, token_key: str) -> str:
        return f"{self.prefix}lock:refresh:{token_key.removeprefix(self.prefix)}"

    def membership_lock(self, user_id: str) -> str:
        return f"{self.prefix}lock:membership:{user_id}"

    @property
    def webhook_events(self) -> str:
        return f"{self.prefix}webhook:events"

    def webhook_seen(self, digest: str) -> str:
        return f"{self.prefix}webhook:seen:{digest}"

    def members(self, campaign_id: str) -> str:
        return f"{self.prefix}members:{campaign_id}"

    @property
    def campaign(self) -> str:
        """The one campaign this site serves."""
        return f"{self.prefix}campaign"

    @property
    def campaign_lock(self) -> str:
        return f"{self.prefix}lock:campaign"

    @property
    def sandbox_prefix(self) -> str:
        return f"{self.prefix}sandbox:"
