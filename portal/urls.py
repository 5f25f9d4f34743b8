from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("notices/", include("rights.notice_urls")),
    path("api/", include("rights.api_urls")),
    # The language switcher posts here (django.views.i18n.set_language): a cookie, then `next`.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("portal.public_urls")),
]
