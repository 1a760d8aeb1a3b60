"""Forms for the portal pages. They parse and validate input; the services decide and record."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from consent.models import License, LikenessAsset, Modality, Platform, Use

from .meta import client_ip
from .ratelimit import LoginThrottle

TERRITORY_RE = re.compile(r"^[A-Z]{2}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing further tries after repeated failures (see ratelimit)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed sign-in attempts. Wait 15 minutes and try again, "
        "or ask an administrator to reset your password.",
    }

    def clean(self):
        throttle = LoginThrottle(self.data.get("username", ""), client_ip(self.request))
        if throttle.is_blocked():
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            throttle.record_failure()
            raise
        throttle.reset()
        return cleaned


class ListField(forms.CharField):
    """Comma- or newline-separated values → a list without blanks or duplicates, order kept."""

    def __init__(self, *, item_pattern: re.Pattern | None = None, item_hint: str = "", normalise=None, **kwargs):
        self.item_pattern = item_pattern
        self.item_hint = item_hint
        self.normalise = normalise or (lambda value: value)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        items = []
        for raw in re.split(r"[,\n;]", text or ""):
            item = self.normalise(raw.strip())
            if item and item not in items:
                items.append(item)
        return items

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        if self.item_pattern:
            bad = [item for item in value if not self.item_pattern.match(item)]
            if bad:
                raise ValidationError(f"Not valid: {', '.join(bad)}. {self.item_hint}", code="invalid")


def territories_field(**kwargs) -> ListField:
    return ListField(
        item_pattern=TERRITORY_RE,
        item_hint="Use two-letter country codes such as CN, HK, SG.",
        normalise=str.upper,
        help_text="Two-letter country codes, separated by commas, e.g. CN, HK.",
        **kwargs,
    )


def languages_field(**kwargs) -> ListField:
    return ListField(
        item_pattern=LANGUAGE_RE,
        item_hint="Use language tags such as zh-CN or en.",
        help_text="Language tags, separated by commas, e.g. zh-CN, en.",
        **kwargs,
    )


def categories_field(**kwargs) -> ListField:
    return ListField(
        item_pattern=CATEGORY_RE,
        item_hint="Use lower-case words joined by hyphens, such as skincare or home-appliances.",
        normalise=lambda v: v.lower(),
        help_text="Product categories separated by commas, e.g. skincare, snacks, home-appliances.",
        **kwargs,
    )


def checkboxes(choices, **kwargs) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **kwargs)


def start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def end_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def last_day(end: dt.datetime) -> dt.date:
    """The last local day a term covers (terms end at the midnight after it)."""
    return (timezone.localtime(end) - dt.timedelta(microseconds=1)).date()


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


# --- Talent: consent -----------------------------------------------------------------------------


class ConsentScopeForm(forms.Form):
    """Step 1 of granting consent: what may be done with the likeness. Step 2 shows the document."""

    modalities = checkboxes(Modality.choices, label="Face and voice",
                            help_text="Each one is consented to separately on the next page.")
    permitted_uses = checkboxes(Use.choices, label="Uses")
    platforms = checkboxes(Platform.choices)
    allowed_categories = categories_field(label="Product categories allowed")
    excluded_categories = categories_field(label="Product categories never allowed", required=False)
    territories = territories_field(initial="CN")
    languages = languages_field(initial="zh-CN")
    prohibited_topics = ListField(
        required=False, label="Words or topics the clone must never say", help_text="Separated by commas."
    )
    valid_from = forms.DateField(widget=DateInput)
    valid_until = forms.DateField(widget=DateInput, help_text="Consent ends at the end of this day.")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("valid_from"), cleaned.get("valid_until")
        if start and end and end < start:
            self.add_error("valid_until", "The end date must be on or after the start date.")
        overlap = set(cleaned.get("allowed_categories") or ()) & set(cleaned.get("excluded_categories") or ())
        if overlap:
            self.add_error("excluded_categories", f"Both allowed and excluded: {', '.join(sorted(overlap))}.")
        return cleaned

    def scope(self) -> dict:
        """The scope as plain JSON (dates as ISO strings), to sign into the next step."""
        data = dict(self.cleaned_data)
        data["valid_from"] = data["valid_from"].isoformat()
        data["valid_until"] = data["valid_until"].isoformat()
        return data


class ConsentSignForm(forms.Form):
    """Step 2: the document in full, a separate tick per modality, and the recorded statement."""

    token = forms.CharField(widget=forms.HiddenInput)
    evidence_file = forms.FileField(
        label="Your recorded statement",
        help_text="A short recording of you saying the phrase above aloud (audio, or a video with sound).",
        widget=forms.ClearableFileInput(attrs={"accept": "audio/*,video/*"}),
    )

    MODALITY_STATEMENTS = {
        Modality.FACE: "I separately consent to the processing of my face (biometric data) to create and "
        "animate an AI digital clone, within the scope above.",
        Modality.VOICE: "I separately consent to the processing of my voice (biometric data) to synthesise "
        "speech, within the scope above.",
    }

    def __init__(self, *args, modalities=(), **kwargs):
        super().__init__(*args, **kwargs)
        for modality in modalities:
            self.fields[f"consent_{modality}"] = forms.BooleanField(
                required=True, label=self.MODALITY_STATEMENTS[Modality(modality)]
            )


class LikenessUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=LikenessAsset.Kind.choices, widget=forms.RadioSelect, label="What is it?")
    file = forms.FileField(
        help_text="A clear, front-facing portrait (JPEG, PNG or WebP), or a voice sample (WAV, MP3, M4A, OGG or FLAC).",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,audio/*"}),
    )


class RevokeForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3}),
        label="Reason (optional)", help_text="You do not have to give a reason.",
    )


# --- Talent: answering a license request ----------------------------------------------------------


class DeclineForm(forms.Form):
    reason = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))


SCOPE_LIST_FIELDS = ("modalities", "permitted_uses", "platforms", "product_categories", "territories", "languages")
LIST_LABELS = {
    "modalities": dict(Modality.choices),
    "permitted_uses": dict(Use.choices),
    "platforms": dict(Platform.choices),
}


def _choices(field: str, values) -> list[tuple[str, str]]:
    labels = LIST_LABELS.get(field, {})
    return [(value, labels.get(value, value)) for value in values]


class LicenseScopeForm(forms.Form):
    """A license scope chosen inside a set of allowed values (the grant's, or the request's)."""

    modalities = checkboxes([], label="Face and voice")
    permitted_uses = checkboxes([], label="Uses")
    platforms = checkboxes([])
    product_categories = checkboxes([])
    territories = checkboxes([])
    languages = checkboxes([])
    starts_at = forms.DateField(widget=DateInput, label="First day")
    ends_at = forms.DateField(widget=DateInput, label="Last day")
    daily_window_start = forms.TimeField(widget=TimeInput, required=False, label="Daily window from")
    daily_window_end = forms.TimeField(widget=TimeInput, required=False, label="Daily window until")
    max_concurrent_streams = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Streams at once")
    max_hours_per_day = forms.DecimalField(min_value=Decimal("0.01"), max_digits=6, decimal_places=2, label="Hours per day")
    max_hours_total = forms.DecimalField(min_value=Decimal("0.01"), max_digits=9, decimal_places=2, label="Hours in total")

    def __init__(self, *args, allowed: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for field in SCOPE_LIST_FIELDS:
            self.fields[field].choices = _choices(field, allowed[field])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("starts_at"), cleaned.get("ends_at")
        if start and end and end < start:
            self.add_error("ends_at", "The last day must be on or after the first day.")
        if (cleaned.get("daily_window_start") is None) != (cleaned.get("daily_window_end") is None):
            self.add_error("daily_window_end", "Give both ends of the daily window, or neither.")
        return cleaned

    def scope(self) -> dict:
        data = {field: list(self.cleaned_data[field]) for field in SCOPE_LIST_FIELDS}
        data["starts_at"] = start_of_day(self.cleaned_data["starts_at"])
        data["ends_at"] = end_of_day(self.cleaned_data["ends_at"])
        for field in ("daily_window_start", "daily_window_end", "max_concurrent_streams", "max_hours_per_day", "max_hours_total"):
            data[field] = self.cleaned_data[field]
        return data


class LicenseRequestForm(LicenseScopeForm):
    """A brand's request inside one consent grant."""

    brand = forms.ModelChoiceField(queryset=None, empty_label=None)
    fee_amount = forms.DecimalField(min_value=0, max_digits=12, decimal_places=2, initial=0, label="Fee")
    fee_currency = forms.CharField(max_length=3, initial="CNY", label="Currency")
    revenue_share_percent = forms.DecimalField(
        min_value=0, max_value=100, max_digits=5, decimal_places=2, initial=0, label="Revenue share (%)"
    )

    field_order = ["brand"]

    def __init__(self, *args, grant, brands, **kwargs):
        allowed = {
            "modalities": grant.modalities,
            "permitted_uses": grant.permitted_uses,
            "platforms": grant.platforms,
            "product_categories": grant.allowed_categories,
            "territories": grant.territories,
            "languages": grant.languages,
        }
        super().__init__(*args, allowed=allowed, **kwargs)
        self.fields["brand"].queryset = brands
        if brands.count() == 1:
            self.fields["brand"].initial = brands.first()
            self.fields["brand"].widget = forms.HiddenInput()

    def clean_fee_currency(self):
        return self.cleaned_data["fee_currency"].upper()

    def scope(self) -> dict:
        data = super().scope()
        for field in ("fee_amount", "fee_currency", "revenue_share_percent"):
            data[field] = self.cleaned_data[field]
        return data


class CounterForm(LicenseScopeForm):
    """The talent's narrower scope: values chosen among what the brand asked for."""

    def __init__(self, *args, license: License, **kwargs):
        allowed = {field: getattr(license, field) for field in SCOPE_LIST_FIELDS}
        initial = {
            **allowed,
            "starts_at": timezone.localtime(license.starts_at).date(),
            "ends_at": last_day(license.ends_at),
            "daily_window_start": license.daily_window_start,
            "daily_window_end": license.daily_window_end,
            "max_concurrent_streams": license.max_concurrent_streams,
            "max_hours_per_day": license.max_hours_per_day,
            "max_hours_total": license.max_hours_total,
        }
        super().__init__(*args, allowed=allowed, initial=initial, **kwargs)
        self.license = license

    def narrower_scope(self) -> dict:
        """Only what the talent changed: the service checks that each change narrows the request."""
        scope = self.scope()
        changed = {}
        for field, value in scope.items():
            current = getattr(self.license, field)
            if field in SCOPE_LIST_FIELDS:
                if set(value) != set(current):
                    changed[field] = value
            elif field in ("starts_at", "ends_at"):
                # The form works in whole days; an unchanged day keeps the requested time of day.
                if self.cleaned_data[field] != self.initial[field]:
                    changed[field] = value
            elif value != current:
                changed[field] = value
        return changed


# --- Brand: clones and streams ------------------------------------------------------------------------

# (label, width, height, fps, segment seconds: None for settings.SEGMENT_SECONDS)
STREAM_FORMATS = {
    "portrait": ("Vertical 9:16, 360×640, 25 fps", 360, 640, 25, None),
    "landscape": ("Landscape 16:9, 640×360, 25 fps", 640, 360, 25, None),
    "preview": ("Quick preview 16:9, 320×180, 10 fps", 320, 180, 10, 1.0),
}


class StreamForm(forms.Form):
    """A licensed stream: the choices offered are the license's own, so what is offered is allowed."""

    clone = forms.ModelChoiceField(queryset=None, empty_label=None)
    audio = forms.FileField(
        label="Speech audio",
        help_text="What the host says: WAV, MP3, M4A, OGG or FLAC. The stream lasts as long as the audio.",
        widget=forms.ClearableFileInput(attrs={"accept": "audio/*"}),
    )
    script_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Script",
        help_text="The words spoken, checked against the talent's prohibited topics.",
    )
    platform = forms.ChoiceField()
    product_category = forms.ChoiceField()
    territory = forms.ChoiceField()
    language = forms.ChoiceField()
    stream_format = forms.ChoiceField(choices=[(key, spec[0]) for key, spec in STREAM_FORMATS.items()],
                                      initial="portrait", label="Format")
    use_voice = forms.BooleanField(required=False, label="Use the licensed voice as well as the face")

    def __init__(self, *args, license: License, clones, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clone"].queryset = clones
        self.fields["platform"].choices = _choices("platforms", license.platforms)
        self.fields["product_category"].choices = _choices("product_categories", license.product_categories)
        self.fields["territory"].choices = _choices("territories", license.territories)
        self.fields["language"].choices = _choices("languages", license.languages)
        if "voice" not in license.modalities:
            del self.fields["use_voice"]

    def stream_arguments(self) -> dict:
        data = self.cleaned_data
        _label, width, height, fps, segment_seconds = STREAM_FORMATS[data["stream_format"]]
        return {
            "clone": data["clone"], "audio_file": data["audio"], "script_text": data["script_text"],
            "platform": data["platform"], "product_category": data["product_category"],
            "territory": data["territory"], "language": data["language"], "width": width, "height": height,
            "fps": fps, "segment_seconds": segment_seconds,
            "modalities": ("face", "voice") if data.get("use_voice") else ("face",),
        }


class LedgerFilterForm(forms.Form):
    talent = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any talent")
    brand = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any brand")
    license = forms.IntegerField(required=False, min_value=1, label="License #")
    action = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=DateInput, label="From")
    until = forms.DateField(required=False, widget=DateInput, label="Until")

    def __init__(self, *args, talents, brands, action_names, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["talent"].queryset = talents
        self.fields["brand"].queryset = brands
        self.fields["action"].choices = [("", "Any action"), *((name, name) for name in action_names)]
