"""The vocabulary both validation layers share: relation kinds, and how problems are reported.

``TaxonomyError`` is what every check raises (one message per problem, the first
``MAX_REPORTED_PROBLEMS`` shown); ``TaxonomyProblem`` is one broken graph rule with the
labels and relations involved. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RELATION_KINDS = ("implies", "excludes", "overlaps")
SYMMETRIC_KINDS = frozenset({"excludes", "overlaps"})
# A broken file can produce thousands of messages; the first ones say enough.
MAX_REPORTED_PROBLEMS = 25

Relation = tuple[str, str, str]  # (kind, src key, dst key)


class TaxonomyError(ValueError):
    """Taxonomy data that cannot be accepted. ``problems`` holds one message per problem."""

    def __init__(self, problems: Sequence[str], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        shown = self.problems[:MAX_REPORTED_PROBLEMS]
        hidden = len(self.problems) - len(shown)
        prefix = f"{source}: " if source else ""
        if len(shown) == 1 and not hidden:
            text = prefix + shown[0]
        else:
            lines = [f"{prefix}{len(self.problems)} problems:"] + [f"  - {p}" for p in shown]
            if hidden:
                lines.append(f"  … and {hidden} more")
            text = "\n".join(lines)
        super().__init__(text)


@dataclass(frozen=True)
class TaxonomyProblem:
    """One broken rule; ``labels`` and ``relations`` say which entries are involved."""

    message: str
    labels: tuple[str, ...] = ()
    relations: tuple[Relation, ...] = ()


def relation_verb(kind: str) -> str:
    """The verb of a relation kind, for messages: implies → imply."""
    return {"implies": "imply", "excludes": "exclude", "overlaps": "overlap"}.get(kind, kind)
