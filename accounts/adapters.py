from allauth.account.adapter import DefaultAccountAdapter

from accounts.services import account_create_for_user


class PortalAccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit and not user.memberships.exists():
            account_create_for_user(user=user)
        return user
