"""The Dashboard ("Iris") XML API: accounts, provisioning, numbers, orders.

Served under /api, /api/v1 and /v1.0 (the SDKs and docs disagree on the prefix); `/tns` is not
account-scoped.
"""

from openband.api.dashboard import accounts, available_numbers

ROUTERS = [accounts.router]
ROUTERS.append(available_numbers.router)

from openband.api.dashboard import numbers, orders  # noqa: E402

ROUTERS += [orders.router, numbers.router]

from openband.api.dashboard import applications, sites  # noqa: E402

ROUTERS += [applications.router, sites.router]

from openband.api.dashboard import sippeer_products  # noqa: E402

ROUTERS.append(sippeer_products.router)
