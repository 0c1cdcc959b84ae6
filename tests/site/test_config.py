import pytest

from webapp import create_app
from webapp.config import Config, ConfigError

PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 32,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "PATREON_CLIENT_ID": "id",
    "PATREON_CLIENT_SECRET": "secret",
}


def test_development_needs_nothing():
    config = Config.from_env({})
    assert config.sandbox and config.redis_url is None
    assert config.patreon_authorize_url == "/sandbox/oauth2/authorize"
    assert any("REDIS_URL" in w for w in config.warnings)
    assert config.webhook_secrets  # the sandbox can sign webhooks


def test_production_refuses_to_start_without_its_settings():
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"APP_ENV": "production"})
    message = str(caught.value)
    for name in ("SECRET_KEY", "REDIS_URL", "PATREON_CLIENT_ID", "PATREON_CLIENT_SECRET"):
        assert name in message


def test_production_never_runs_the_sandbox():
    with pytest.raises(ConfigError, match="PATREON_SANDBOX"):
        Config.from_env({**PRODUCTION, "PATREON_SANDBOX": "on"})
    config = Config.from_env(PRODUCTION)
    assert not config.sandbox
    assert config.patreon_authorize_url == "https://www.patreon.com/oauth2/authorize"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("ACCESS_RULES", '{"/vip": "patron>=many"}', "ACCESS_RULES"),
        ("ACCESS_RULES", "not json", "ACCESS_RULES"),
        ("PATREON_SCOPES", "identity,identity.memberships", "spaces"),
        ("SCOPE_VALIDATION", "loud", "SCOPE_VALIDATION"),
        ("MEMBERSHIP_TTL", "five", "MEMBERSHIP_TTL"),
        ("MEMBERSHIP_TTL", "0", "MEMBERSHIP_TTL"),
        ("REDIS_URL", "http://localhost", "REDIS_URL"),
        ("TOKEN_ENCRYPTION_KEY", "short", "TOKEN_ENCRYPTION_KEY"),
        ("APP_ENV", "staging", "APP_ENV"),
    ],
)
def test_bad_values_stop_the_start_with_their_name(name, value, words):
    with pytest.raises(ConfigError, match=words):
        create_app({"SECRET_KEY": "x", name: value})


def test_a_bad_rule_is_named_at_start_up():
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"ACCESS_RULES": '{"/ok": "login", "/bad": "gold"}'})
    assert "'/bad'" in str(caught.value) and "gold" in str(caught.value)


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, {"/members": "patron", "/members/vip": "patron>=1000"}),
        ("{}", {"/members": "patron", "/members/vip": "patron>=1000"}),
        (
            '{"/blog": "login"}',
            {"/blog": "login", "/members": "patron", "/members/vip": "patron>=1000"},
        ),
        ('{"/members/": "public"}', {"/members": "public", "/members/vip": "patron>=1000"}),
        (
            '{"/": "login", "/members/vip": "tier:VIP"}',
            {"/": "login", "/members": "patron", "/members/vip": "tier:VIP"},
        ),
    ],
)
def test_access_rules_are_laid_over_the_example_pages_rules(configured, expected):
    env = {} if configured is None else {"ACCESS_RULES": configured}
    rules = Config.from_env(env).access_rules
    assert {path: rule.text for path, rule in rules.items()} == expected


def test_the_secret_and_tokens_never_show_in_the_config_repr():
    config = Config.from_env({**PRODUCTION, "PATREON_CREATOR_ACCESS_TOKEN": "creator-token-value"})
    text = repr(config)
    assert "k" * 32 not in text and "creator-token-value" not in text and "'secret'" not in text


def test_several_webhook_secrets_and_encryption_keys():
    from cryptography.fernet import Fernet

    keys = [Fernet.generate_key().decode() for _ in range(2)]
    config = Config.from_env(
        {**PRODUCTION, "PATREON_WEBHOOK_SECRET": "a, b", "TOKEN_ENCRYPTION_KEY": ",".join(keys)}
    )
    assert config.webhook_secrets == ("a", "b")
    assert config.token_encryption_keys == tuple(keys)
