"""Dotprompt's Picoschema, read far enough to know the declared inputs.

    name: string, the user's name        required string with a description
    tone?: string                         optional
    tags(array, the tags): string         array of strings
    address(object):                      nested object
      city: string
    kind(enum): [A, B]                    enum

Only the top-level fields are inputs; nested ones are kept in `fields` for display.
A schema that already looks like JSON Schema (`type:` / `properties:`) is read as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_KEY = re.compile(r"^(?P<name>[A-Za-z_$@*()][\w$@-]*|\(\*\))(?P<opt>\?)?(?:\((?P<paren>[^)]*)\))?$")
SCALARS = ("string", "number", "integer", "boolean", "null", "any")


@dataclass
class Field:
    name: str
    type: str = "any"
    optional: bool = False
    description: str | None = None
    fields: list["Field"] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"name": self.name, "type": self.type, "optional": self.optional,
               "description": self.description}
        if self.fields:
            out["fields"] = [f.to_json() for f in self.fields]
        return out


class SchemaError(ValueError):
    pass


def _type_and_description(value: str) -> tuple[str, str | None]:
    typ, _, desc = value.partition(",")
    return typ.strip() or "any", (desc.strip() or None)


def parse(schema) -> list[Field]:
    """The top-level fields of a Picoschema (or JSON Schema) mapping."""
    if schema is None:
        return []
    if isinstance(schema, str):  # a named schema registered in code: inputs unknown
        return []
    if not isinstance(schema, dict):
        raise SchemaError("input.schema must be a mapping of field names")
    if isinstance(schema.get("properties"), dict) or schema.get("type") in (*SCALARS, "object",
                                                                            "array"):
        return _json_schema(schema)
    return _fields(schema)


def _json_schema(schema: dict) -> list[Field]:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out = []
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        typ = spec.get("type", "any")
        if isinstance(typ, list):
            typ = "|".join(str(t) for t in typ)
        out.append(Field(str(name), str(typ), name not in required, spec.get("description")))
    return out


def _fields(mapping: dict) -> list[Field]:
    out = []
    for raw_key, value in mapping.items():
        key = str(raw_key).strip()
        m = _KEY.match(key)
        if m is None:
            raise SchemaError(f"field name {key!r} is not valid Picoschema")
        name = m.group("name")
        optional = bool(m.group("opt"))
        paren = m.group("paren")
        f = Field(name, optional=optional)
        if paren is not None:
            typ, desc = _type_and_description(paren)
            f.type, f.description = typ, desc
            if typ == "object" and isinstance(value, dict):
                f.fields = _fields(value)
            elif typ == "array" and isinstance(value, dict):
                f.fields = _fields(value)
            elif typ == "array" and isinstance(value, str):
                f.type = f"array of {_type_and_description(value)[0]}"
        elif isinstance(value, str):
            f.type, f.description = _type_and_description(value)
        elif isinstance(value, dict):
            f.type = "object"
            f.fields = _fields(value)
        elif isinstance(value, list):
            f.type = "enum"
        elif value is None:
            f.type = "any"
        else:
            raise SchemaError(f"field {name!r} has a value Picoschema does not know: {value!r}")
        out.append(f)
    return out
