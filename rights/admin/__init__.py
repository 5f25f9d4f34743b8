"""The privacy staff dashboard, in the Django admin: small modules, one per kind of page.

Nothing here decides anything: every action calls a service (rights.staff.actions for extend,
refuse and link; rights.staff.review for match decisions and approval), which writes the audit
trail. Each action view checks its own permission on the server, whatever buttons the page shows.
Requests are never edited as forms: their fields only change through services.

Holds: common (permissions, links, read-only admins), filters (the queue's), requests (the queue,
the request page and its actions, the summary and the compliance report), review (the review screen
and its images), queue (bulk actions, search), collection (the read-only collection browser), records
(audit trail and ledgers), recipients (recipients, releases, notices), events (event webhook
endpoints), accounts (staff users and
groups, audited).
May import: the use-case folders, rights.queries, rights.lifecycle, rights.models,
matching.models and matching.services.redaction. Nothing imports it but Django's admin autodiscovery.
"""

# Django's autodiscovery imports this package: registering each module's admins is importing it.
from django.contrib import admin

from rights.admin import accounts, collection, events, recipients, records, requests  # noqa: F401

# The admin home links the queue and the Summary (rights/templates/admin/rights/index.html).
admin.site.index_template = "admin/rights/index.html"
