"""Signals other apps may listen to; matching never imports them."""

from django.dispatch import Signal

# Sent after the transaction that stored an image committed: image_id (int), extra (dict of the
# manifest's extra columns, e.g. {"released_to": "..."}). Receivers must be quick; they run after
# the commit and are sent with send_robust: a receiver that raises does not undo the image, and its
# error is reported as a warning of the image's ingest outcome.
image_ingested = Signal()
