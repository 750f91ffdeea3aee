"""Forms of the import pages: one form per import kind, turning input into ``job.params``.

Server-side folders (images roots, crawl folders) are named by path: images stay where
they lie. Files (CSV, JSON exports, mappings) are uploaded and saved under
``settings.IMPORT_UPLOAD_ROOT/<job id>/`` when the job is created; their saved paths go
into ``job.params`` under the form field's name.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from annotator.dataset.importers.folder import images_root_resolve
from annotator.dataset.ingest import ImportFailed
from annotator.dataset.models import Image, ImportJob
from annotator.dataset.tasks import import_job_enqueue
from annotator.taxonomy.models import Label

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

_ROOT_HELP = _("An absolute folder on the server; images stay where they are.")


def _folder_field(label: StrOrPromise, help_text: StrOrPromise = _ROOT_HELP) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=1000,
        help_text=help_text,
        widget=forms.TextInput(attrs={"placeholder": "/srv/images", "spellcheck": "false", "autocomplete": "off"}),
    )


def _origin_field(default: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Origin of new images"),
        choices=Image.Origin.choices,
        initial=default,
        help_text=_("Recorded on images not seen before; an image already known keeps its origin."),
    )


class ImportJobForm(forms.Form):
    """The fields every kind shares; subclasses add theirs and name the kind.

    ``upload_fields`` are FileFields saved to disk at job creation (their paths become
    params); every other cleaned field goes into params as it is.
    """

    kind: ClassVar[str]
    upload_fields: ClassVar[tuple[str, ...]] = ()
    folder_fields: ClassVar[tuple[str, ...]] = ()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.folder_fields:
            value = cleaned.get(name)
            if not value:
                continue
            try:
                cleaned[name] = str(images_root_resolve(value, field=name))
            except ImportFailed as exc:
                self.add_error(name, exc.message)
        return cleaned

    def params(self) -> dict[str, Any]:
        """``job.params`` without the uploads (added once they are saved)."""
        out: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name in self.upload_fields:
                continue
            if isinstance(value, Label):
                value = value.key
            if value not in (None, ""):
                out[name] = value
        return out

    def uploads(self) -> dict[str, UploadedFile]:
        """The uploaded files by param name (optional ones left out when not given)."""
        return {name: self.cleaned_data[name] for name in self.upload_fields if self.cleaned_data.get(name)}

    def save(self, *, user: User | None) -> ImportJob:
        """Create the job, save its uploads under IMPORT_UPLOAD_ROOT/<job id>/, queue it after commit."""
        with transaction.atomic():
            job = ImportJob.objects.create(kind=self.kind, params=self.params(), created_by=user)
            uploads = self.uploads()
            if uploads:
                folder = Path(settings.IMPORT_UPLOAD_ROOT) / str(job.id)
                try:
                    for name, upload in uploads.items():
                        job.params[name] = str(upload_save(upload, folder=folder, prefix=name))
                    job.save(update_fields=["params"])
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
            import_job_enqueue(job_id=job.id)
        return job


def upload_save(upload: UploadedFile, *, folder: Path, prefix: str) -> Path:
    """Write an uploaded file into ``folder`` as ``<prefix>-<safe original name>``; returns its path."""
    try:
        name = get_valid_filename(PurePath(upload.name or "").name)
    except SuspiciousFileOperation:
        name = "upload"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{name}"
    with path.open("wb") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
    return path


class FolderImportForm(ImportJobForm):
    """Crawled images for one label: unverified candidates, never truth."""

    kind = ImportJob.Kind.FOLDER
    folder_fields = ("folder",)

    folder = _folder_field(_("Folder"), _("An absolute folder on the server; images below it are found recursively."))
    label = forms.ModelChoiceField(
        label=_("Label"), queryset=Label.objects.order_by("key"), to_field_name="key", empty_label=None
    )
    origin = _origin_field(Image.Origin.CRAWLED)
    source_name = forms.CharField(
        label=_("Source name"),
        required=False,
        max_length=200,
        help_text=_('Name of the evidence source; "crawl:<label key>" when empty.'),
    )


class CsvImportForm(ImportJobForm):
    """A plain CSV ``image,labels[,split]`` (annotator.dataset.importers.csvfile)."""

    kind = ImportJob.Kind.CSV
    upload_fields = ("file",)
    folder_fields = ("images_root",)

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_('Columns image, labels (keys separated by "|") and optionally split; UTF-8.'),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    images_root = _folder_field(_("Images root"))
    origin = _origin_field(Image.Origin.INTERNAL)


def _csv_upload(label: StrOrPromise, help_text: StrOrPromise, *, required: bool = True) -> forms.FileField:
    return forms.FileField(
        label=label,
        help_text=help_text,
        required=required,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class OpenImagesImportForm(ImportJobForm):
    """Open Images label CSVs (annotator.dataset.importers.openimages); images are <ImageID>.jpg."""

    kind = ImportJob.Kind.OPENIMAGES
    upload_fields = ("labels", "classes", "hierarchy", "mapping")
    folder_fields = ("images_root",)

    labels = _csv_upload(
        _("Image-level labels CSV"),
        _("ImageID, Source, LabelName, Confidence (e.g. oidv6-train-annotations-human-imagelabels.csv)."),
    )
    classes = _csv_upload(_("Class descriptions CSV"), _("LabelName, DisplayName (oidv7-class-descriptions.csv)."))
    hierarchy = forms.FileField(
        label=_("Class hierarchy JSON"),
        required=False,
        help_text=_("bbox_labels_600_hierarchy.json; optional: parents for labels created from classes."),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )
    mapping = _csv_upload(
        _("Mapping CSV"), _("Rows of MID,key; optional: without it, classes become labels."), required=False
    )
    images_root = _folder_field(_("Images root"), _("An absolute folder on the server holding <ImageID>.jpg files."))


class LabelStudioImportForm(ImportJobForm):
    """A Label Studio JSON export of an image-classification (choices) project."""

    kind = ImportJob.Kind.LABELSTUDIO
    upload_fields = ("export", "mapping")
    folder_fields = ("images_root",)

    export = forms.FileField(
        label=_("JSON export"),
        help_text=_('Label Studio → Export → "JSON".'),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )
    images_root = _folder_field(
        _("Images root"),
        _("Where the task images lie: Label Studio's local-files document root or its upload folder."),
    )
    from_name = forms.CharField(
        label=_("Choices control (from_name)"),
        required=False,
        max_length=200,
        help_text=_("Only needed when the project has several Choices controls."),
    )
    mapping = forms.FileField(
        label=_("Mapping CSV"),
        required=False,
        help_text=_("Rows of choice,key; choices without a row use the stored mappings or the label keys."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    origin = _origin_field(Image.Origin.INTERNAL)


#: ImportJob.kind -> its form, in the order the "new import" page lists them.
IMPORT_FORMS: dict[str, type[ImportJobForm]] = {
    ImportJob.Kind.CSV: CsvImportForm,
    ImportJob.Kind.OPENIMAGES: OpenImagesImportForm,
    ImportJob.Kind.FOLDER: FolderImportForm,
    ImportJob.Kind.LABELSTUDIO: LabelStudioImportForm,
}
