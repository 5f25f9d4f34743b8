from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "rights"
    verbose_name = "Rights requests"

    def ready(self) -> None:
        from matching.signals import image_ingested
        from rights import signals

        image_ingested.connect(signals.releases_from_manifest, dispatch_uid="rights.releases_from_manifest")
