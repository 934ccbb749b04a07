from django.urls import path

from billing import api

urlpatterns = [
    path("account", api.AccountView.as_view(), name="api-account"),
    path("account/transactions", api.TransactionListView.as_view(), name="api-account-transactions"),
    path("plans", api.PlanListView.as_view(), name="api-plans"),
    path("deposits/addresses", api.DepositAddressListView.as_view(), name="api-deposit-addresses"),
]
