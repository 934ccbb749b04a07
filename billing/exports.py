"""CSV of issued deposit addresses, for the operator's chain watcher."""

from billing.models import DepositAddress
from core.files import CsvWriter

ADDRESS_CSV_COLUMNS = [
    "chain", "currency", "network", "address", "derivation_path", "derivation_index", "key_id",
    "deposit_address_id", "account_id", "created_at", "used_at",
]


def addresses_for_export(queryset=None):
    queryset = DepositAddress.objects.all() if queryset is None else queryset
    return queryset.select_related("account").order_by("chain", "key_id", "derivation_index")


def write_addresses_csv(out, queryset=None) -> int:
    """Writes every address of `queryset` (default: all ever issued); returns the row count."""
    writer = CsvWriter(out)
    writer.writerow(ADDRESS_CSV_COLUMNS)
    count = 0
    for a in addresses_for_export(queryset).iterator(chunk_size=2000):
        writer.writerow([
            a.chain, a.currency, a.network, a.address, a.derivation_path, a.derivation_index, a.key_id,
            a.public_id, a.account.public_id, a.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            a.used_at.strftime("%Y-%m-%dT%H:%M:%SZ") if a.used_at else "",
        ])
        count += 1
    return count
