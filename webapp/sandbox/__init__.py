"""A local, faithful imitation of Patreon's OAuth and API v2 (SPEC section 8).

Mounted by the site at `/sandbox` in development, or run on its own port with
`python -m webapp.sandbox --port N`. It plays Patreon, so it shares no code with
the site's Patreon client (`webapp.patreon`) nor with the site (`webapp.site`):
an independent implementation is what makes it a real check of the client.

Modules: personas (the data), state (Redis), world (a request's view of the
data as JSON:API nodes), jsonapi (rendering, fields, includes, errors), oauth
(consent page, token endpoint), api (v2 routes), webhooks (signing, delivery),
control (the control page, stats), pages (campaign, profile, avatar pages).
"""

from webapp.sandbox.app import create_sandbox_app, create_sandbox_blueprint
from webapp.sandbox.settings import SandboxSettings

__all__ = ["SandboxSettings", "create_sandbox_app", "create_sandbox_blueprint"]
