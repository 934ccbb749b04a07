from rest_framework import serializers

from portal.api.renderers import ApiResponse
from portal.api.views import PortalAPIView


class AccountOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    email = serializers.EmailField(source="owner_email")
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.SerializerMethodField()
    tier = serializers.CharField()
    premium_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_currency(self, obj) -> str:
        return "USD"


class AccountView(PortalAPIView):
    required_scope = "balance:read"

    def get(self, request):
        return ApiResponse(AccountOut(self.account).data)
