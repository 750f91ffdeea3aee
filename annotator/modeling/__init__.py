"""Model versions, training and prediction jobs, thresholds (calls the training package)."""
