"""Images, their current labels, evidence per source, label history, imports, splits, snapshots."""
