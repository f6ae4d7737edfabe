import math

import pytest

from mlops.schema import FeatureSchema

from conftest import pick_feature

MISSING = ...  # drop the field from the record


@pytest.fixture
def schema(trained):
    return trained[1].schema


def test_schema_is_derived_from_training_rows(trained):
    config, result, train, _ = trained
    schema = result.schema
    assert schema.names == list(config.data.features)
    for spec in schema.features:
        column = train[spec.name]
        assert spec.type == config.data.columns[spec.name].type
        assert spec.nullable is bool(column.isna().any())
        if spec.type == "categorical":
            assert spec.categories == sorted(column.dropna().unique())
        else:
            assert spec.observed_min == column.min()
            assert spec.observed_max == column.max()
            assert (spec.min, spec.max) == (config.data.columns[spec.name].min, config.data.columns[spec.name].max)
    assert schema.categorical == [s.name for s in schema.features if s.type == "categorical"]
    assert FeatureSchema.model_validate(schema.model_dump(mode="json")) == schema


def test_example_record_is_valid(schema):
    records, errors = schema.validate_records([schema.example_record()])
    assert errors == []
    assert records[0].keys() == set(schema.names)


def _above(spec):
    return spec.max + 1 if spec.max is not None else spec.min - 1


def _bound_message(spec):
    return f"less than or equal to {spec.max:g}" if spec.max is not None else f"greater than or equal to {spec.min:g}"


# (picked feature, value it gets, what the error says): the features come from the model's schema.
CASES = [
    pytest.param({"kind": "numeric"}, "3.5", "expected a finite number, got '3.5'", id="text-for-number"),
    pytest.param({"kind": "numeric"}, True, "expected a finite number, got true", id="bool-for-number"),
    pytest.param({"kind": "numeric"}, math.nan, "expected a finite number, got nan", id="nan"),
    pytest.param({"kind": "numeric"}, math.inf, "expected a finite number, got inf", id="inf"),
    pytest.param({"kind": "numeric"}, 10**400, "expected a finite number", id="huge-int"),
    pytest.param(
        {"kind": "numeric", "nullable": False},
        None,
        "expected a finite number, got null (training data had no missing value here",
        id="null",
    ),
    pytest.param({"nullable": False}, MISSING, "required field is missing", id="missing"),
    pytest.param({"kind": "numeric", "bounded": True}, _above, _bound_message, id="out-of-range"),
    pytest.param(
        {"kind": "categorical"},
        "NOT A CATEGORY",
        "'NOT A CATEGORY' is not an allowed value; expected one of: '",
        id="unknown-category",
    ),
    pytest.param({"kind": "categorical"}, 3, "3 is not an allowed value", id="number-for-category"),
]


@pytest.mark.parametrize(("wanted", "value", "message"), CASES)
def test_invalid_records_name_field_and_reason(schema, wanted, value, message):
    spec = pick_feature(schema, **wanted)
    record = schema.example_record()
    if value is MISSING:
        record.pop(spec.name)
    else:
        record[spec.name] = value(spec) if callable(value) else value
    _, errors = schema.validate_records([schema.example_record(), record])
    assert [(e.record, e.field) for e in errors] == [(1, spec.name)]
    assert (message(spec) if callable(message) else message) in errors[0].message


def test_an_unknown_field_is_named(schema):
    _, errors = schema.validate_records([{**schema.example_record(), "not_a_feature": 1}])
    assert [(e.record, e.field, e.message) for e in errors] == [
        (0, "not_a_feature", "unknown field (not a model feature)")
    ]


def test_nullable_fields_may_be_null_or_omitted(schema):
    spec = pick_feature(schema, nullable=True)
    as_null = {**schema.example_record(), spec.name: None}
    omitted = {key: value for key, value in schema.example_record().items() if key != spec.name}
    records, errors = schema.validate_records([as_null, omitted])
    assert errors == []
    frame = schema.to_frame(records)
    assert frame[spec.name].isna().all()
    assert list(frame.columns) == schema.names


def test_all_errors_of_all_records_come_back_at_once(schema):
    first, last = schema.names[0], schema.names[-1]
    records = [
        {**schema.example_record(), first: [1], last: {"x": 1}},
        schema.example_record(),
        {**schema.example_record(), first: "?"},
    ]
    _, errors = schema.validate_records(records)
    assert sorted((e.record, e.field) for e in errors) == sorted({(0, first), (0, last), (2, first)})


def test_record_json_schema_matches_the_features(schema):
    json_schema = schema.record_json_schema()
    assert json_schema["additionalProperties"] is False
    assert set(json_schema["required"]) == {s.name for s in schema.features if not s.nullable}
    for spec in schema.features:
        prop = json_schema["properties"][spec.name]
        options = prop.get("anyOf", [prop])
        if spec.type == "categorical":
            assert any(option.get("enum") == spec.categories for option in options)
        elif spec.max is not None:
            assert any(option.get("maximum") == spec.max for option in options)
    assert json_schema["example"] == schema.example_record()


def _with(schema, **changes) -> dict:
    return {**schema.example_record(), **changes}


def test_errors_stop_at_the_cap_but_are_all_counted(schema):
    first, last = schema.names[0], schema.names[-1]
    flooded = _with(schema, **{f"u{i}": i for i in range(5000)})
    records = [flooded, _with(schema, **{first: [1]}), _with(schema, **{last: {"x": 1}})]
    _, errors = schema.validate_records(records, max_errors=50)
    assert len(errors) == 50
    assert errors.total == 5002  # the unknown keys, then the one bad field of each other record
    assert all(e.record == 0 and e.message == "unknown field (not a model feature)" for e in errors)


def test_when_there_is_room_each_record_s_errors_are_listed_with_their_index(schema):
    first, last = schema.names[0], schema.names[-1]
    records = [_with(schema, not_a_feature="red", **{first: [1]}), _with(schema, **{last: {"x": 1}})]
    _, errors = schema.validate_records(records, max_errors=2)
    assert errors.total == 3
    assert sorted((e.record, e.field) for e in errors) == sorted([(0, "not_a_feature"), (0, first)])
    _, all_errors = schema.validate_records(records, max_errors=3)
    assert sorted((e.record, e.field) for e in all_errors) == sorted([(0, "not_a_feature"), (0, first), (1, last)])
    assert all_errors.total == 3


def test_a_record_that_is_not_an_object_counts_as_one_error(schema):
    _, errors = schema.validate_records(["not a record", *[_with(schema, **{schema.names[0]: [1]})] * 60])
    assert errors.total == 61
    assert len(errors) == 50
    assert errors[0].record == 0
