"""pages/common/wording.plural: the noun agrees with the count a student reads."""
from __future__ import annotations

import pytest

from pages.common.wording import plural


@pytest.mark.parametrize("n, noun, nouns, text", [
    (0, "box", "boxes", "0 boxes"), (1, "box", "boxes", "1 box"), (2, "box", "boxes", "2 boxes"),
    (1, "run", None, "1 run"), (3, "run", None, "3 runs"), (1200, "digit", None, "1,200 digits"),
])
def test_the_noun_agrees_with_the_count(n, noun, nouns, text):
    assert plural(n, noun, nouns) == text
