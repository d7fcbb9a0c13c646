"""The base of every record model: frozen, unknown keys refused; and :func:`trusted`, the
parsers' fast way to build one from values they have already checked."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


M = TypeVar("M", bound=BaseModel)

_new = object.__new__
# BaseModel's own slots: what ``model_construct`` sets, set here without its per-field loop.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_consume: Callable[[Iterable[Any]], None] = deque(maxlen=0).extend  # runs an iterator out, in C


def trusted(cls: type[M], values: dict[str, Any]) -> M:
    """A ``cls`` holding ``values`` as they are: every field of ``cls``, in field order, each
    already of its field's type — nothing is checked, defaulted or copied.

    What ``cls.model_construct(**values)`` builds (same fields, fields set, equality, dump)
    in a quarter of its time: a results overview has thousands of small objects, and building
    them was most of the parse (``bench/parse_json.py``).  Only for :class:`Frozen` models
    without private attributes or ``model_post_init``; ``tests/test_records.py`` checks that
    parsed records equal their validated rebuild.
    """
    model = _new(cls)
    _set_dict(model, values)
    _set_fields_set(model, set(values))
    _set_extra(model, None)
    _set_private(model, None)
    return model


def builder(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """:func:`trusted` for one class, faster still: the models it builds share one set of
    fields set (every field, as ``values`` must hold every field).

    Sharing it is safe because the models are frozen: pydantic changes a model's fields set
    only in ``model_copy(update=...)``, and only after copying it.  Building that set anew
    for each of a results overview's thousands of values took as long as the rest.
    """
    fields_set = set(cls.model_fields)

    def build(values: dict[str, Any]) -> M:
        model = _new(cls)
        _set_dict(model, values)
        _set_fields_set(model, fields_set)
        _set_extra(model, None)
        _set_private(model, None)
        return model

    build.__qualname__ = f"builder({cls.__name__})"
    return build


def many(cls: type[M]) -> Callable[[list[dict[str, Any]]], tuple[M, ...]]:
    """:func:`builder` for a list of values at once: the models of one class, built in a few
    passes of C loops (``map`` over the slots' setters) instead of a Python call per model.

    A results overview has thousands of measurements: built this way, each costs about a
    fifth less.  What is built is the same as :func:`builder` builds, model for model.
    """
    fields_set = set(cls.model_fields)

    def build_all(values: list[dict[str, Any]]) -> tuple[M, ...]:
        count = len(values)
        models = list(map(_new, repeat(cls, count)))
        _consume(map(_set_dict, models, values))
        _consume(map(_set_fields_set, models, repeat(fields_set, count)))
        _consume(map(_set_extra, models, repeat(None, count)))
        _consume(map(_set_private, models, repeat(None, count)))
        return tuple(models)

    build_all.__qualname__ = f"many({cls.__name__})"
    return build_all
