import math

import pytest

from mlops.schema import FeatureSchema


@pytest.fixture
def schema(trained):
    return trained[1].schema


def test_schema_is_derived_from_training_rows(trained):
    config, result, train, _ = trained
    schema = result.schema
    assert schema.names == list(config.data.features)
    by_name = {spec.name: spec for spec in schema.features}
    assert by_name["ocean_proximity"].categories == sorted(train["ocean_proximity"].unique())
    assert by_name["total_bedrooms"].nullable is bool(train["total_bedrooms"].isna().any())
    assert by_name["median_income"].nullable is False
    assert by_name["latitude"].observed_min == train["latitude"].min()
    assert by_name["latitude"].max == config.data.columns["latitude"].max
    assert schema.categorical == ["ocean_proximity"]
    assert FeatureSchema.model_validate(schema.model_dump(mode="json")) == schema


def test_example_record_is_valid(schema):
    records, errors = schema.validate_records([schema.example_record()])
    assert errors == []
    assert records[0].keys() == set(schema.names)


def _example(schema, **changes):
    record = schema.example_record()
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"median_income": "3.5"}, "median_income", "expected a finite number, got '3.5'"),
        ({"median_income": True}, "median_income", "expected a finite number, got True"),
        ({"median_income": math.nan}, "median_income", "expected a finite number, got nan"),
        ({"median_income": math.inf}, "median_income", "expected a finite number, got inf"),
        ({"median_income": 10**400}, "median_income", "expected a finite number"),
        ({"median_income": None}, "median_income", "expected a finite number, got None"),
        ({"median_income": ...}, "median_income", "required field is missing"),
        ({"latitude": 91.0}, "latitude", "less than or equal to 90"),
        ({"population": -1}, "population", "greater than or equal to 0"),
        (
            {"ocean_proximity": "ON THE MOON"},
            "ocean_proximity",
            "'ON THE MOON' is not an allowed value; expected one of: '<1H OCEAN', 'INLAND'",
        ),
        ({"ocean_proximity": 3}, "ocean_proximity", "3 is not an allowed value"),
        ({"colour": "red"}, "colour", "unknown field (not a model feature)"),
    ],
)
def test_invalid_records_name_field_and_reason(schema, changes, field, message):
    _, errors = schema.validate_records([schema.example_record(), _example(schema, **changes)])
    assert [(e.record, e.field) for e in errors] == [(1, field)]
    assert message in errors[0].message


def test_nullable_fields_may_be_null_or_omitted(schema):
    nullable = [spec.name for spec in schema.features if spec.nullable]
    assert nullable == ["total_bedrooms"]
    records, errors = schema.validate_records(
        [_example(schema, total_bedrooms=None), _example(schema, total_bedrooms=...)]
    )
    assert errors == []
    frame = schema.to_frame(records)
    assert frame["total_bedrooms"].isna().all()
    assert list(frame.columns) == schema.names


def test_all_errors_of_all_records_come_back_at_once(schema):
    records = [
        _example(schema, latitude="x", ocean_proximity="?"),
        schema.example_record(),
        _example(schema, households=-5),
    ]
    _, errors = schema.validate_records(records)
    assert sorted((e.record, e.field) for e in errors) == [(0, "latitude"), (0, "ocean_proximity"), (2, "households")]


def test_record_json_schema_matches_the_features(schema):
    json_schema = schema.record_json_schema()
    assert json_schema["additionalProperties"] is False
    assert set(json_schema["required"]) == set(schema.names) - {"total_bedrooms"}
    assert json_schema["properties"]["ocean_proximity"]["enum"] == schema.features[-1].categories
    assert json_schema["properties"]["latitude"]["maximum"] == 90
    assert json_schema["example"] == schema.example_record()


def test_errors_stop_at_the_cap_but_are_all_counted(schema):
    flooded = _example(schema) | {f"u{i}": i for i in range(5000)}
    records = [flooded, _example(schema, latitude="x"), _example(schema, households=-5)]
    _, errors = schema.validate_records(records, max_errors=50)
    assert len(errors) == 50
    assert errors.total == 5002  # the unknown keys, then the two bad fields of the other records
    assert all(e.record == 0 and e.message == "unknown field (not a model feature)" for e in errors)


def test_when_there_is_room_each_record_s_errors_are_listed_with_their_index(schema):
    records = [_example(schema, colour="red", latitude=99), _example(schema, population=-1)]
    _, errors = schema.validate_records(records, max_errors=2)
    assert errors.total == 3
    assert [(e.record, e.field) for e in errors] == [(0, "colour"), (0, "latitude")]
    _, all_errors = schema.validate_records(records, max_errors=3)
    assert sorted((e.record, e.field) for e in all_errors) == [(0, "colour"), (0, "latitude"), (1, "population")]
    assert all_errors.total == 3


def test_a_record_that_is_not_an_object_counts_as_one_error(schema):
    _, errors = schema.validate_records(["not a record", *[_example(schema, latitude="x")] * 60])
    assert errors.total == 61
    assert len(errors) == 50
    assert errors[0].record == 0
