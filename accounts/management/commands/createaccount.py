from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.services import user_create_with_account
from core.errors import PortalError


class Command(BaseCommand):
    help = "Create a user with a verified e-mail and its own account (as owner)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", help="Account name (default: from the e-mail)")

    def handle(self, *args, email, password, name=None, **options):
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"Not a valid e-mail address: {email!r}") from None
        if len(password) < 8:
            raise CommandError("The password must have at least 8 characters.")
        try:
            user, account = user_create_with_account(email=email, password=password, name=name)
        except PortalError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created {user.email} with account {account.name} ({account.public_id})")
