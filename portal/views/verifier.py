"""The public verifier page."""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from rest_framework.throttling import ScopedRateThrottle

from ..verification import verify_upload


class VerifyForm(forms.Form):
    file = forms.FileField(
        label="Frame or video",
        help_text="A screenshot (PNG or JPEG) or a video file (MP4). Checked by content, up to 50 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,video/mp4"}),
    )


class _VerifyScope:
    # The page and the API share one budget per caller (REST_FRAMEWORK's "verify" rate): decoding
    # and watermark detection are the most expensive things an anonymous visitor can ask for.
    throttle_scope = "verify"


@require_http_methods(["GET", "POST"])
def verify(request):
    form = VerifyForm(request.POST or None, request.FILES or None)
    result = throttled = None
    if request.method == "POST":
        throttle = ScopedRateThrottle()
        if not throttle.allow_request(request, _VerifyScope):
            form = VerifyForm()
            throttled = f"Too many checks from your address. Try again in {int(throttle.wait() or 60)} seconds."
        elif form.is_valid():
            try:
                result = verify_upload(form.cleaned_data["file"], user=request.user)
            except ValidationError as error:
                form.add_error("file", error)
    return render(request, "portal/verify.html", {"form": form, "result": result, "throttled": throttled},
                  status=429 if throttled else 200)
