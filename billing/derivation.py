"""Deposit addresses derived from the operator's account-level extended PUBLIC keys.

The portal never holds a private key, seed or mnemonic: it only walks the public external
chain (change 0) of the configured `DEPOSIT_XPUB_<CHAIN>`:

- BTC, LTC: BIP84 native SegWit (bech32 `bc1…` / `ltc1…`), key a zpub (or xpub) at m/84'/coin'/0'.
- ETH and USDT-ERC20: BIP44 Ethereum at m/44'/60'/0', EIP-55 checksummed. Both draw indices
  from the same key and the same sequence, so their addresses never coincide.
- USDT-TRC20: BIP44 TRON at m/44'/195'/0' (base58 `T…`).
"""

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from bip_utils import Bip44, Bip44Changes, Bip44Coins, Bip84, Bip84Coins
from django.conf import settings

from billing.models import Chain


@dataclass(frozen=True)
class Network:
    currency: str
    network: str
    chain: str
    uri_scheme: str


# (currency, network) → how its addresses are made. The only networks the API allows (docs/api.md#account-and-billing).
NETWORKS: dict[tuple[str, str], Network] = {
    ("BTC", "BTC"): Network("BTC", "BTC", Chain.BTC, "bitcoin"),
    ("LTC", "LTC"): Network("LTC", "LTC", Chain.LTC, "litecoin"),
    ("ETH", "ERC20"): Network("ETH", "ERC20", Chain.ETH, "ethereum"),
    ("USDT", "ERC20"): Network("USDT", "ERC20", Chain.ETH, "ethereum"),
    ("USDT", "TRC20"): Network("USDT", "TRC20", Chain.TRX, "tron"),
}
CURRENCIES = ("BTC", "ETH", "USDT", "LTC")
CURRENCY_NETWORKS: dict[str, tuple[str, ...]] = {
    c: tuple(n for (cur, n) in NETWORKS if cur == c) for c in CURRENCIES
}
# The network used when none is given; USDT has two and requires a choice.
DEFAULT_NETWORK = {c: nets[0] for c, nets in CURRENCY_NETWORKS.items() if len(nets) == 1}

_BIP = {
    Chain.BTC: (Bip84, Bip84Coins.BITCOIN),
    Chain.LTC: (Bip84, Bip84Coins.LITECOIN),
    Chain.ETH: (Bip44, Bip44Coins.ETHEREUM),
    Chain.TRX: (Bip44, Bip44Coins.TRON),
}


class DerivationError(Exception):
    pass


def configured_xpub(chain: str) -> str:
    return (settings.DEPOSIT_XPUBS.get(chain) or "").strip()


def key_id_for(chain: str, xpub: str) -> str:
    """Stable name of one extended key: the chain and a fingerprint of the key's text."""
    return f"{chain}:{hashlib.sha256(xpub.encode()).hexdigest()[:24]}"


@lru_cache(maxsize=16)
def _account_context(chain: str, xpub: str):
    cls, coin = _BIP[chain]
    try:
        ctx = cls.FromExtendedKey(xpub, coin)
    except Exception as exc:  # bip_utils raises several unrelated types for bad keys
        raise DerivationError(f"DEPOSIT_XPUB_{chain} is not a valid extended key: {exc}") from None
    if not ctx.IsPublicOnly():
        raise DerivationError(f"DEPOSIT_XPUB_{chain} must be an extended PUBLIC key, never a private one.")
    if ctx.Level() != 3:  # Bip44Levels.ACCOUNT
        raise DerivationError(f"DEPOSIT_XPUB_{chain} must be an account-level key (m/purpose'/coin'/account').")
    return ctx.Change(Bip44Changes.CHAIN_EXT)


def derive_address(chain: str, xpub: str, index: int) -> str:
    """The external-chain address at `index` of the account-level public key `xpub`."""
    return _account_context(chain, xpub).AddressIndex(index).PublicKey().ToAddress()


def payment_uri(scheme: str, address: str) -> str:
    return f"{scheme}:{address}"


def normalise_address(chain: str, address: str) -> str:
    """The stored spelling of a reported address: bech32 is case-insensitive, stored lower-case.

    Ethereum addresses are matched case-insensitively by the caller (a watcher may report
    them without the EIP-55 checksum); TRON base58 is case-sensitive.
    """
    address = address.strip()
    if chain in (Chain.BTC, Chain.LTC):
        return address.lower()
    return address
