"""Helpers shared by test modules (``tests`` is on pytest's ``pythonpath``)."""

import pytest


def one_line(exc_type, fn, *words):
    """Call ``fn``, expect ``exc_type`` with a one-line message naming every one of ``words``."""
    with pytest.raises(exc_type) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for w in words:
        assert str(w) in msg, (w, msg)
    return msg
