"""CloudFormation intrinsic functions and conditions as the deployer resolves them."""

import pytest

from cd4ml.localcloud.deploy.intrinsics import NO_VALUE, Resolver, references
from cd4ml.localcloud.errors import TemplateError

REFS = {"Bucket": "my-bucket", "Stage": "prod", "AWS::Region": "eu-west-1", "AWS::NoValue": NO_VALUE}
ATTRS = {("Bucket", "Arn"): "arn:aws:s3:::my-bucket", ("Fn", "Arn"): "arn:aws:lambda:eu-west-1:1:function:f"}


def _ref(name):
    if name not in REFS:
        raise TemplateError(f"Ref to {name!r}: no such parameter or (deployed) resource")
    return REFS[name]


def _att(logical_id, attribute):
    return ATTRS[(logical_id, attribute)]


@pytest.fixture
def resolver():
    conditions = {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}, "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]}}
    mappings = {"Sizes": {"prod": {"Instance": "ml.g5.xlarge"}}}
    return Resolver(_ref, _att, conditions, mappings, "eu-west-1")


def test_sub_resolves_refs_attributes_and_escapes(resolver):
    value = resolver.resolve({"Fn::Sub": "s3://${Bucket}/${AWS::Region}/${Bucket.Arn}/${!Literal}"})
    assert value == "s3://my-bucket/eu-west-1/arn:aws:s3:::my-bucket/${Literal}"


def test_sub_with_local_variables(resolver):
    assert resolver.resolve({"Fn::Sub": ["${Name}-${Stage}", {"Name": {"Ref": "Bucket"}}]}) == "my-bucket-prod"


def test_join_select_split_and_find_in_map(resolver):
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-prod"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Instance"]}) == "ml.g5.xlarge"


def test_if_uses_conditions_and_no_value_removes_the_property(resolver):
    node = {"A": {"Fn::If": ["IsDev", "dev", {"Ref": "AWS::NoValue"}]}, "B": {"Fn::If": ["IsProd", 1, 2]}}
    assert resolver.resolve(node) == {"B": 1}
    assert resolver.condition("IsProd") is True and resolver.condition("IsDev") is False


def test_unknown_condition_and_missing_reference_are_template_errors(resolver):
    with pytest.raises(TemplateError, match="Nope"):
        resolver.condition("Nope")
    with pytest.raises(TemplateError, match="Missing"):
        resolver.resolve({"Ref": "Missing"})


def test_find_in_map_missing_key_is_an_error_naming_it(resolver):
    with pytest.raises(TemplateError, match="Sizes/dev/Instance"):
        resolver.resolve({"Fn::FindInMap": ["Sizes", "dev", "Instance"]})


def test_references_collects_ref_getatt_and_sub_names_but_not_sub_locals():
    node = {
        "a": {"Ref": "One"},
        "b": {"Fn::GetAtt": ["Two", "Arn"]},
        "c": {"Fn::GetAtt": "Three.Arn"},
        "d": {"Fn::Sub": ["${Local}-${Four.Arn}-${Five}", {"Local": {"Ref": "Six"}}]},
    }
    assert references(node) == {"One", "Two", "Three", "Four", "Five", "Six"}
