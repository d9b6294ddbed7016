"""The typed contract's machinery: frozen dataclasses in and out, one codec, one schema.

Every request and response of ``/api/livekit`` is a frozen dataclass in its group's module
(:mod:`spaces_contract.rooms`, :mod:`spaces_contract.recording`, :mod:`spaces_contract.outputs`,
:mod:`spaces_contract.moderation`, :mod:`spaces_contract.status`). Field limits live beside the
field (:func:`spec`), and the same limits drive :func:`parse` (the service's validation:
everything is checked before anything is created; the client reads answers with it too) and
:func:`object_schema` (the OpenAPI document), so the schema says exactly what the API accepts.
JSON names are the camelCase of the Python names.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

UNPRINTABLE_CHARS = (
    "\\x00-\\x1f\\x7f-\\x9f\\xad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e"
    "\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb\\ud800-\\udfff"
)
"""What a name shown to people may not hold (a regular-expression class body, for the parser
and the schema alike): control characters, invisible and bidirectional formatting characters
(U+202E would show the rest of a name reversed), and surrogates, which JSON's ``\\ud800``
escapes can put alone into a string although they are not characters."""
UNPRINTABLE_RE = re.compile(f"[{UNPRINTABLE_CHARS}]")

MAX_JSON_DEPTH = 16
"""Bodies nest at most this deep (the contract needs 4); deeper is refused before parsing."""


class ApiError(Exception):
    """A failed action: HTTP status, error code, and details in words (no secrets).

    Args:
        status: The HTTP status the route answers.
        error: A stable code (``invalid_field``, ``livekit_timeout``…).
        details: What went wrong and what to do next, in plain words.
    """

    def __init__(self, status: int, error: str, details: str) -> None:
        super().__init__(f"{status} {error}: {details}")
        self.status = status
        self.error = error
        self.details = details

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "details": self.details}


class Spec(dict[str, Any]):
    """Field limits: a mapping (as ``dataclasses.field`` metadata wants) that can be hashed
    (as ``Annotated`` inside a union needs)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def spec(
    *,
    doc: str = "",
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    printable: bool = False,
) -> Spec:
    """Limits of one field, for ``dataclasses.field(metadata=spec(...))``.

    Args:
        doc: One line for the schema's description.
        pattern: A regular expression the whole string must match (``fullmatch``).
        min_length: Fewest characters.
        max_length: Most characters.
        minimum: Smallest number.
        maximum: Largest number.
        min_items: Fewest list items.
        max_items: Most list items.
        printable: Refuse control characters (names shown to people).
    """
    return Spec(
        doc=doc,
        pattern=pattern,
        min_length=min_length,
        max_length=max_length,
        minimum=minimum,
        maximum=maximum,
        min_items=min_items,
        max_items=max_items,
        printable=printable,
    )


def camel(name: str) -> str:
    """``room_name`` → ``roomName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- JSON depth ---------------------------------------------------------------------------------


def check_depth(raw: bytes, limit: int = MAX_JSON_DEPTH, what: str = "the body") -> None:
    """Refuse JSON nested deeper than ``limit`` before the parser recurses into it.

    Args:
        raw: The JSON text.
        limit: The deepest nesting allowed.
        what: How to name the text in the answer (``the body``, ``'metadata'``).

    Raises:
        ApiError: 400 ``too_deep``.
    """
    depth = 0
    in_string = False
    escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                raise ApiError(400, "too_deep", f"{what} nests deeper than {limit} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


# --- parsing ------------------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # Resolving string annotations costs ~0.1 ms a class: once per class, not per request.
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {camel(f.name): f for f in dataclasses.fields(cls)}


def _fail(path: str, words: str) -> ApiError:
    return ApiError(400, "invalid_field", f"'{path}' {words}")


def _parse_value(
    kind: Any, value: Any, path: str, meta: Mapping[str, Any], strict: bool = True
) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        base, extra = typing.get_args(kind)[:2]
        return _parse_value(base, value, path, extra, strict)
    if origin in (types.UnionType, typing.Union):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None  # an optional field sent as null reads as absent
        errors: list[ApiError] = []
        for option in options:
            try:
                return _parse_value(option, value, path, meta, strict)
            except ApiError as error:
                errors.append(error)
        # Report the option the value looks like: an object's fields, or the string's shape.
        raise errors[-1] if isinstance(value, dict) else errors[0]
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise _fail(path, "must be a list")
        if meta.get("min_items") is not None and len(value) < meta["min_items"]:
            raise _fail(path, f"needs at least {meta['min_items']} item(s)")
        if meta.get("max_items") is not None and len(value) > meta["max_items"]:
            raise _fail(path, f"takes at most {meta['max_items']} items")
        return tuple(
            _parse_value(item_kind, item, f"{path}[{index}]", {}, strict)
            for index, item in enumerate(value)
        )
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        allowed = [member.value for member in kind]
        if not isinstance(value, str) or value not in allowed:
            raise _fail(path, f"must be one of {', '.join(map(str, allowed))}")
        return kind(value)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return parse(kind, value, path, strict)
    if kind is bool:
        if not isinstance(value, bool):
            raise _fail(path, "must be true or false")
        return value
    if kind is int:
        # JSON has one number type: 679.0 is the whole number 679, as JSON Schema's
        # ``integer`` (the OpenAPI document) says too.
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, "must be a whole number")
        _check_range(value, path, meta)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, "must be a number")
        if not math.isfinite(value):
            raise _fail(path, "must be a finite number")
        _check_range(value, path, meta)
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise _fail(path, "must be a string")
        if meta.get("min_length") is not None and len(value) < meta["min_length"]:
            raise _fail(path, f"must be at least {meta['min_length']} character(s)")
        if meta.get("max_length") is not None and len(value) > meta["max_length"]:
            raise _fail(path, f"must be at most {meta['max_length']} characters")
        if meta.get("printable") and UNPRINTABLE_RE.search(value):
            raise _fail(
                path,
                "must not contain control, formatting (such as U+202E, which reverses the "
                "text after it) or unpaired surrogate characters",
            )
        if meta.get("pattern") is not None and not re.fullmatch(meta["pattern"], value):
            raise _fail(path, f"is not valid here ({meta.get('doc') or 'see the API schema'})")
        return value
    raise TypeError(f"the contract has no codec for {kind!r}")


def _check_range(value: float, path: str, meta: Mapping[str, Any]) -> None:
    if meta.get("minimum") is not None and value < meta["minimum"]:
        raise _fail(path, f"must be at least {meta['minimum']:g}")
    if meta.get("maximum") is not None and value > meta["maximum"]:
        raise _fail(path, f"must be at most {meta['maximum']:g}")


def parse(cls: type[T], data: Any, path: str = "", strict: bool = True) -> T:
    """Build a request dataclass from JSON, checking every field and refusing unknown ones.

    Args:
        cls: The dataclass.
        data: Decoded JSON.
        path: Where ``data`` sits (for the words of an error).
        strict: Refuse unknown fields (requests); a client reading answers passes False, so a
            newer service may add fields.

    Raises:
        ApiError: 400 ``missing_field``/``invalid_field``/``invalid_body``, naming the field.
    """
    if not isinstance(data, dict):
        if not path:
            raise ApiError(400, "invalid_body", "the body must be a JSON object")
        raise _fail(path, "must be an object")
    assert dataclasses.is_dataclass(cls)
    hints = _hints(cls)
    fields = _fields(cls)
    unknown = [key for key in data if key not in fields]
    if unknown and strict:
        where = f"'{path}'" if path else "the body"
        name = str(unknown[0])[:40]
        raise ApiError(400, "invalid_field", f"{where} has an unknown field '{name}'")
    values: dict[str, Any] = {}
    for json_name, item in fields.items():
        where = f"{path}.{json_name}" if path else json_name
        if json_name not in data:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise ApiError(400, "missing_field", f"'{where}' is required")
            continue
        values[item.name] = _parse_value(
            hints[item.name], data[json_name], where, item.metadata, strict
        )
    return cls(**values)


# --- output -------------------------------------------------------------------------------------


def dump(value: Any) -> Any:
    """A response dataclass (or anything inside one) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): dump(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (getattr(value, f.name) is None and f.default is None)
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    return value


# --- schema -------------------------------------------------------------------------------------


def _value_schema(kind: Any, meta: Mapping[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    schema: dict[str, Any]
    if origin is typing.Annotated:
        base, extra = typing.get_args(kind)[:2]
        return _value_schema(base, extra, defs)
    if origin in (types.UnionType, typing.Union):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        schema = {"oneOf": [_value_schema(option, meta, defs) for option in options]}
        if len(options) < len(typing.get_args(kind)):
            schema["oneOf"].append({"type": "null"})
        return schema
    if origin is tuple:
        schema = {"type": "array", "items": _value_schema(typing.get_args(kind)[0], {}, defs)}
        if meta.get("min_items") is not None:
            schema["minItems"] = meta["min_items"]
        if meta.get("max_items") is not None:
            schema["maxItems"] = meta["max_items"]
        return schema
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"type": "string", "enum": [member.value for member in kind]}
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        name = kind.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = object_schema(kind, defs)
        return {"$ref": f"#/components/schemas/{name}"}
    if kind is bool:
        return {"type": "boolean"}
    if kind in (int, float):
        schema = {"type": "integer" if kind is int else "number"}
        if meta.get("minimum") is not None:
            schema["minimum"] = meta["minimum"]
        if meta.get("maximum") is not None:
            schema["maximum"] = meta["maximum"]
        return schema
    if kind is str:
        schema = {"type": "string"}
        if meta.get("min_length") is not None:
            schema["minLength"] = meta["min_length"]
        if meta.get("max_length") is not None:
            schema["maxLength"] = meta["max_length"]
        pattern = meta.get("pattern")
        if pattern is None and meta.get("printable"):
            pattern = f"[^{UNPRINTABLE_CHARS}]*"  # the parser's "printable"
        if pattern is not None:
            schema["pattern"] = f"^(?:{pattern})$"
        return schema
    raise TypeError(f"the contract has no schema for {kind!r}")


def object_schema(
    cls: type, defs: dict[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON Schema of a dataclass (exact: no other properties)."""
    hints = _hints(cls)
    properties: dict[str, Any] = dict(extra or {})
    required: list[str] = list(extra or {})
    for item in dataclasses.fields(cls):
        field_schema = _value_schema(hints[item.name], item.metadata, defs)
        doc = item.metadata.get("doc")
        if doc and "$ref" not in field_schema:
            field_schema["description"] = doc
        properties[camel(item.name)] = field_schema
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            required.append(camel(item.name))
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if cls.__doc__:
        schema["description"] = cls.__doc__.strip().splitlines()[0]
    return schema
