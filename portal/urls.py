from django.urls import path

from .views import brand, home, legal, shared, talent, verifier

app_name = "portal"
urlpatterns = [
    path("", home.home, name="home"),
    path("login/", home.LoginView.as_view(), name="login"),
    path("logout/", home.LogoutView.as_view(), name="logout"),
    path("verify/", verifier.verify, name="verify"),
    # Talent
    path("talent/", talent.home, name="talent-home"),
    path("talent/requests/<int:pk>/", talent.request_detail, name="talent-request"),
    path("talent/requests/<int:pk>/counter/", talent.counter, name="talent-counter"),
    path("talent/consent/new/", talent.consent_new, name="talent-consent-new"),
    path("talent/consent/sign/", talent.consent_sign, name="talent-consent-sign"),
    path("talent/consent/<int:pk>/", talent.consent_detail, name="talent-consent"),
    path("talent/consent/<int:pk>/revoke/", talent.consent_revoke, name="talent-consent-revoke"),
    path("talent/likeness/", talent.likeness, name="talent-likeness"),
    path("talent/uses/", talent.uses, name="talent-uses"),
    # Brand
    path("brand/", brand.home, name="brand-home"),
    path("brand/offers/", brand.offers, name="brand-offers"),
    path("brand/offers/<int:grant_pk>/request/", brand.request_license, name="brand-request"),
    path("brand/licenses/<int:pk>/", brand.license_detail, name="brand-license"),
    path("brand/licenses/<int:pk>/clones/", brand.clone_new, name="brand-clone-new"),
    path("brand/licenses/<int:pk>/streams/new/", brand.stream_new, name="brand-stream-new"),
    path("streams/<int:pk>/", brand.stream_detail, name="brand-stream"),
    path("streams/<int:pk>/stop/", brand.stream_stop, name="brand-stream-stop"),
    # Legal
    path("legal/", legal.home, name="legal-home"),
    path("legal/licenses/<int:pk>/", legal.license_report, name="legal-license"),
    path("legal/ledger/", legal.ledger_timeline, name="legal-ledger"),
    path("legal/ledger/export/", legal.export_bundle, name="legal-export"),
    # Shared
    path("licenses/<int:pk>/<slug:action>/", shared.license_action, name="license-action"),
    path("media/streams/<int:pk>/recording.mp4", shared.stream_recording, name="stream-recording"),
    path("media/segments/<int:pk>.mp4", shared.segment_file, name="segment-file"),
]
