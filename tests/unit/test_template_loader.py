"""The CloudFormation-tag-aware loader and the intrinsic resolver."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from callrec.stack import render_definition
from callrec.template import Template, TemplateError, load_yaml

PSEUDO = {"AWS::Region": "eu-west-2", "AWS::AccountId": "111122223333", "AWS::Partition": "aws"}


def _template(tmp_path: Path, body: str) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body))
    return Template.load(path)


def test_short_forms_become_long_forms(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        textwrap.dedent("""
        A: !Ref Thing
        B: !GetAtt Fn.Arn
        C: !GetAtt [Fn, Arn]
        D: !Sub "${AWS::Region}-x"
        E: !Join ["-", [a, !Ref Thing]]
        F: !If [IsProd, 1, 2]
        G: !Equals [a, b]
    """)
    )
    loaded = load_yaml(path)
    assert loaded["A"] == {"Ref": "Thing"}
    assert loaded["B"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert loaded["C"] == {"Fn::GetAtt": ["Fn", "Arn"]}
    assert loaded["D"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert loaded["E"] == {"Fn::Join": ["-", ["a", {"Ref": "Thing"}]]}
    assert loaded["F"] == {"Fn::If": ["IsProd", 1, 2]}
    assert loaded["G"] == {"Fn::Equals": ["a", "b"]}


def test_each_load_is_a_copy_of_its_own(tmp_path):
    """The file is parsed once while unchanged; what a load returns may be changed without touching the next one's
    (mappings, lists and a YAML set alike), and holds the parsed values (dates, numbers, text)."""
    import datetime

    path = tmp_path / "t.yaml"
    path.write_text("A: {B: [1, {C: text}]}\nD: 2026-12-01\nE: !!set {x: null}\nF: [1.5]\n")
    parsed = {"A": {"B": [1, {"C": "text"}]}, "D": datetime.date(2026, 12, 1), "E": {"x"}, "F": [1.5]}
    first = load_yaml(path)
    assert first == parsed
    first["A"]["B"][1]["C"] = "changed"
    first["A"]["B"].append(2)
    first["E"].add("z")
    first["F"].clear()
    assert load_yaml(path) == parsed


def test_intrinsics_resolve_against_parameters_pseudo_and_resources(tmp_path):
    template = _template(
        tmp_path,
        """
        Parameters:
          Stage: {Type: String, Default: dev}
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
        Resources:
          Table: {Type: AWS::DynamoDB::Table}
    """,
    )
    resolver = template.resolver(PSEUDO)
    resolver.refs["Table"] = "my-table"
    resolver.attributes[("Table", "Arn")] = "arn:aws:dynamodb:eu-west-2:111122223333:table/my-table"

    assert resolver.resolve({"Ref": "Stage"}) == "dev"
    assert resolver.resolve({"Fn::Sub": "${AWS::Region}/${Table}/${Table.Arn}/${!Literal}"}) == (
        "eu-west-2/my-table/arn:aws:dynamodb:eu-west-2:111122223333:table/my-table/${Literal}"
    )
    assert resolver.resolve({"Fn::Sub": ["${X}-${Stage}", {"X": {"Ref": "Table"}}]}) == "my-table-dev"
    assert resolver.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "small"
    assert resolver.resolve({"Fn::Join": [":", ["a", {"Ref": "AWS::Partition"}]]}) == "a:aws"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert resolver.resolve([1, {"Ref": "AWS::NoValue"}, 2]) == [1, 2]
    # a statement kept for one condition only: !If [Cond, item, !Ref AWS::NoValue] leaves the item out
    assert resolver.resolve([1, {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}, 3]) == [1, 3]
    assert resolver.resolve({"a": 1, "b": {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}}) == {"a": 1}

    prod = template.resolver(PSEUDO, overrides={"Stage": "prod"})
    assert prod.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "big"


@pytest.mark.parametrize(
    "value, message",
    [
        ({"Ref": "Nope"}, "!Ref Nope"),
        ({"Fn::GetAtt": ["Nope", "Arn"]}, "!GetAtt Nope.Arn"),
        ({"Fn::Base64": "x"}, "Fn::Base64 is not supported"),
        ({"Fn::If": ["NoSuchCondition", 1, 2]}, "condition 'NoSuchCondition'"),
    ],
)
def test_unresolvable_intrinsics_name_what_is_wrong(tmp_path, value, message):
    resolver = _template(tmp_path, "Resources: {}\n").resolver(PSEUDO)
    with pytest.raises(TemplateError, match=message.replace("!", "\\!").replace("(", "\\(")):
        resolver.resolve(value)


def test_globals_merge_like_sam(tmp_path):
    template = _template(
        tmp_path,
        """
        Globals:
          Function:
            Timeout: 10
            Layers: [!Ref Shared]
            Environment: {Variables: {A: "1", B: "2"}}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Timeout: 5
              Layers: [!Ref Own]
              Environment: {Variables: {B: "3"}}
          Bucket: {Type: AWS::S3::Bucket}
    """,
    )
    properties = template.resources("AWS::Serverless::Function")["Fn"]["Properties"]
    assert properties["Timeout"] == 5
    assert properties["Layers"] == [{"Ref": "Shared"}, {"Ref": "Own"}]
    assert properties["Environment"]["Variables"] == {"A": "1", "B": "3"}
    assert template.resources("AWS::S3::Bucket")["Bucket"]["Properties"] == {}


def test_parameters_without_a_value_are_an_error(tmp_path):
    template = _template(
        tmp_path,
        """
        Parameters:
          InstanceId: {Type: String}
        Resources: {}
    """,
    )
    with pytest.raises(TemplateError, match="InstanceId"):
        template.parameter_values()
    assert template.parameter_values({"InstanceId": "abc"}) == {"InstanceId": "abc"}


def test_not_a_template_is_refused(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("just: a map\n")
    with pytest.raises(TemplateError, match="no Resources"):
        Template.load(path)


def test_definition_substitutions_are_applied_and_leftovers_refused(tmp_path):
    asl = tmp_path / "m.asl.json"
    asl.write_text('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${Table}", "End": true}}}')
    assert '"Result": "t-1"' in render_definition(asl, {"Table": "t-1"})
    with pytest.raises(TemplateError, match=r"placeholder \$\{Table\}"):
        render_definition(asl, {})
