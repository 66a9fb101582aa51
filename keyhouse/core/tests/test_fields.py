from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from keyhouse.core.fields import StrictCharField


def test_the_maximum_length_counts_the_text_as_sent():
    field = StrictCharField(max_length=5)
    assert field.run_validation(" abc ") == "abc"
    with pytest.raises(ValidationError) as refused:
        field.run_validation("\u001cabcde")  # trimming would leave 5 characters
    assert refused.value.detail[0].code == "max_length"
