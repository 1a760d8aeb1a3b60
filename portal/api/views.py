"""REST API for brands and integrations. Thin: the policy module scopes every queryset (a row another
tenant owns is a 404), serializers parse, services decide, and `exceptions.exception_handler` turns
their DomainErrors into HTTP."""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers as drf_serializers, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from consent import ledger
from consent import services as consent_services
from consent.exceptions import NotPermitted
from consent.models import AuditEvent, LikenessAsset
from rendering import services as rendering_services

from .. import actions, permissions, selectors
from ..verification import verify_upload
from ..meta import client_ip, request_meta
from ..ratelimit import LoginThrottle
from . import serializers as s


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError({name: ["Give a whole number."]}) from None


def _date_param(request, name: str):
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_date(raw)
    if value is None:
        raise ValidationError({name: ["Give a date as YYYY-MM-DD."]})
    return value


def _id_filter(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.INT, description=f"Only rows of this {what}.")


STATUS_FILTER = OpenApiParameter("status", OpenApiTypes.STR, description="Only rows in this status.")


class ThrottledTokenView(ObtainAuthToken):
    """Exchange a username and password for an API token; failures count towards the login limit."""

    def post(self, request, *args, **kwargs):
        throttle = LoginThrottle(str(request.data.get("username", "")), client_ip(request))
        if throttle.is_blocked():
            return Response(
                {"error": {"code": "login_throttled",
                           "message": "Too many failed sign-in attempts. Wait 15 minutes and try again."}},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            throttle.record_failure()
            raise ValidationError(serializer.errors)
        throttle.reset()
        return super().post(request, *args, **kwargs)


class MeView(APIView):
    @extend_schema(responses=s.MeSerializer)
    def get(self, request):
        user = request.user
        talent = permissions.talent_of(user)
        data = {
            "username": user.get_username(),
            "roles": sorted(permissions.roles_of(user)),
            "talent": talent,
            "brands": list(permissions.brands_of(user)),
        }
        return Response(s.MeSerializer(data).data)


class GrantViewSet(viewsets.ReadOnlyModelViewSet):
    """Consent grants in full: a talent's own; all for legal staff."""

    serializer_class = s.GrantSerializer

    def get_queryset(self):
        grants = permissions.grants_visible_to(self.request.user).select_related("talent")
        if status_filter := self.request.query_params.get("status"):
            grants = grants.filter(status=status_filter)
        return grants

    @extend_schema(parameters=[STATUS_FILTER])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.RevokeGrantSerializer, responses=s.GrantSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Withdraw consent: every open license on it is revoked and its streams stop at once."""
        grant = self.get_object()
        if not permissions.can_revoke_grant(request.user, grant):
            raise NotPermitted("Only the talent who gave this consent can revoke it.")
        body = s.RevokeGrantSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grant = consent_services.revoke_consent(grant=grant, actor=request.user, reason=body.validated_data["reason"],
                                                request_meta=request_meta(request))
        return Response(s.GrantSerializer(grant).data)


class OfferViewSet(viewsets.ReadOnlyModelViewSet):
    """Active consent grants brands may request licenses under: their scope, not their evidence."""

    serializer_class = s.GrantOfferSerializer

    def get_queryset(self):
        offers = permissions.grants_on_offer(self.request.user)
        if talent := _int_param(self.request, "talent"):
            offers = offers.filter(talent_id=talent)
        return offers

    @extend_schema(parameters=[_id_filter("talent", "talent")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class LicenseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    """Licenses: a brand's own, a talent's own, all for legal staff. Moves are POSTs on a license."""

    serializer_class = s.LicenseSerializer

    def get_queryset(self):
        licenses = permissions.licenses_visible_to(self.request.user)
        if status_filter := self.request.query_params.get("status"):
            licenses = licenses.filter(status=status_filter)
        for name in ("brand", "talent", "grant"):
            if (value := _int_param(self.request, name)) is not None:
                licenses = licenses.filter(**{f"{name}_id": value})
        return licenses

    @extend_schema(parameters=[STATUS_FILTER, _id_filter("brand", "brand"), _id_filter("talent", "talent"),
                               _id_filter("grant", "consent grant")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.LicenseRequestSerializer, responses={201: s.LicenseSerializer})
    def create(self, request, *args, **kwargs):
        """Request a license inside an active consent grant (see /api/offers/)."""
        body = s.LicenseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        brand = permissions.brands_of(request.user).filter(pk=data.pop("brand")).first()
        if brand is None:
            raise NotPermitted("You can only request licenses for a brand you are a member of.")
        grant = permissions.grants_on_offer(request.user).filter(pk=data.pop("grant")).first()
        if grant is None:
            raise NotFound("No active consent grant with this id.")
        license = consent_services.request_license(brand=brand, grant=grant, actor=request.user,
                                                   request_meta=request_meta(request), **data)
        return Response(s.LicenseSerializer(license).data, status=status.HTTP_201_CREATED)

    def _move(self, request, name: str):
        license = self.get_object()
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        license = actions.perform_license_action(user=request.user, license=license, action=name,
                                                 reason=body.validated_data["reason"],
                                                 request_meta=request_meta(request))
        return Response(s.LicenseSerializer(license).data)

    @extend_schema(request=None, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Talent: approve the request as asked."""
        return self._move(request, "approve")

    @extend_schema(request=s.ReasonSerializer, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Talent or legal: decline the request."""
        return self._move(request, "decline")

    @extend_schema(request=s.CounterSerializer, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def counter(self, request, pk=None):
        """Talent: answer with a narrower scope (only the fields given change)."""
        license = self.get_object()
        if not actions.can_counter(request.user, license):
            raise NotPermitted("Only the talent can counter a request, and only while it is requested.")
        body = s.CounterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        license = consent_services.counter_license(license=license, actor=request.user,
                                                   request_meta=request_meta(request), **body.validated_data)
        return Response(s.LicenseSerializer(license).data)

    @extend_schema(request=None, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"], url_path="accept-counter")
    def accept_counter(self, request, pk=None):
        """Brand: accept the talent's counter-offer."""
        return self._move(request, "accept-counter")

    @extend_schema(request=None, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Brand: withdraw the request."""
        return self._move(request, "withdraw")

    @extend_schema(request=None, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def countersign(self, request, pk=None):
        """Legal: countersign an approved license; it becomes active when its term has started."""
        return self._move(request, "countersign")

    @extend_schema(request=s.ReasonSerializer, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        """Legal or admin: suspend (running streams stop at their next segment). A reason is required."""
        return self._move(request, "suspend")

    @extend_schema(request=None, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def reinstate(self, request, pk=None):
        """Legal or admin: reinstate a suspended license."""
        return self._move(request, "reinstate")

    @extend_schema(request=s.ReasonSerializer, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Talent, legal or admin: revoke (running streams stop at their next segment). A reason is required."""
        return self._move(request, "revoke")

    @extend_schema(request=None, responses=s.LicenseSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Brand, legal or admin: mark the license completed."""
        return self._move(request, "complete")

    @extend_schema(responses=s.UsageSerializer)
    @action(detail=True, methods=["get"])
    def usage(self, request, pk=None):
        """Hours rendered (today, in total, per platform), streams, and cost."""
        return Response(s.UsageSerializer(selectors.license_report(self.get_object())).data)


class CloneCreateSerializer(drf_serializers.Serializer):
    license = drf_serializers.IntegerField()
    source_asset = drf_serializers.IntegerField(required=False, allow_null=True, default=None,
                                                help_text="Portrait asset id; the talent's latest when omitted.")
    voice_asset = drf_serializers.IntegerField(required=False, allow_null=True, default=None)


class CloneViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                   viewsets.GenericViewSet):
    serializer_class = s.CloneSerializer

    def get_queryset(self):
        clones = permissions.clones_visible_to(self.request.user)
        if (license_id := _int_param(self.request, "license")) is not None:
            clones = clones.filter(license_id=license_id)
        if status_filter := self.request.query_params.get("status"):
            clones = clones.filter(status=status_filter)
        return clones

    @extend_schema(parameters=[STATUS_FILTER, _id_filter("license", "license")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=CloneCreateSerializer, responses={201: s.CloneSerializer})
    def create(self, request, *args, **kwargs):
        """Brand: ask for a clone of the licensed talent; it is built (gated) in the background."""
        body = CloneCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        license = permissions.licenses_visible_to(request.user).filter(pk=body.validated_data["license"]).first()
        if license is None:
            raise NotFound("No license with this id.")
        if not permissions.can_act_for_brand(request.user, license):
            raise NotPermitted("Only members of the licensed brand can create clones.")
        assets = LikenessAsset.objects.filter(talent_id=license.talent_id)
        clone = rendering_services.request_clone(
            license=license, actor=request.user, request_meta=request_meta(request),
            source_asset=_asset(assets, body.validated_data["source_asset"], "source_asset"),
            voice_asset=_asset(assets, body.validated_data["voice_asset"], "voice_asset"),
        )
        return Response(s.CloneSerializer(clone).data, status=status.HTTP_201_CREATED)


def _asset(assets, pk, field):
    if pk is None:
        return None
    asset = assets.filter(pk=pk).first()
    if asset is None:
        raise ValidationError({field: ["No asset of the licensed talent with this id."]})
    return asset


class StreamCreateSerializer(drf_serializers.Serializer):
    clone = drf_serializers.IntegerField()
    audio = drf_serializers.FileField(help_text="Speech to render: WAV, MP3, M4A, OGG or FLAC.")
    script_text = drf_serializers.CharField(required=False, allow_blank=True, default="")
    platform = drf_serializers.CharField(max_length=32)
    product_category = drf_serializers.CharField(max_length=64)
    territory = drf_serializers.CharField(max_length=8)
    language = drf_serializers.CharField(max_length=16)
    width = drf_serializers.IntegerField(default=640)
    height = drf_serializers.IntegerField(default=360)
    fps = drf_serializers.IntegerField(default=25)
    use_voice = drf_serializers.BooleanField(default=False, help_text="Also use the licensed voice.")


class StreamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    viewsets.GenericViewSet):
    serializer_class = s.StreamSerializer
    parser_classes = [MultiPartParser, FormParser, *viewsets.GenericViewSet.parser_classes]

    def get_queryset(self):
        streams = permissions.streams_visible_to(self.request.user)
        if (license_id := _int_param(self.request, "license")) is not None:
            streams = streams.filter(license_id=license_id)
        if status_filter := self.request.query_params.get("status"):
            streams = streams.filter(status=status_filter)
        return selectors.with_progress(streams).order_by("-created_at", "-id")

    @extend_schema(parameters=[STATUS_FILTER, _id_filter("license", "license")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": StreamCreateSerializer}, responses={201: s.StreamSerializer})
    def create(self, request, *args, **kwargs):
        """Brand: start a licensed stream. The gate is asked first; a denial is a 403 naming every reason."""
        body = StreamCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        clone = permissions.clones_visible_to(request.user).select_related("license").filter(pk=data.pop("clone")).first()
        if clone is None:
            raise NotFound("No clone with this id.")
        if not permissions.can_act_for_brand(request.user, clone.license):
            raise NotPermitted("Only members of the licensed brand can start streams.")
        modalities = ("face", "voice") if data.pop("use_voice") else ("face",)
        stream = rendering_services.create_stream(
            clone=clone, actor=request.user, audio_file=data.pop("audio"), modalities=modalities,
            request_meta=request_meta(request), **data,
        )
        stream = selectors.with_progress(permissions.streams_visible_to(request.user)).get(pk=stream.pk)
        return Response(s.StreamSerializer(stream).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses=s.StreamSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Brand: stop the stream at its next segment boundary."""
        stream = self.get_object()
        if not permissions.can_stop_stream(request.user, stream):
            raise NotPermitted("Only members of the brand running this stream can stop it.")
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rendering_services.request_stream_stop(stream=stream, actor=request.user, reason=body.validated_data["reason"],
                                               request_meta=request_meta(request))
        return Response(s.StreamSerializer(self.get_object()).data)

    @extend_schema(responses=s.SegmentSerializer(many=True))
    @action(detail=True, methods=["get"])
    def segments(self, request, pk=None):
        """The published segments of the stream, in order."""
        stream = self.get_object()
        page = self.paginate_queryset(stream.segments.order_by("sequence"))
        return self.get_paginated_response(s.SegmentSerializer(page, many=True).data)


class SegmentViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SegmentSerializer

    def get_queryset(self):
        segments = permissions.segments_visible_to(self.request.user)
        if (stream_id := _int_param(self.request, "stream")) is not None:
            segments = segments.filter(stream_id=stream_id)
        return segments.order_by("stream_id", "sequence")

    @extend_schema(parameters=[_id_filter("stream", "stream")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


LEDGER_FILTERS = [
    _id_filter("talent", "talent (and their grants, assets, licenses, clones, streams)"),
    _id_filter("brand", "brand (and its licenses, clones, streams)"),
    _id_filter("license", "license (and its clones and streams)"),
    OpenApiParameter("action", OpenApiTypes.STR, description="e.g. license.countersign"),
    OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (local time)."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="Up to and including this day."),
]


class CanReadLedger(BasePermission):
    message = "Only legal reviewers and platform admins can read the ledger."

    def has_permission(self, request, view):
        return permissions.can_read_ledger(request.user)


class LedgerViewSet(viewsets.ReadOnlyModelViewSet):
    """The signed audit ledger, newest first. Legal reviewers and platform admins only."""

    serializer_class = s.AuditEventSerializer
    permission_classes = [IsAuthenticated, CanReadLedger]
    lookup_field = "sequence"
    lookup_value_regex = r"\d+"
    queryset = AuditEvent.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        request = self.request
        return selectors.ledger_timeline(
            permissions.ledger_visible_to(request.user),
            talent_id=_int_param(request, "talent"), brand_id=_int_param(request, "brand"),
            license_id=_int_param(request, "license"), action=request.query_params.get("action", ""),
            since=_date_param(request, "since"), until=_date_param(request, "until"),
        )

    @extend_schema(parameters=LEDGER_FILTERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=s.ChainStatusSerializer)
    @action(detail=False, methods=["get"])
    def verify(self, request):
        """Recompute every hash and signature of the chain; names the first bad event."""
        report = ledger.verify_chain()
        return Response(s.ChainStatusSerializer({**report.__dict__, "summary": report.summary()}).data)


class VerifyView(APIView):
    """Public: is this frame or file AI-generated, and whose? Owner details only for people who may see them."""

    permission_classes = [AllowAny]
    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "verify"

    @extend_schema(request={"multipart/form-data": s.VerifyUploadSerializer},
                   responses=inline_serializer("VerificationResult", {"result": drf_serializers.DictField()}))
    def post(self, request):
        body = s.VerifyUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = verify_upload(body.validated_data["file"], user=request.user)
        except DjangoValidationError as error:
            raise ValidationError({"file": error.messages}) from error
        return Response({"result": result.as_dict()})

