from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Role, User
from apikeys.services import EXPIRATION_CHOICES, apikey_create
from core.errors import PortalError


class Command(BaseCommand):
    help = "Create an API key for the account owned by --email; prints the key alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. balance:read,orders:read")
        parser.add_argument("--name", default="Operator key")
        parser.add_argument("--expires", default="never", choices=list(EXPIRATION_CHOICES))

    def handle(self, *args, email, scopes, name, expires, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        membership = (
            Membership.objects.filter(user=user).select_related("account").order_by("-role", "created_at")
        )
        membership = next((m for m in membership if m.role == Role.OWNER), None) or membership.first()
        if membership is None:
            raise CommandError(f"{email} is not a member of any account.")
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            api_key, full_key = apikey_create(
                account=membership.account, name=name, scopes=scope_list, expiration=expires,
                created_by=None, actor_label=f"operator (createapikey for {user.email})",
            )
        except PortalError as exc:
            fields = exc.meta.get("fields", {})
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()) or exc.message
            raise CommandError(detail) from None
        self.stdout.write(f"Created {api_key.public_id} for {membership.account.name} with scopes {', '.join(api_key.scopes)}")
        self.stdout.write(full_key)
