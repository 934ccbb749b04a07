"""manage.py importproxies --pool public|premium|inventory [--type T --country CC] FILE"""

import sys

from django.core.management.base import BaseCommand, CommandError

from core.errors import PortalError

POOLS = ("public", "premium", "inventory")


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


class Command(BaseCommand):
    help = (
        "Load proxies, one a line in the formats of POST /check (ip:port, ip:port:user:pass, "
        "user:pass@ip:port, scheme://...), into the public or premium checker pool, or into the "
        "order stock (--pool inventory, which needs --type and --country). FILE '-' reads stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pool", required=True, choices=POOLS)
        parser.add_argument("--type", dest="type_code", help="inventory: the proxy type it serves (datacenter, isp, mobile, ipv6)")
        parser.add_argument("--country", help="inventory: ISO country code, e.g. US")
        parser.add_argument("file", help="the proxy list, or - for standard input")

    def _read(self, path: str) -> str:
        if path == "-":
            return sys.stdin.read()
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from exc

    def handle(self, *args, pool, type_code, country, file, **options):
        if pool == "inventory":
            missing = [name for name, value in (("--type", type_code), ("--country", country)) if not value]
            if missing:
                raise CommandError(f"--pool inventory needs {' and '.join(missing)} (the order type and country the stock serves).")
        elif type_code or country:
            raise CommandError("--type and --country apply to --pool inventory only.")
        text = self._read(file)
        try:
            if pool == "inventory":
                from orders.services import inventory_import

                counts = inventory_import(type=type_code, country=country, text=text)
            else:
                from checker.services.pools import pool_import

                counts = pool_import(pool=pool, text=text, source=f"importproxies:{file}"[:100])
        except PortalError as exc:
            fields = exc.meta.get("fields") or {}
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()) or exc.message
            raise CommandError(detail) from exc
        imported = counts.get("imported", 0)
        skipped = counts.get("skipped", counts.get("duplicates", 0))
        invalid = counts.get("invalid", 0)
        where = f"{pool} ({type_code}, {country.upper()})" if pool == "inventory" else pool
        self.stdout.write(
            f"Imported {plural(imported, 'proxy', 'proxies')} into {where}; "
            f"skipped {plural(skipped, 'duplicate')}; {plural(invalid, 'invalid line')}."
        )
        if pool == "inventory" and not counts.get("orderable", True):
            self.stderr.write(
                f"Warning: the catalogue does not sell {type_code} proxies in {country.upper()}; "
                "add the country to the type in the admin so customers can order this stock."
            )
        if imported == 0 and invalid and not skipped:
            raise CommandError("No valid proxy in the file.")
