"""Label tree, relations (implies / excludes / overlaps), external mappings, guidelines."""
