"""The keys this app issues, as the API platform authenticates them (api.hooks.KeySource;
`API_KEY_SOURCE` in settings names this module)."""

from django.conf import settings

from apikeys import keyformat
from apikeys.models import ApiKey
from apikeys.selectors import KeyRow, key_lookup
from apikeys.services import apikey_touch


def digest(raw_key: str) -> str:
    return keyformat.digest(raw_key)


def is_well_formed(raw_key: str) -> bool:
    return keyformat.is_well_formed(raw_key, settings.API_KEY_PREFIX)


def row(key_hash: str) -> KeyRow | None:
    return key_lookup().row(key_hash)


def build(key_row: KeyRow) -> ApiKey:
    return key_lookup().build(key_row)


def touch(api_key: ApiKey) -> bool:
    return apikey_touch(api_key)


def note_touch(key_row: KeyRow, api_key: ApiKey) -> None:
    key_row.key_values[key_lookup().last_used_index] = api_key.last_used_at
