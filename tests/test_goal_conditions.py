"""Conditions: dotted paths, every condition class, values, properties."""

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from cybertools_tracking.goals import conditions as c
from cybertools_tracking.goals.interfaces import ICondition

ORDER = {"id": 7, "status": "Active", "note": None,
         "order": {"items": [{"sku": "A-1", "qty": 2}, {"sku": "B.2"}],
                   "tags": ["new", "gift"], "total": 19.5},
         "a.b": "dotted", 3: "int key"}

ALL_KEY_CLASSES = [
    (c.KeyExists, ()), (c.KeyNotExists, ()),
    (c.KeyValueEQ, (1,)), (c.KeyValueNE, (1,)), (c.KeyValueLT, (1,)),
    (c.KeyValueLE, (1,)), (c.KeyValueGT, (1,)), (c.KeyValueGE, (1,)),
    (c.KeyValueContained, ("x",)), (c.KeyValueNotContained, ("x",)),
    (c.KeyValueInList, ([1, 2],)), (c.KeyValueNotInList, ([1, 2],)),
    (c.KeyValueListHasItem, (1,)), (c.KeyValueListHasNotItem, (1,)),
]


def all_conditions(key="k"):
    return [cls(key, *args) for cls, args in ALL_KEY_CLASSES]


# -- paths --------------------------------------------------------------------

def test_parse_path_segments_and_indexes():
    assert c.parse_path("order.items.0.sku") == (
        ("order", None), ("items", None), ("0", 0), ("sku", None))


def test_parse_path_negative_indexes():
    assert c.parse_path("items.-1.sku") == (
        ("items", None), ("-1", -1), ("sku", None))
    assert c.parse_path("-12") == (("-12", -12),)
    # Not integers: a lone or doubled minus, a minus inside, a plus sign,
    # non-ASCII digits.
    for segment in ("-", "--1", "1-2", "+1", "-\u0663", "-1a"):
        assert c.parse_path(segment) == ((segment, None),)


def test_resolve_negative_indexes_count_from_the_end():
    items = c.parse_path("order.items.-1.sku")
    assert c.resolve(ORDER, items) == "B.2"
    assert c.resolve(ORDER, c.parse_path("order.items.-2.sku")) == "A-1"
    assert c.resolve(ORDER, c.parse_path("order.tags.-1")) == "gift"
    assert c.resolve({"t": ("x", "y")}, c.parse_path("t.-1")) == "y"
    # Out of range at either end is missing, as are the last of no items
    # and a negative index into a string.
    assert c.resolve(ORDER, c.parse_path("order.items.-3.sku")) is c.MISSING
    assert c.resolve(ORDER, c.parse_path("order.items.-3")) is c.MISSING
    assert c.resolve({"l": []}, c.parse_path("l.-1")) is c.MISSING
    assert c.resolve({"s": "abc"}, c.parse_path("s.-1")) is c.MISSING
    # In a dict, the string key first, then the int key.
    assert c.resolve({"-1": "str", -1: "int"}, c.parse_path("-1")) == "str"
    assert c.resolve({-1: "int"}, c.parse_path("-1")) == "int"


def test_conditions_on_negative_paths():
    assert c.KeyValueEQ("order.items.-1.sku", "B.2").check(ORDER)
    assert c.KeyValueGE("order.items.-2.qty", 2).check(ORDER)
    assert c.KeyExists("order.tags.-2").check(ORDER)
    for key in ("order.items.-3.sku", "order.tags.-3", "order.items.-1.qty"):
        assert not c.KeyExists(key).check(ORDER)
        assert c.KeyNotExists(key).check(ORDER)
        assert not c.KeyValueEQ(key, None).check(ORDER)
        assert not c.KeyValueNE(key, None).check(ORDER)
        assert not c.KeyValueLT(key, 99).check(ORDER)


def test_parse_path_escapes():
    assert c.parse_path(r"a\.b") == (("a.b", None),)
    assert c.parse_path(r"a\\.b") == (("a\\", None), ("b", None))


@pytest.mark.parametrize("key", ["", "a..b", ".a", "a.", r"a\x"])
def test_parse_path_rejects_bad_keys(key):
    with pytest.raises(ValueError) as info:
        c.parse_path(key)
    assert repr(key) in str(info.value) or key == ""


def test_key_must_be_str():
    with pytest.raises(TypeError, match=r"key must be a str, got 5 \(int\)"):
        c.KeyExists(5)


def test_resolve_walks_dicts_and_lists():
    assert c.resolve(ORDER, c.parse_path("order.items.0.sku")) == "A-1"
    assert c.resolve(ORDER, c.parse_path("order.items.1.sku")) == "B.2"
    assert c.resolve(ORDER, c.parse_path("order.items.2.sku")) is c.MISSING
    assert c.resolve(ORDER, c.parse_path(r"a\.b")) == "dotted"
    assert c.resolve(ORDER, c.parse_path("3")) == "int key"
    assert c.resolve(ORDER, c.parse_path("id.x")) is c.MISSING
    assert c.resolve(ORDER, c.parse_path("order.tags.x")) is c.MISSING
    assert c.resolve(["a"], c.parse_path("0")) is c.MISSING


def test_missing_marker_pickles_to_itself():
    assert pickle.loads(pickle.dumps(c.MISSING)) is c.MISSING
    assert repr(c.MISSING) == "MISSING"


# -- the conditions -----------------------------------------------------------

def test_exists_and_not_exists():
    assert c.KeyExists("note").check(ORDER)  # None counts as present
    assert not c.KeyNotExists("note").check(ORDER)
    assert c.KeyExists("order.items.1.sku").check(ORDER)
    assert c.KeyNotExists("order.items.1.qty").check(ORDER)
    assert not c.KeyExists("nope").check(ORDER)


@pytest.mark.parametrize("cls,value,expected", [
    (c.KeyValueEQ, 7, True), (c.KeyValueEQ, 8, False),
    (c.KeyValueNE, 8, True), (c.KeyValueNE, 7, False),
    (c.KeyValueLT, 8, True), (c.KeyValueLT, 7, False),
    (c.KeyValueLE, 7, True), (c.KeyValueLE, 6, False),
    (c.KeyValueGT, 6, True), (c.KeyValueGT, 7, False),
    (c.KeyValueGE, 7, True), (c.KeyValueGE, 8, False),
])
def test_comparisons(cls, value, expected):
    assert cls("id", value).check(ORDER) is expected


def test_comparisons_on_nested_paths():
    assert c.KeyValueGT("order.total", 19).check(ORDER)
    assert c.KeyValueEQ("order.items.0.qty", 2).check(ORDER)
    assert c.KeyValueEQ("order.tags", ["new", "gift"]).check(ORDER)


def test_incomparable_types_are_false_never_an_error():
    for cls in (c.KeyValueLT, c.KeyValueLE, c.KeyValueGT, c.KeyValueGE):
        assert cls("status", 1).check(ORDER) is False
        assert cls("note", 1).check(ORDER) is False


def test_missing_key_is_false_for_all_but_not_exists():
    for condition in all_conditions("missing.key"):
        expected = isinstance(condition, c.KeyNotExists)
        assert condition.check(ORDER) is expected, condition


def test_non_mapping_data_is_false_for_every_condition():
    for data in (None, 3, "k", ["k"], ("k",), {"k"}):
        for condition in all_conditions():
            assert condition.check(data) is False, (condition, data)


def test_comparison_accepts_operator_names_and_functions():
    import operator
    assert c.KeyValueComparison("id", 7, operator.ge).op == "ge"
    assert c.KeyValueComparison("id", 7, "le").check(ORDER)
    with pytest.raises(ValueError, match="op must be one of .* got 'xx'"):
        c.KeyValueComparison("id", 7, "xx")


def test_contained():
    assert c.KeyValueContained("status", "ctiv").check(ORDER)
    assert not c.KeyValueContained("status", "act").check(ORDER)
    assert c.KeyValueContained("status", "ACT", case_sensitive=False).check(
        ORDER)
    assert c.KeyValueNotContained("status", "act").check(ORDER)
    assert not c.KeyValueNotContained(
        "status", "act", case_sensitive=False).check(ORDER)
    # not a string: neither contained nor not contained
    assert not c.KeyValueContained("id", "7").check(ORDER)
    assert not c.KeyValueNotContained("id", "7").check(ORDER)


def test_contained_argument_errors():
    with pytest.raises(TypeError, match=r"value must be a str, got 3 \(int\)"):
        c.KeyValueContained("a", 3)
    with pytest.raises(TypeError, match="case_sensitive must be a bool"):
        c.KeyValueContained("a", "x", case_sensitive="no")


def test_in_list():
    assert c.KeyValueInList("id", [6, 7]).check(ORDER)
    assert not c.KeyValueInList("id", (1, 2)).check(ORDER)
    assert c.KeyValueNotInList("id", [1, 2]).check(ORDER)
    assert not c.KeyValueNotInList("id", [7]).check(ORDER)
    assert c.KeyValueInList("note", [None]).check(ORDER)
    assert c.KeyValueInList("order.tags", [["new", "gift"]]).check(ORDER)


def test_in_list_needs_a_list():
    with pytest.raises(TypeError, match=r"value must be a list or tuple, got "
                                        r"'ab' \(str\)"):
        c.KeyValueInList("a", "ab")


def test_in_list_keeps_a_private_copy():
    values = [1, 2]
    condition = c.KeyValueInList("a", values)
    values.append(3)
    assert not condition.check({"a": 3})
    assert condition.value == (1, 2)


def test_list_has_item():
    assert c.KeyValueListHasItem("order.tags", "gift").check(ORDER)
    assert not c.KeyValueListHasItem("order.tags", "old").check(ORDER)
    assert c.KeyValueListHasNotItem("order.tags", "old").check(ORDER)
    assert not c.KeyValueListHasNotItem("order.tags", "new").check(ORDER)
    # not a list: neither has nor has not
    assert not c.KeyValueListHasItem("status", "A").check(ORDER)
    assert not c.KeyValueListHasNotItem("status", "x").check(ORDER)


def test_combinators():
    yes, no = c.KeyExists("id"), c.KeyExists("nope")
    assert c.All(yes, yes).check(ORDER)
    assert not c.All(yes, no).check(ORDER)
    assert c.Any(no, yes).check(ORDER)
    assert not c.Any(no, no).check(ORDER)
    assert c.Not(no).check(ORDER)
    assert c.All([yes, c.Not(no)]).check(ORDER)
    # Not of a comparison also holds when the key is missing
    assert c.Not(c.KeyValueEQ("nope", 1)).check(ORDER)
    assert not c.KeyValueNE("nope", 1).check(ORDER)


def test_combinator_errors():
    with pytest.raises(ValueError, match="All needs at least one condition"):
        c.All()
    with pytest.raises(TypeError, match=r"Any takes conditions, got 'x'"):
        c.Any(c.KeyExists("a"), "x")
    with pytest.raises(TypeError, match="Not takes a condition"):
        c.Not(lambda d: True)


# -- values -------------------------------------------------------------------

def test_every_condition_provides_the_interface():
    for condition in all_conditions() + [
            c.All(c.KeyExists("a")), c.Any(c.KeyExists("a")),
            c.Not(c.KeyExists("a"))]:
        assert verifyObject(ICondition, condition)


def test_equality_and_hash_include_class_key_value_and_options():
    assert c.KeyExists("a") == c.KeyExists("a")
    assert hash(c.KeyExists("a")) == hash(c.KeyExists("a"))
    assert c.KeyExists("a") != c.KeyNotExists("a")
    assert c.KeyValueEQ("a", 1) != c.KeyValueNE("a", 1)
    assert c.KeyValueEQ("a", 1) != c.KeyValueEQ("b", 1)
    assert c.KeyValueEQ("a", 1) != c.KeyValueEQ("a", 2)
    assert c.KeyValueContained("a", "x") != c.KeyValueContained(
        "a", "x", case_sensitive=False)
    assert c.KeyValueEQ("a", [1, {"b": 2}]) == c.KeyValueEQ("a", [1, {"b": 2}])
    assert len({c.KeyValueEQ("a", [1]), c.KeyValueEQ("a", [1])}) == 1
    assert c.All(c.KeyExists("a")) != c.Any(c.KeyExists("a"))
    assert c.KeyExists("a") != "a"


def test_conditions_are_immutable():
    condition = c.KeyValueEQ("a", 1)
    with pytest.raises(AttributeError, match="immutable"):
        condition.value = 2
    with pytest.raises(AttributeError):
        del condition.key
    assert copy.deepcopy(condition) is condition


@pytest.mark.parametrize("condition", all_conditions("a.0.b") + [
    c.All(c.KeyExists("a"), c.Not(c.KeyValueLT("b", 3))),
    c.KeyValueContained("n", "X", case_sensitive=False),
])
def test_conditions_pickle_by_their_arguments(condition):
    loaded = pickle.loads(pickle.dumps(condition))
    assert loaded == condition and hash(loaded) == hash(condition)
    assert type(loaded) is type(condition)
    data = {"a": [{"b": 1}], "n": "x", "b": 4}
    assert loaded.check(data) == condition.check(data)


def test_reprs():
    assert repr(c.KeyValueEQ("status", "active")) == (
        "<KeyValueEQ (key=status operator=eq value='active')>")
    assert repr(c.KeyNotExists("a")) == "<KeyNotExists (key=a)>"


# -- properties ---------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers()
                | st.floats(allow_nan=True) | st.text(max_size=4))
json_data = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "0", "1", "-1", "x.y"]),
                      children, max_size=3),
    max_leaves=12)
keys = st.lists(st.sampled_from(["a", "b", "0", "1", "2", "-1", "-3",
                                 r"x\.y"]),
                min_size=1, max_size=4).map(".".join)
values = json_scalars | st.lists(json_scalars, max_size=3)


def build(cls, key, value):
    if cls in (c.KeyExists, c.KeyNotExists):
        return cls(key)
    if cls in (c.KeyValueContained, c.KeyValueNotContained):
        return cls(key, value if isinstance(value, str) else "a")
    if cls in (c.KeyValueInList, c.KeyValueNotInList):
        return cls(key, value if isinstance(value, list) else [value])
    return cls(key, value)


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["a", "b", "0", "x.y"]),
                            json_data, max_size=4),
       key=keys, value=values)
def test_conditions_never_raise_and_exists_xor_not_exists(data, key, value):
    for cls, _ in ALL_KEY_CLASSES:
        assert build(cls, key, value).check(data) in (True, False)
    assert c.KeyExists(key).check(data) != c.KeyNotExists(key).check(data)


@settings(max_examples=100, deadline=None)
@given(data=json_data, key=keys, value=values)
def test_conditions_never_raise_on_any_data(data, key, value):
    for cls, _ in ALL_KEY_CLASSES:
        result = build(cls, key, value).check(data)
        assert result in (True, False)
        if not isinstance(data, dict):
            assert result is False


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.integers(), max_size=5), index=st.integers(-7, 7))
def test_list_indexes_follow_python(items, index):
    found = c.resolve({"l": items}, c.parse_path("l.%d" % index))
    if -len(items) <= index < len(items):
        assert found == items[index]
    else:
        assert found is c.MISSING
