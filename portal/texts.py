"""The default texts of the settings requesters read, marked for translation.

Each is the English msgid; ``rights.lifecycle.language.setting_text`` translates it into the
reader's language when it is shown. A deployment replaces one with its own text, for every language
or per language (portal.env.env_texts).
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

TEXT_DEFAULTS: dict[str, str] = {
    # Art. 77: where a requester may complain (every answer, letter and refusal names it).
    "SUPERVISORY_AUTHORITY": gettext_noop(
        "Commission Nationale de l'Informatique et des Libertés (CNIL), 3 Place de Fontenoy, "
        "TSA 80715, 75334 Paris Cedex 07, https://www.cnil.fr/en/plaintes"
    ),
    # Art. 15(2): the safeguards for transfers to third countries, stated in every access answer.
    "TRANSFER_SAFEGUARDS": gettext_noop("Images are not transferred outside the European Economic Area."),
    # Art. 15(1)(a): the purposes of the processing, for the collection and for each image.
    "PROCESSING_PURPOSES": gettext_noop(
        "Providing a face search service to our customers; improving face recognition models."
    ),
}
