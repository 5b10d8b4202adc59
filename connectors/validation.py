"""Validation errors as one line a person can act on: field, problem, and for a misspelled key
the key that was probably meant (difflib)."""

from __future__ import annotations

import difflib
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


def describe_errors(exc: ValidationError, model: type[BaseModel], top: str = "(top)") -> str:
    """`loc: message` for every error, `; `-joined; unknown keys say "did you mean"."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or top
        hint = misspelling_hint(model, err["loc"]) if err["type"] == "extra_forbidden" else ""
        parts.append(f"{where}: {err['msg']}{hint}")
    return "; ".join(parts)


def misspelling_hint(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """` (did you mean 'x'?)` for an unknown key at `loc` close to a known one, else the known
    keys, else nothing (the model at `loc` could not be found)."""
    owner = _model_at(model, loc[:-1])
    if owner is None:
        return ""
    known = [field.alias or name for name, field in owner.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"


def _model_at(model: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that validates the value at `path` inside `model`, if there is one."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, tuple, set) and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`X | None` (or a union with one model) as the model or container it allows."""
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation
