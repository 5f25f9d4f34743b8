import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = _("Face collection")

    def ready(self) -> None:
        # faiss announces at INFO which SIMD build it loaded, in every process: noise in our logs.
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)
