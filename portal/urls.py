from django.contrib import admin
from django.urls import include, path

from portal.account_views import account_view
from portal.health import health_view
from portal.metrics import metrics_view
from rights.admin.intake import intake_view

urlpatterns = [
    # The staff second factor (portal.otp_views), before the admin site that it guards.
    path("admin/otp/", include("portal.otp_views")),
    # Staff record a request received by email, post, phone or an agent (before the admin's own
    # <object_id> pattern, which would take "record" for an id).
    path("admin/rights/datarequest/record/", admin.site.admin_view(intake_view), name="rights-intake"),
    # A staff member's own account page (the language of the emails sent to them).
    path("admin/account/", admin.site.admin_view(account_view), name="staff-account"),
    path("admin/", admin.site.urls),
    path("notices/", include("rights.notice_urls")),
    path("api/v1/", include("rights.api.v1.urls")),
    path("api/", include("rights.api.urls")),
    # The language switcher posts here (django.views.i18n.set_language): a cookie, then `next`.
    path("i18n/", include("django.conf.urls.i18n")),
    # Operating it: health for the healthchecks and monitors, metrics for Prometheus (not public).
    path("health/", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("portal.public_urls")),
]
