from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("grants", views.GrantViewSet, basename="grant")
router.register("offers", views.OfferViewSet, basename="offer")
router.register("licenses", views.LicenseViewSet, basename="license")
router.register("clones", views.CloneViewSet, basename="clone")
router.register("streams", views.StreamViewSet, basename="stream")
router.register("segments", views.SegmentViewSet, basename="segment")
router.register("ledger", views.LedgerViewSet, basename="ledger")

app_name = "api"
urlpatterns = [
    path("auth/token/", views.ThrottledTokenView.as_view(), name="token"),
    path("me/", views.MeView.as_view(), name="me"),
    path("verify/", views.VerifyView.as_view(), name="verify"),
    path("", include(router.urls)),
]
