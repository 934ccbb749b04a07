from django.core.management.base import BaseCommand, CommandError

from billing.exports import write_addresses_csv
from billing.models import Chain, DepositAddress


class Command(BaseCommand):
    help = "Write every issued deposit address as CSV (for the chain watcher), to stdout or --output."

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="File to write; default standard output")
        parser.add_argument("--chain", choices=list(Chain.values), help="Only one chain's addresses")

    def handle(self, *args, output=None, chain=None, **options):
        queryset = DepositAddress.objects.all()
        if chain:
            queryset = queryset.filter(chain=chain)
        if output:
            try:
                with open(output, "w", newline="", encoding="utf-8") as out:
                    count = write_addresses_csv(out, queryset)
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc}") from None
            self.stderr.write(f"Wrote {count} addresses to {output}.")
        else:
            write_addresses_csv(self.stdout, queryset)
