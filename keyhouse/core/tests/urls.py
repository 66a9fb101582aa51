"""Views that exercise the error handler in ways no real endpoint should (crash, throttle)."""

from __future__ import annotations

from django.urls import include, path
from rest_framework import serializers
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.core.exceptions import KeyhouseError


class AddressSerializer(serializers.Serializer):
    city = serializers.CharField(max_length=20)


class EchoInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    address = AddressSerializer(required=False)


class PublicApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)


class EchoApi(PublicApi):
    def post(self, request: Request) -> Response:
        serializer = EchoInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class CrashApi(PublicApi):
    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internals")


class ThrottledApi(PublicApi):
    def get(self, request: Request) -> Response:
        raise Throttled(wait=42)


class Teapot(KeyhouseError):
    code = "teapot"
    status = 418
    message = "I am a teapot."


class DomainErrorApi(PublicApi):
    def get(self, request: Request) -> Response:
        raise Teapot(fields={"pot": ["Too hot."]}, headers={"X-Pot": "1"})


urlpatterns = [
    path("echo", EchoApi.as_view()),
    path("crash", CrashApi.as_view()),
    path("throttled", ThrottledApi.as_view()),
    path("teapot", DomainErrorApi.as_view()),
    path("", include("config.urls")),
]
