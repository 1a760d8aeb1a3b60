from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script from this origin, so the docs page needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("portal.api.urls")),
    path("", include("portal.urls")),
]

# MEDIA_ROOT holds likeness media and consent recordings: it is never served as static files, not
# even in DEBUG. Segments and recordings go out through the portal's permission-checked views.
