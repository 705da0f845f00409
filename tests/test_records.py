"""The typed records' JSON round trip (`ilflow.records.Record`): nested records in lists, dict values and unions."""

from dataclasses import dataclass, field

import pytest

from ilflow.manifest import ProjectError
from ilflow.records import Record


@dataclass(frozen=True)
class Point(Record):
    x: float
    y: float | None


@dataclass(frozen=True)
class Label(Record):
    x: float


@dataclass(frozen=True)
class Holder(Record):
    by_name: dict[str, Point]
    points: list[Point]
    either: Point | Label
    maybe: Point | None
    source: str = field(metadata={"key": "from"})  # a JSON key that is a Python keyword


def test_dict_values_unions_and_renamed_keys_round_trip(tmp_path):
    holder = Holder(by_name={"a": Point(1.0, 2.0), "b": Point(3.0, None)}, points=[Point(0.0, 1.0)],
                    either=Label(5.0), maybe=None, source="here")
    data = holder.to_dict()
    assert data["from"] == "here" and "source" not in data
    assert data["by_name"] == {"a": {"x": 1.0, "y": 2.0}, "b": {"x": 3.0, "y": None}}
    assert data["either"] == {"x": 5.0}
    back = Holder.load(holder.save(tmp_path / "holder.json"))
    assert back == holder
    assert isinstance(back.by_name["a"], Point) and isinstance(back.either, Label)
    both = Holder.from_dict({**data, "either": {"x": 1.0, "y": 2.0}, "maybe": {"x": 0.0, "y": 0.0}})
    assert both.either == Point(1.0, 2.0) and both.maybe == Point(0.0, 0.0)  # the union member the fields fill


def test_not_finite_numbers_are_null_in_json():
    assert Point(float("nan"), float("inf")).to_json() == '{\n "x": null,\n "y": null\n}\n'


@pytest.mark.parametrize("text", ["[]", '{"by_name": {}}', '{"source": "x"}',
                                  '{"by_name": {}, "points": [], "either": {"z": 1}, "maybe": null, "from": "x"}'])
def test_load_refuses_what_is_not_a_complete_record(tmp_path, text):
    path = tmp_path / "holder.json"
    path.write_text(text)
    with pytest.raises(ProjectError, match="not a Holder record"):
        Holder.load(path)
