"""The per-set bookkeeping of core.target: cached by the targets' identity, whatever the target class."""

from eco_unlearn.core.encoder import decide
from eco_unlearn.core.target import target_set
from eco_unlearn.gate.targets import KeywordGate, Target


class ValueTarget(Target):
    """A target class with value equality and no hash (as a dataclass with eq=True would have)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


def _target(cls, name: str, word: str) -> Target:
    return cls(Target.create(name).manifest, KeywordGate([word]))


def test_a_set_is_worked_out_once_and_new_targets_get_their_own():
    targets = [_target(Target, "a", "zebra"), _target(Target, "b", "lion")]
    ts = target_set(targets)
    assert target_set(list(targets)) is ts  # a new list of the same targets
    assert target_set(targets[:1]) is not ts and target_set(targets[:1]).names == ["a"]


def test_unhashable_targets_are_keyed_by_identity():
    a, a_again = _target(ValueTarget, "a", "zebra"), _target(ValueTarget, "a", "lion")
    assert a == a_again  # equal by value, yet two targets with two gates
    assert target_set([a]) is not target_set([a_again])
    (d,) = decide([["a lion"]], [a, a_again])
    assert [t is a_again for t in d.flagged] == [True] and d.p_forget == {"a": 1.0}
