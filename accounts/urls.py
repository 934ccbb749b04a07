from django.urls import path

from accounts import views

urlpatterns = [
    path("no-account/", views.no_account, name="no_account"),
    path("switch-account/", views.switch_account, name="switch_account"),
    path("team/", views.team, name="team"),
    path("team/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("team/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("team/invitations/<int:invitation_id>/revoke/", views.invitation_revoke_view, name="invitation_revoke"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    path("audit/", views.audit, name="audit"),
    path("settings/", views.account_settings, name="settings"),
]
