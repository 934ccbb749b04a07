"""No private key, seed or mnemonic anywhere in code, settings or the database."""

import re
from pathlib import Path

from django.conf import settings

from billing.derivation import _account_context
from billing.models import DepositAddress, DerivationCounter
from billing.services import deposit_address_create

ROOT = Path(settings.BASE_DIR)
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "var", "staticfiles", "tests", "__pycache__",
             ".hypothesis", ".pytest_cache", ".ruff_cache"}
TEXT_SUFFIXES = {".py", ".html", ".txt", ".md", ".toml", ".js", ".css", ".json", ".yml", ".yaml", ".cfg",
                 ".ini", ".env", ".sh", ".conf", ""}
# Serialised private extended keys (BIP32/49/84 and their testnet forms) and BIP39 phrases.
FORBIDDEN = re.compile(
    r"abandon abandon|\b(?:xprv|yprv|zprv|tprv|uprv|vprv|Ltpv|Mtpv)[1-9A-HJ-NP-Za-km-z]{20,}|\b(?:xprv|zprv)\b"
)


def _source_files():
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIP_DIRS for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            yield path


def test_no_private_key_or_mnemonic_in_non_test_source():
    offenders = []
    for path in _source_files():
        text = path.read_text(encoding="utf-8", errors="ignore")
        if FORBIDDEN.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_configured_deposit_keys_are_public_account_level_keys():
    for chain, xpub in settings.DEPOSIT_XPUBS.items():
        assert xpub[1:4] == "pub", chain
        # Building the context refuses private or non-account-level keys.
        _account_context(chain, xpub)


def test_the_database_holds_addresses_and_indices_only(account):
    deposit_address_create(account=account, currency="BTC")
    deposit_address_create(account=account, currency="USDT", network="TRC20")
    for row in DepositAddress.objects.values():
        assert not any("prv" in str(v) for v in row.values())
    for row in DerivationCounter.objects.values():
        assert not any("prv" in str(v) or "pub" in str(v) for v in row.values())
