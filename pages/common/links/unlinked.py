"""Keyed widgets that no lesson link carries, each with the reason (the house rules test reads this list).

An entry may be a shell-style pattern (``arch_[0-9]*``) for widgets made per layer, per run or per row.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

UNLINKED: dict[str, str] = {
    "_lnk_*": "the link panel's own lock / hide pickers: they build the link, they are not part of it",
    "conv_row": "a step position on one image means nothing on another (and may lie past its edge)",
    "conv_col": "a step position on one image means nothing on another (and may lie past its edge)",
    "pool_row": "a step position on one image means nothing on another (and may lie past its edge)",
    "pool_col": "a step position on one image means nothing on another (and may lie past its edge)",
    "arch_add_*": "the builder's 'next layer' form: the network itself travels as JSON, not in the address",
    "arch_[0-9]*": "per-layer fields of the builder: the network itself travels as JSON, not in the address",
    "erf_ch_*": "a channel of one layer of one network (the key names both): meaningless on another network",
    "erf_row_*": "a unit's position in one layer of one network: meaningless on another network or layer",
    "erf_col_*": "a unit's position in one layer of one network: meaningless on another network or layer",
    "fv_first_*": "the first channel shown for one layer of one network: meaningless on another network",
    "lv_class_*": "a class picked for one network and one image (the key names both)",
    "tb_*": "names this session's own TensorBoard runs: another student has other runs",
    "pub_*": "a nickname and a publish choice are the student's own, never a setup to share",
    "gal_*": "the gallery's paging and filters: views of the class's entries, not a lesson setup",
    "teacher_*": "the teacher's controls are behind the token and never in a student's link",
    "lesson_*": "a student's answer to an exercise is never put in a shareable address",
}


def is_unlinked(key: str) -> bool:
    """True when `key` is on the list above (exactly or by a pattern)."""
    return key in UNLINKED or any(fnmatchcase(key, pattern) for pattern in UNLINKED)
