"""manage.py checkupstream — can this portal reach its upstream seller, and what does it have there?"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import UpstreamError
from orders.providers import provider_name_for_type
from orders.providers.upstream_client import upstream_client


class Command(BaseCommand):
    help = (
        "Call the upstream seller (UPSTREAM_API_URL with UPSTREAM_API_KEY) and print the account "
        "this portal holds there, its balance, and the proxy types it sells; exits non-zero when "
        "the upstream cannot be reached or refuses the key. The key itself is never printed."
    )

    def handle(self, *args, **options):
        try:
            client = upstream_client()
            account = client.account()
            types = client.proxy_types()
        except UpstreamError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Upstream {client.base_url}: reachable.")
        self.stdout.write(f"Account there: {account.name} ({account.id}), tier {account.tier}.")
        self.stdout.write(f"Balance there: {account.balance:.2f} {account.currency}.")
        if account.balance < settings.UPSTREAM_LOW_BALANCE_USD:
            self.stderr.write(
                f"Warning: the balance is under UPSTREAM_LOW_BALANCE_USD ({settings.UPSTREAM_LOW_BALANCE_USD} USD):"
                " top it up there, or orders placed through it will fail and be refunded."
            )
        self.stdout.write("Types sold there: " + ", ".join(t.type for t in types) + ".")
        here = ", ".join(f"{code} → {provider_name_for_type(code)}" for code in settings.ORDER_PROVIDER_TYPES)
        self.stdout.write(f"Providers here: {here}.")
