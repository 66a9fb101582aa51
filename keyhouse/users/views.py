from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.users.serializers import UserOutputSerializer


class MeApi(APIView):
    @extend_schema(responses=UserOutputSerializer, summary="The signed-in user")
    def get(self, request: Request) -> Response:
        return Response(UserOutputSerializer(request.user.user).data)
