"""The Dashboard ("Iris") XML API: accounts, provisioning, numbers, orders.

Served under /api, /api/v1 and /v1.0 (the SDKs and docs disagree on the prefix); `/tns` is not
account-scoped.
"""

from openband.api.dashboard import accounts

ROUTERS = [accounts.router]
