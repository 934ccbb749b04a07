"""Deployment checks (`manage.py check --deploy`): refuse demo and weak secrets loudly.

Settings already refuse to load the demo values when DEBUG is off, unless
PORTAL_ALLOW_DEMO_SECRETS is set (tests and the embedded default). These checks catch what
loads but must not reach production: that flag left on, a short SECRET_KEY, missing webhook
secrets, extended public keys that are the published BIP test vectors, and the admin's
TOTP requirement turned off.
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

MIN_SECRET_KEY_LENGTH = 50
MIN_WEBHOOK_SECRET_LENGTH = 16


def _weak_secret_key(value: str) -> bool:
    return len(value) < MIN_SECRET_KEY_LENGTH or len(set(value)) < 5 or value.startswith("django-insecure-")


@register(Tags.security, deploy=True)
def check_production_secrets(app_configs=None, **kwargs):
    errors = []
    if settings.ALLOW_DEMO_SECRETS and not settings.DEBUG:
        errors.append(Error(
            "PORTAL_ALLOW_DEMO_SECRETS is set: the public demo keys and secrets are accepted.",
            hint="Unset PORTAL_ALLOW_DEMO_SECRETS; it is for tests only.", id="portal.E002",
        ))
    if settings.SECRET_KEY == settings.DEMO_SECRET_KEY:
        errors.append(Error("SECRET_KEY is the published demo key.", hint="Set your own SECRET_KEY.", id="portal.E003"))
    elif _weak_secret_key(settings.SECRET_KEY):
        errors.append(Error(
            f"SECRET_KEY is too weak (fewer than {MIN_SECRET_KEY_LENGTH} characters or too few distinct ones).",
            hint='Generate one: python3 -c "import secrets; print(secrets.token_urlsafe(50))"',
            id="portal.E004",
        ))
    for name in ("DEPOSIT_WEBHOOK_SECRET", "USAGE_WEBHOOK_SECRET"):
        value = getattr(settings, name)
        if value == settings.DEMO_WEBHOOK_SECRET:
            errors.append(Error(f"{name} is the published demo secret.", hint=f"Set {name}.", id="portal.E005"))
        elif len(value) < MIN_WEBHOOK_SECRET_LENGTH:
            problem = "unset" if not value else f"shorter than {MIN_WEBHOOK_SECRET_LENGTH} characters"
            errors.append(Error(
                f"{name} is {problem}: signed webhooks cannot be verified safely.",
                hint=f"Set {name} to a long random value shared with the sender.", id="portal.E006",
            ))
    for chain, value in settings.DEPOSIT_XPUBS.items():
        if value and value == settings.DEMO_DEPOSIT_XPUBS.get(chain):
            errors.append(Error(
                f"DEPOSIT_XPUB_{chain} is the public BIP test vector: deposits would go to a wallet anyone can spend.",
                hint=f"Set DEPOSIT_XPUB_{chain} to your own extended public key, or leave it unset.",
                id="portal.E007",
            ))
    if not settings.ADMIN_REQUIRE_MFA and not settings.DEBUG:
        errors.append(Warning(
            "ADMIN_REQUIRE_MFA is off: staff without an authenticator app open the admin with a password alone.",
            hint="Unset ADMIN_REQUIRE_MFA (on by default when DEBUG is off).", id="portal.W009",
        ))
    if not any(settings.DEPOSIT_XPUBS.values()):
        errors.append(Warning(
            "No DEPOSIT_XPUB_* is set: customers cannot create deposit addresses.",
            hint="Set DEPOSIT_XPUB_BTC, _LTC, _ETH and/or _TRX.", id="portal.W008",
        ))
    return errors
