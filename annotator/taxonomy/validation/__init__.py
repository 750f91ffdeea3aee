"""Rules a taxonomy must obey, checked on plain data before anything is written.

Two layers:

* ``taxonomy_data_parse`` (shape.py) checks the *shape* of a taxonomy file (the export
  format): every entry is an object, required fields are there, values have the right
  type. Its messages name the source (file), the entry (``labels[3]``, ``labels[3] (cat)
  examples[0]``) and the field. Whether a guideline example's image and upload exist
  is for the loader to check (it needs the database and the media storage).
* ``taxonomy_problems`` (graph.py) checks the *graph* that would result: no cycle in the
  parent tree, in ``implies``, or in both together; no self relation; no pair that both
  implies and excludes; no pair that both overlaps and excludes; and no label whose
  closure (itself, its ancestors and everything it implies) holds both ends of an
  ``excludes`` pair. Its messages name the labels involved.

Both report through problems.py (``TaxonomyError``, ``TaxonomyProblem``). The closure
itself is computed by ``TaxonomyGraph`` (closure.py), as everywhere else. Nothing here
touches the database. Import from this package; the modules are its layout.
"""

from annotator.taxonomy.validation.graph import taxonomy_problems, taxonomy_problems_new
from annotator.taxonomy.validation.problems import (
    MAX_REPORTED_PROBLEMS,
    RELATION_KINDS,
    SYMMETRIC_KINDS,
    Relation,
    TaxonomyError,
    TaxonomyProblem,
    relation_verb,
)
from annotator.taxonomy.validation.shape import (
    CAPTION_MAX,
    CONTENT_HASH_PATTERN,
    EXAMPLE_FIELDS,
    EXAMPLE_KINDS,
    EXAMPLE_REQUIRED,
    KEY_MAX,
    KEY_PATTERN,
    LABEL_FIELDS,
    LABEL_REQUIRED,
    NAME_MAX,
    NOTE_MAX,
    RELATION_FIELDS,
    RELATION_REQUIRED,
    TOP_LEVEL_FIELDS,
    UPLOAD_MAX,
    ExampleEntry,
    LabelEntry,
    RelationEntry,
    TaxonomyData,
    taxonomy_data_parse,
    taxonomy_file_parse,
)

__all__ = [
    "CAPTION_MAX",
    "CONTENT_HASH_PATTERN",
    "EXAMPLE_FIELDS",
    "EXAMPLE_KINDS",
    "EXAMPLE_REQUIRED",
    "KEY_MAX",
    "KEY_PATTERN",
    "LABEL_FIELDS",
    "LABEL_REQUIRED",
    "MAX_REPORTED_PROBLEMS",
    "NAME_MAX",
    "NOTE_MAX",
    "RELATION_FIELDS",
    "RELATION_KINDS",
    "RELATION_REQUIRED",
    "SYMMETRIC_KINDS",
    "TOP_LEVEL_FIELDS",
    "UPLOAD_MAX",
    "ExampleEntry",
    "LabelEntry",
    "Relation",
    "RelationEntry",
    "TaxonomyData",
    "TaxonomyError",
    "TaxonomyProblem",
    "relation_verb",
    "taxonomy_data_parse",
    "taxonomy_file_parse",
    "taxonomy_problems",
    "taxonomy_problems_new",
]
