from __future__ import annotations

import pytest
from rest_framework import serializers

from keyhouse.core.fields import StrictCharField


def test_a_text_field_limits_the_text_as_sent_not_as_trimmed():
    field = StrictCharField(max_length=5)

    with pytest.raises(serializers.ValidationError) as refused:
        field.run_validation("\x1cabcde")

    assert refused.value.detail[0].code == "max_length"
    assert field.run_validation(" abc ") == "abc"
