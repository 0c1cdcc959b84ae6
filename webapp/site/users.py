"""Logged-in users and their server-side sessions.

The session cookie carries only a random session id (and Flask-Login's user
id). The id must exist in Redis for the cookie to count, so logging out
deletes it and a copied cookie stops working. One MGET loads everything a
request needs: the session record, the profile, the membership snapshot and
the campaign (to know whether this user owns it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import session
from flask_login import UserMixin, logout_user

from webapp.extensions import login_manager
from webapp.patreon import MembershipSnapshot
from webapp.site.campaign import Campaign, parse_campaign
from webapp.site.context import current_campaign, remember_campaign
from webapp.site.membership import Profile, parse_snapshot
from webapp.site.services import services

SESSION_LIFETIME = 30 * 24 * 3600
SESSION_ID = "sid"


@dataclass
class User(UserMixin):
    profile: Profile
    membership: MembershipSnapshot | None

    @property
    def is_owner(self) -> bool:
        return is_owner(self.profile.id, current_campaign())

    @property
    def id(self) -> str:
        return self.profile.id

    def get_id(self) -> str:
        return self.profile.id

    @property
    def full_name(self) -> str:
        return self.profile.full_name

    @property
    def initials(self) -> str:
        parts = [p for p in self.profile.full_name.split() if p[:1].isalnum()]
        return "".join(p[0] for p in parts[:2]).upper() or "?"

    @property
    def local_avatar(self) -> str | None:
        """The avatar when it is served by this site (the CSP allows no other origin)."""
        url = self.profile.image_url or ""
        return url if url.startswith("/") and not url.startswith("//") else None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    session_id = session.get(SESSION_ID)
    if not session_id:
        return None
    svc = services()
    keys = svc.keys
    owner_of_session, profile, membership, campaign = svc.redis.mget(
        keys.session(session_id), keys.user(user_id), keys.membership(user_id), keys.campaign
    )
    remember_campaign(parse_campaign(campaign))
    if owner_of_session != user_id or not profile:
        return None
    return User(profile=Profile.from_json(profile), membership=parse_snapshot(membership))


def is_owner(user_id: str, campaign: Campaign | None) -> bool:
    return campaign is not None and campaign.creator_id == user_id


def start_session(user_id: str) -> None:
    """A brand-new session for this login: nothing from before it survives.

    The previous session's record goes too, so a copy of the old cookie
    stops working at once instead of for its remaining 30 days.
    """
    svc = services()
    previous = session.get(SESSION_ID)
    session.clear()
    session_id = secrets.token_urlsafe(32)
    pipe = svc.redis.pipeline(transaction=True)
    if previous:
        pipe.delete(svc.keys.session(previous))
    pipe.set(svc.keys.session(session_id), user_id, ex=SESSION_LIFETIME)
    pipe.execute()
    session[SESSION_ID] = session_id
    session.permanent = True


def end_session() -> None:
    session_id = session.get(SESSION_ID)
    if session_id:
        services().redis.delete(services().keys.session(session_id))
    logout_user()
    session.clear()
