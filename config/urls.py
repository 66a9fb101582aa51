from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from keyhouse.core.metrics import metrics_view
from keyhouse.core.views import ApiNotFoundApi, healthz, readyz
from keyhouse.tokens.views import (
    AuthorizationServerMetadataApi,
    JwksApi,
    OpenIdConfigurationApi,
)

urlpatterns = [
    path("api/v1/", include("config.api_v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The docs page renders only HTML and has no template for DRF's OPTIONS metadata,
    # so it answers GET and HEAD alone; OPTIONS is a 405 problem, not a 500.
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="docs",
    ),
    re_path(r"^api/", ApiNotFoundApi.as_view()),
    path("auth/v1/", include("keyhouse.gotrue.urls")),
    path(".well-known/jwks.json", JwksApi.as_view(), name="jwks"),
    path(
        ".well-known/oauth-authorization-server",
        AuthorizationServerMetadataApi.as_view(),
        name="oauth-authorization-server",
    ),
    path(
        ".well-known/openid-configuration",
        OpenIdConfigurationApi.as_view(),
        name="openid-configuration",
    ),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
]

handler400 = "keyhouse.core.problems.handler400"
handler404 = "keyhouse.core.problems.handler404"
handler500 = "keyhouse.core.problems.handler500"
