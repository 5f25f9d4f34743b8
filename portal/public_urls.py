"""The public pages. Every token in a path is a secret (signed or 256-bit random), never an id."""

from django.urls import path

from portal import views

app_name = "public"

urlpatterns = [
    path("", views.home, name="home"),
    path("request/", views.request_new, name="request_new"),
    path("request/sent/", views.request_sent, name="request_sent"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("status/<str:token>/", views.status, name="status"),
    path("status/<str:token>/photo/", views.selfie_upload, name="selfie_upload"),
    path("status/<str:token>/followup/", views.followup, name="followup"),
    path("answer/<str:token>/", views.answer, name="answer"),
    path("answer/<str:token>/download/", views.download, name="download"),
    path("answer/<str:token>/images/<path:name>", views.answer_image, name="answer_image"),
]
