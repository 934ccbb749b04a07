"""`manage.py check --deploy` refuses demo and weak secrets, and passes with real values."""

import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_SECRET_KEY = "demo-insecure-secret-key-change-me-in-production-0123456789"


def _check_deploy(tmp_path, **env):
    base = {"PATH": "/usr/bin:/bin", "PORTAL_VAR_DIR": str(tmp_path), "DEBUG": "0"}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env={**base, **env},
        capture_output=True, text=True, timeout=60,
    )


def _real_values():
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEPOSIT_WEBHOOK_SECRET": secrets.token_hex(24),
        "USAGE_WEBHOOK_SECRET": secrets.token_hex(24),
        "DEPOSIT_XPUB_BTC": "zpub-of-the-operators-own-wallet",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "SECURE_SSL_REDIRECT": "1",
        "ALLOWED_HOSTS": "portal.example.com",
    }


def test_weak_secret_key_and_missing_webhook_secrets_fail(tmp_path):
    result = _check_deploy(tmp_path, SECRET_KEY="x")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "portal.E004" in output and "SECRET_KEY is too weak" in output
    assert "DEPOSIT_WEBHOOK_SECRET is unset" in output and "USAGE_WEBHOOK_SECRET is unset" in output


def test_demo_secret_key_refuses_to_start(tmp_path):
    result = _check_deploy(tmp_path, SECRET_KEY=DEMO_SECRET_KEY)
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off on the public demo values of: SECRET_KEY" in result.stderr


def test_demo_xpub_refuses_to_start(tmp_path):
    env = _real_values()
    env["DEPOSIT_XPUB_ETH"] = (
        "xpub6DCoCpSuQZB2jawqnGMEPS63ePKWkwWPH4TU45Q7LPXWuNd8TMtVxRrgjtEshuqpK3mdhaWHPFsBngh5GFZaM6si3yZdUsT8ddYM3PwnATt"
    )
    result = _check_deploy(tmp_path, **env)
    assert result.returncode != 0 and "DEPOSIT_XPUB_ETH" in result.stderr


def test_allow_demo_flag_in_production_fails_the_deploy_check(tmp_path):
    result = _check_deploy(tmp_path, PORTAL_ALLOW_DEMO_SECRETS="1")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for check_id in ("portal.E002", "portal.E003", "portal.E005", "portal.E007"):
        assert check_id in output


def test_real_values_pass(tmp_path):
    result = _check_deploy(tmp_path, **_real_values())
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "portal." not in output
    # Only the opt-in HSTS preload remark may remain.
    assert "security.W" not in output.replace("security.W021", "")
