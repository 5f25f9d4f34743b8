from django.conf import settings
from django.http import HttpRequest

from rights.lifecycle.language import setting_text


def organisation(request: HttpRequest) -> dict[str, str]:
    return {
        "organisation_name": settings.ORGANISATION_NAME,
        "supervisory_authority": setting_text(name="SUPERVISORY_AUTHORITY"),  # the page's language
    }
