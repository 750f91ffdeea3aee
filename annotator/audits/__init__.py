"""Daily QA samples, reviews and annotator accuracy (built on the cleaning app)."""
