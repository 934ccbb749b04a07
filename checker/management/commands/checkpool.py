from django.core.management.base import BaseCommand, CommandError

from checker.models import Pool
from checker.services.pools import pool_recheck
from core.errors import PortalError


class Command(BaseCommand):
    help = "Re-check every proxy of the public or premium pool now (the work the schedule runs)."

    def add_arguments(self, parser):
        parser.add_argument("--pool", required=True, help="public or premium")

    def handle(self, *args, pool, **options):
        pool = pool.strip().lower()
        if pool not in Pool.values:
            raise CommandError(f"--pool must be one of: {', '.join(Pool.values)} (not {pool!r}).")
        try:
            result = pool_recheck(pool=pool)
        except PortalError as exc:
            raise CommandError(exc.message) from None
        except ValueError as exc:  # unusable CHECKER_JUDGE_URL
            raise CommandError(f"Cannot check: {exc}") from None
        self.stdout.write(
            f"Checked {result['checked']} proxies of the {pool} pool: {result['live']} live, {result['dead']} dead."
        )
