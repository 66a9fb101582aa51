"""The floor views: what Django and DRF cost before Keyhouse does anything."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def plain_django(request: HttpRequest) -> JsonResponse:
    """Django with no DRF: what the framework and Keyhouse's middleware cost."""
    return JsonResponse({"ok": True})


class BareApi(APIView):
    """A DRF view with no authentication: the floor of an API request."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class AuthenticatedApi(APIView):
    """Keyhouse's default bearer authentication, on a view that never loads the user."""

    def get(self, request: Request) -> Response:
        return Response({"sub": str(request.user.pk)})
