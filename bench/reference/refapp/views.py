"""The floor views, the same as Keyhouse's bench views but with the reference's defaults."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def plain_django(request: HttpRequest) -> JsonResponse:
    """Django with no DRF: what the framework itself costs."""
    return JsonResponse({"ok": True})


class BareApi(APIView):
    """A DRF view with no authentication: the floor of an API request."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class AuthenticatedApi(APIView):
    """simplejwt's JWTAuthentication as configured by default: it loads the user."""

    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response({"sub": str(request.user.pk)})
