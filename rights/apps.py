from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RightsConfig(AppConfig):
    name = "rights"
    verbose_name = _("Rights requests")

    def import_models(self) -> None:
        super().import_models()
        # Casework's models live in their own module (models.py is at its size limit).
        import rights.casework  # noqa: F401

    def ready(self) -> None:
        from matching.signals import image_ingested
        from rights import signals

        image_ingested.connect(signals.releases_from_manifest, dispatch_uid="rights.releases_from_manifest")
