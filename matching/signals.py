"""Signals other apps may listen to; matching never imports them."""

from django.dispatch import Signal

# Sent after the transaction that stored an image committed: image_id (int), extra (dict of the
# manifest's extra columns, e.g. {"released_to": "..."}). Receivers must be quick and must not fail
# the ingestion: they run outside it.
image_ingested = Signal()
