"""The face collection. The database is the record; the FAISS index is a cache rebuilt from it."""

from __future__ import annotations

import numpy as np
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Image(models.Model):
    """One collected image. ``file`` holds a re-encoded copy: orientation applied, no metadata."""

    file = models.FileField(_("file"), upload_to="collection/%Y/%m/")
    # sha256 of the bytes as collected: what a recipient of a copy holds, and the duplicate key.
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    platform = models.CharField(_("platform"), max_length=100, blank=True)
    account = models.CharField(_("account"), max_length=300, blank=True, db_index=True)
    collected_at = models.DateTimeField(_("collected at"), db_index=True)
    ingested_at = models.DateTimeField(_("ingested at"), auto_now_add=True)
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        indexes = [models.Index(fields=["source_url"])]

    def __str__(self) -> str:
        return gettext("Image %(number)s") % {"number": self.pk}


class Face(models.Model):
    image = models.ForeignKey(Image, verbose_name=_("image"), on_delete=models.CASCADE, related_name="faces")
    # Pixel box in the stored (orientation-corrected) image: [x1, y1, x2, y2].
    x1 = models.FloatField()
    y1 = models.FloatField()
    x2 = models.FloatField()
    y2 = models.FloatField()
    det_score = models.FloatField(_("detection score"))
    # 512 float32 values, L2-normalised, little-endian: 2 KiB, the same on SQLite and PostgreSQL.
    embedding = models.BinaryField(_("face template"))

    class Meta:
        verbose_name = _("face")
        verbose_name_plural = _("faces")

    def __str__(self) -> str:
        return gettext("Face %(number)s in image %(image)s") % {"number": self.pk, "image": self.image_id}

    @property
    def bbox(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype="<f4")


class SuppressedFace(models.Model):
    """A face template kept, with its owner's consent, only so that they are not collected again.

    ``reference`` is an opaque label chosen by the caller (the rights app stores the request's id);
    ``matching`` knows nothing about requests.
    """

    reference = models.CharField(max_length=100, db_index=True)
    embedding = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed face")
        verbose_name_plural = _("suppressed faces")

    def __str__(self) -> str:
        return gettext("Suppressed face %(number)s") % {"number": self.pk}

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype="<f4")


class IngestionSkip(models.Model):
    """A file ingestion refused because a face in it is on the suppression list (counted, not kept)."""

    sha256 = models.CharField(max_length=64, db_index=True)
    suppression = models.ForeignKey(SuppressedFace, null=True, on_delete=models.SET_NULL)
    score = models.FloatField()
    skipped_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ingestion skip")
        verbose_name_plural = _("ingestion skips")

    def __str__(self) -> str:
        return gettext("Ingestion skip %(number)s") % {"number": self.pk}


class ErasedImage(models.Model):
    """The hash of an image erased at someone's request: ingestion refuses the same bytes ever after.

    ``reference`` names the request as the caller does (the rights app passes the request's id);
    ``matching`` knows nothing about requests. Kept for good: it holds a hash, never the image.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    erased_at = models.DateTimeField()
    reference = models.CharField(max_length=100, blank=True)
    # How many times ingestion refused these bytes since (a figure for staff: erased images coming back).
    refusals = models.PositiveIntegerField(default=0)
    last_refused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("erased image")
        verbose_name_plural = _("erased images")

    def __str__(self) -> str:
        return gettext("Erased image %(image)s") % {"image": self.sha256[:12]}


class IndexPending(models.Model):
    """A face whose index write may still be owed: the index's outbox.

    Written in the transaction that adds or deletes the Face row, deleted once the index holds the
    change. A crash between the commit and the index write leaves the row, and the next search's
    ``index_sync_if_changed`` applies just those faces: the check costs the change, not the collection.
    """

    # No foreign key: a removal's row outlives the Face row it names.
    face_id = models.BigIntegerField(primary_key=True)
    removal = models.BooleanField(default=False)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("pending index change")
        verbose_name_plural = _("pending index changes")

    def __str__(self) -> str:
        return f"Index {'removal' if self.removal else 'addition'} pending for face {self.face_id}"
