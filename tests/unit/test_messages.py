"""marshmallow's nested messages flattened once for every dialect (errors.flatten)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema

from service import errors


class Point(Schema):
    at = fields.Integer(required=True)
    value = fields.Raw(required=True)


class Upload(Schema):
    name = fields.String(required=True)
    tags = fields.List(fields.String())
    points = fields.List(fields.Nested(Point))

    @validates_schema
    def whole(self, data: dict[str, object], **_: object) -> None:
        raise ValidationError("the upload as a whole is wrong")


def problems(doc: object) -> list[tuple[errors.Path, str]]:
    try:
        Upload().load(doc)
    except ValidationError as exc:
        return list(errors.flatten(exc.messages))
    raise AssertionError("no problems")


def test_every_message_comes_with_where_it_is() -> None:
    found = problems({"tags": ["a", 3], "points": [{"at": 1, "value": 2}, {"at": "x"}]})
    assert sorted(found) == sorted(
        [
            (("name",), "Missing data for required field."),
            (("tags", 1), "Not a valid string."),
            (("points", 1, "at"), "Not a valid integer."),
            (("points", 1, "value"), "Missing data for required field."),
        ]
    )


def test_a_schema_wide_message_has_no_field_in_its_path() -> None:
    assert problems({"name": "n"}) == [((), "the upload as a whole is wrong")]


def test_a_bare_message_or_list() -> None:
    assert list(errors.flatten("bad")) == [((), "bad")]
    assert list(errors.flatten(["a", "b"], ("x",))) == [(("x",), "a"), (("x",), "b")]
