from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("notices/", include("rights.notice_urls")),
    path("api/", include("rights.api_urls")),
    path("", include("portal.public_urls")),
]
