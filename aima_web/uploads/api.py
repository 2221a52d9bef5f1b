"""Resumable uploads: a chunked, checksum-verified path for large media, with the
same limits as a one-request upload (``AIMA_MAX_UPLOAD_MB``).

The protocol (close to tus 1.0's core, without its discovery headers)::

    POST   /api/v1/uploads/        {filename, size, sha256}
           -> 201 {id, offset: 0, chunk_bytes, expires_at, ...}
              413 naming "size" when size is over the limit; nothing is written
    PATCH  /api/v1/uploads/<id>/   Upload-Offset: <n>, Content-Type:
           application/offset+octet-stream, the bytes from n as the body
           -> 204, Upload-Offset: <the new offset>
              409 {offset} when n is not where the upload stands
              413 when the chunk would end past the declared size or carries more than
              chunk_bytes; nothing is written
              422 naming "sha256" when the last byte is in and the file's SHA-256 is not
              the declared one: the upload is discarded
    HEAD / GET /api/v1/uploads/<id>/  -> 200, Upload-Offset (GET: the upload as JSON)
    DELETE /api/v1/uploads/<id>/   -> 204, the upload and its chunks deleted

A request cut off midway keeps the bytes that arrived before the cut: the client asks
HEAD for the offset and sends the rest from there. Each chunk is sealed at rest as a
file of its own (``aima_web.uploads.files``); on the last byte the chunks are
assembled into one sealed file while its SHA-256 is taken. A finished upload is
submitted with ``POST /api/v1/jobs/`` and ``upload=<id>`` instead of ``media``; the
job takes the file (stored by content like any upload) and the upload is gone.
Uploads are their owner's alone (anyone else gets 404) and expire a day after their
last chunk.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import APIException, UnsupportedMediaType, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from aima_web.access.roles import Capability
from aima_web.uploads import services
from aima_web.uploads.models import Upload

OFFSET_HEADER = "Upload-Offset"
CHUNK_TYPE = "application/offset+octet-stream"


class ChunkParser(BaseParser):
    """Names the chunk's media type; the view reads the body itself, a piece at a time."""

    media_type = CHUNK_TYPE

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class UploadCreateSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=1, help_text="The file's size in bytes.")
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", help_text="The file's SHA-256, hex.")


class UploadSerializer(serializers.ModelSerializer):
    size = serializers.IntegerField(source="size_bytes")
    chunk_bytes = serializers.SerializerMethodField(
        help_text="The most bytes one PATCH may carry.")

    class Meta:
        model = Upload
        fields = ["id", "filename", "size", "sha256", "offset", "chunk_bytes", "complete",
                  "created_at", "expires_at"]
        read_only_fields = fields

    def get_chunk_bytes(self, upload: Upload) -> int:
        return services.CHUNK_BYTES


class Refused(APIException):
    def __init__(self, code: int, detail: dict) -> None:
        self.status_code = code
        super().__init__(detail)


_OFFSET = OpenApiParameter(OFFSET_HEADER, int, OpenApiParameter.HEADER, required=True,
                           description="Where the chunk starts in the file.")
_NEW_OFFSET = OpenApiParameter(OFFSET_HEADER, int, OpenApiParameter.HEADER, response=True,
                               description="Bytes received so far.")


class UploadViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                    viewsets.GenericViewSet):
    """Resumable uploads of large media, in chunks (the protocol: this module's docstring)."""

    serializer_class = UploadSerializer
    queryset = Upload.objects.all()  # narrowed to the caller's own in get_queryset
    capabilities = dict.fromkeys(["create", "retrieve", "partial_update", "destroy"],
                                 Capability.SUBMIT_JOBS)

    def get_queryset(self) -> QuerySet[Upload]:
        # Another user's upload, or an expired one, is simply not there (404).
        return Upload.objects.filter(owner=self.request.user, expires_at__gte=timezone.now())

    def get_parsers(self):
        if getattr(self, "action", None) == "partial_update":
            return [ChunkParser()]
        return super().get_parsers()

    @extend_schema(request=UploadCreateSerializer,
                   responses={201: UploadSerializer, 413: OpenApiResponse(
                       description="The declared size is over AIMA_MAX_UPLOAD_MB.")})
    def create(self, request: Request) -> Response:
        form = UploadCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            upload = services.open_upload(request.user, form.validated_data["filename"],
                                          form.validated_data["size"],
                                          form.validated_data["sha256"])
        except services.TooLarge as exc:
            raise Refused(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                          {exc.field: [str(exc)]}) from None
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED,
                        headers={OFFSET_HEADER: "0"})

    @extend_schema(parameters=[_NEW_OFFSET])
    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        upload = self.get_object()
        return Response(UploadSerializer(upload).data,
                        headers={OFFSET_HEADER: str(upload.offset)})

    @extend_schema(request={CHUNK_TYPE: OpenApiTypes.BINARY}, parameters=[_OFFSET, _NEW_OFFSET],
                   responses={204: None, 409: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT,
                              422: OpenApiTypes.OBJECT})
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        """Append the body at Upload-Offset; the last byte assembles and verifies the file."""
        upload = self.get_object()
        if request.content_type.split(";")[0].strip() != CHUNK_TYPE:
            raise UnsupportedMediaType(request.content_type,
                                       f"send the chunk as {CHUNK_TYPE} (Content-Type)")
        offset, length = _offset_and_length(request)
        try:
            new_offset = services.append(upload, offset, length, request.stream or _Empty())
        except services.OffsetConflict as exc:
            return Response({"offset": exc.offset, "detail": str(exc)},
                            status=status.HTTP_409_CONFLICT,
                            headers={OFFSET_HEADER: str(exc.offset)})
        except services.TooLarge as exc:
            raise Refused(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                          {exc.field: [str(exc)]}) from None
        except services.ChecksumMismatch as exc:
            raise Refused(status.HTTP_422_UNPROCESSABLE_ENTITY,
                          {exc.field: [str(exc)]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT,
                        headers={OFFSET_HEADER: str(new_offset)})

    def perform_destroy(self, instance: Upload) -> None:
        services.abandon(instance)


# The schema describes each operation with the protocol, from the one text above.
UploadViewSet.__doc__ = __doc__


class _Empty:
    def read(self, size: int = -1) -> bytes:
        return b""


def _offset_and_length(request: Request) -> tuple[int, int]:
    """The Upload-Offset and Content-Length headers, each a whole number (400 naming it)."""
    found = []
    for header, meta in ((OFFSET_HEADER, "HTTP_UPLOAD_OFFSET"),
                         ("Content-Length", "CONTENT_LENGTH")):
        value = request.META.get(meta) or ("0" if meta == "CONTENT_LENGTH" else "")
        if not value.isdigit():
            raise ValidationError({header: ["a whole number of bytes is required"]})
        found.append(int(value))
    return found[0], found[1]
