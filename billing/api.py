
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from accounts.services import account_low_balance_threshold_set
from api.pagination import paginate
from api.rendered_rows import paginate_rendered
from api.renderers import ApiResponse
from api.serializers import OutputSerializer
from api.views import PortalAPIView
from billing import selectors, services
from billing.derivation import CURRENCIES, NETWORKS, payment_uri
from core.errors import BadRequest, DomainValidationError
from core.http import client_ip

TRANSACTIONS_DEFAULT_LIMIT, TRANSACTIONS_MAX_LIMIT = 20, 100
ADDRESSES_DEFAULT_LIMIT, ADDRESSES_MAX_LIMIT = 50, 100
PLANS_DEFAULT_LIMIT, PLANS_MAX_LIMIT = 50, 100


class AccountOut(OutputSerializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    email = serializers.EmailField(source="owner_email")
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.SerializerMethodField()
    tier = serializers.CharField()
    premium_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    low_balance_threshold = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True,
        help_text="balance.low is sent when a charge leaves the balance under this; null: off",
    )

    def get_currency(self, obj) -> str:
        return "USD"


class AccountPatchIn(serializers.Serializer):
    low_balance_threshold = serializers.CharField(
        allow_null=True, help_text='A money string such as "10.00", or null to turn the alert off'
    )


class AccountView(PortalAPIView):
    required_scope = {"GET": "balance:read", "PATCH": "balance:write"}

    @extend_schema(responses=AccountOut, summary="The account, its balance and tier")
    def get(self, request):
        return ApiResponse(AccountOut(self.account).data)

    @extend_schema(request=AccountPatchIn, responses=AccountOut, summary="Set the low-balance alert")
    def patch(self, request):
        if not isinstance(request.data, dict):
            raise BadRequest("The body must be a JSON object.")
        if "low_balance_threshold" not in request.data:
            raise DomainValidationError({"low_balance_threshold": ["This field is required."]})
        account = account_low_balance_threshold_set(
            account=self.account, threshold=request.data["low_balance_threshold"],
            actor=self.api_key.created_by, actor_label=f"API key {self.api_key.display_prefix}",
            client_ip=client_ip(request),
        )
        return ApiResponse(AccountOut(account).data)


class TransactionOut(OutputSerializer):
    rendered_per_row_version = True  # the entry's own columns

    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Signed")
    balance_after = serializers.DecimalField(max_digits=14, decimal_places=2)
    description = serializers.CharField()
    reference = serializers.CharField()
    order_id = serializers.CharField(
        source="order_public_id", allow_null=True, help_text="The order the entry pays for or refunds, else null"
    )
    created_at = serializers.DateTimeField()


class TransactionListView(PortalAPIView):
    required_scope = "balance:read"

    @extend_schema(responses=TransactionOut(many=True), summary="Ledger entries, newest first")
    def get(self, request):
        rows, meta = paginate_rendered(
            selectors.ledger_entries(account=self.account).values(*TransactionOut.columns()), request.query_params,
            TransactionOut, default_limit=TRANSACTIONS_DEFAULT_LIMIT, max_limit=TRANSACTIONS_MAX_LIMIT,
        )
        return ApiResponse(rows, meta=meta)


class PlanLimitsOut(OutputSerializer):
    general = serializers.IntegerField(help_text="Requests per minute")
    order_create = serializers.IntegerField(help_text="Orders per minute")
    check = serializers.IntegerField(help_text="Check jobs per hour")
    export = serializers.IntegerField(help_text="Exports per hour")


class PlanOut(OutputSerializer):
    id = serializers.CharField(source="tier", help_text="The plan's tier names it")
    name = serializers.CharField()
    tier = serializers.CharField()
    price = serializers.DecimalField(max_digits=14, decimal_places=2)
    period_days = serializers.IntegerField()
    limits = PlanLimitsOut()


class PlanListView(PortalAPIView):
    required_scope = "balance:read"

    @extend_schema(responses=PlanOut(many=True), summary="Plans and their rate limits")
    def get(self, request):
        items, meta = paginate(
            selectors.plans_public(), request.query_params,
            default_limit=PLANS_DEFAULT_LIMIT, max_limit=PLANS_MAX_LIMIT,
        )
        return ApiResponse(PlanOut(items, many=True).data, meta=meta)


class DepositAddressOut(OutputSerializer):
    id = serializers.CharField(source="public_id")
    currency = serializers.CharField()
    network = serializers.CharField()
    address = serializers.CharField()
    uri = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_uri(self, obj) -> str:
        return payment_uri(NETWORKS[(obj.currency, obj.network)].uri_scheme, obj.address)


class DepositAddressIn(serializers.Serializer):
    currency = serializers.CharField(help_text=" | ".join(CURRENCIES))
    network = serializers.CharField(
        required=False, allow_null=True, allow_blank=True,
        help_text="BTC for BTC, LTC for LTC, ERC20 for ETH; ERC20 or TRC20 for USDT (required)",
    )


class DepositAddressListView(PortalAPIView):
    required_scope = {"GET": "balance:read", "POST": "deposits:write"}

    @extend_schema(responses=DepositAddressOut(many=True), summary="The account's deposit addresses")
    def get(self, request):
        items, meta = paginate(
            selectors.deposit_addresses(account=self.account), request.query_params,
            default_limit=ADDRESSES_DEFAULT_LIMIT, max_limit=ADDRESSES_MAX_LIMIT,
        )
        return ApiResponse(DepositAddressOut(items, many=True).data, meta=meta)

    @extend_schema(request=DepositAddressIn, responses={201: DepositAddressOut}, summary="A fresh deposit address")
    def post(self, request):
        body = DepositAddressIn(data=request.data)
        body.is_valid(raise_exception=True)
        address = services.deposit_address_create(
            account=self.account, currency=body.validated_data["currency"],
            network=body.validated_data.get("network"),
        )
        return ApiResponse(DepositAddressOut(address).data, status=201)
