"""The per-request campaign handshake between the user loader, the login and the views."""

from __future__ import annotations

import dataclasses

from tests.site.helpers import services
from webapp.site.campaign import CampaignService
from webapp.site.context import current_campaign, remember_campaign


def test_the_campaign_is_checked_once_per_request_and_then_kept(app, auth, monkeypatch):
    auth.login("patron-low")  # the campaign is read and stored
    with app.test_request_context():
        stored = CampaignService(services(app)).load()
    stale = dataclasses.replace(stored, name="an hour-old copy", fetched_at=0.0)
    checks = []
    ensure = CampaignService.ensure

    def counted(self, known=None):
        checks.append(known)
        return ensure(self, known)

    monkeypatch.setattr(CampaignService, "ensure", counted)
    with app.test_request_context():
        remember_campaign(stale)  # what the user loader read in its MGET
        checked = current_campaign()
        assert checks == [stale]  # the loader's copy was handed on, and refreshed
        assert checked.name == stored.name and checked.fetched_at > stale.fetched_at
        remember_campaign(stale)  # a later loader call changes nothing
        assert current_campaign() is checked
        assert len(checks) == 1
