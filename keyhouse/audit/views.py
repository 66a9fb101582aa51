from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from keyhouse.audit.selectors import audit_events_for_user
from keyhouse.audit.serializers import AuditEventOutputSerializer, AuditEventsInputSerializer
from keyhouse.core.exceptions import problems


class MyEventsApi(APIView):
    @extend_schema(
        parameters=[AuditEventsInputSerializer],
        responses=AuditEventOutputSerializer(many=True),
        summary="The signed-in user's recent security events",
        description="Sign-ins and failed attempts, codes sent and checked, sessions ended, "
        "password and contact changes; newest first, `limit` (1 to 200, default 50).",
    )
    @problems(ValidationError)
    def get(self, request: Request) -> Response:
        query = AuditEventsInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        events = audit_events_for_user(user_id=request.user.pk, limit=query.validated_data["limit"])
        return Response(AuditEventOutputSerializer(events, many=True).data)
