from django.core.management.base import BaseCommand, CommandError

from accounts.models import Membership, Role, User
from billing.services import ADJUSTMENT_MAX, balance_adjust
from core.errors import PortalError
from core.money import money_str
from core.numbers import MAX_CHARS, NumberError, parse_decimal


class Command(BaseCommand):
    help = "Post a signed adjustment to the balance of the account owned by --email (refuses to overdraw)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="An owner (or member) of the account")
        parser.add_argument("--amount", required=True, help="Signed USD, e.g. 25.00 or -10.00")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, email, amount, reason, **options):
        value = self._amount(amount)
        if not reason.strip():
            raise CommandError("--reason must not be empty.")
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with e-mail {email}.")
        memberships = list(Membership.objects.filter(user=user).select_related("account").order_by("created_at"))
        membership = next((m for m in memberships if m.role == Role.OWNER), None) or (memberships[0] if memberships else None)
        if membership is None:
            raise CommandError(f"{email} is not a member of any account.")
        account = membership.account
        try:
            entry = balance_adjust(
                account=account, amount=value, reason=reason, actor=None,
                actor_label=f"operator (adjustbalance for {user.email})",
            )
        except PortalError as exc:
            fields = exc.meta.get("fields", {})
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()) or exc.message
            raise CommandError(f"Refused: {detail}") from None
        self.stdout.write(
            f"Posted {entry.public_id}: {money_str(entry.amount, signed=True)} USD to {account.name} ({account.public_id}); "
            f"balance now {money_str(entry.balance_after)} USD."
        )

    @staticmethod
    def _amount(text: str):
        """--amount as a Decimal, its length, size and places checked before any arithmetic."""
        if len(text.strip()) > MAX_CHARS:
            raise CommandError(f"--amount is too long: at most {MAX_CHARS} characters, such as 25.00 or -10.00.")
        try:
            value = parse_decimal(text, lo=-ADJUSTMENT_MAX, hi=ADJUSTMENT_MAX, places=2)
        except NumberError as exc:
            if exc.kind == "range":
                raise CommandError(f"--amount is too large: at most {ADJUSTMENT_MAX} USD either way.") from None
            if exc.kind == "places":
                raise CommandError("--amount has at most two decimal places (cents).") from None
            raise CommandError(f"--amount must be a decimal number such as 25.00 or -10.00, not {text!r}.") from None
        if value == 0:
            raise CommandError("--amount must be a non-zero number.")
        return value
