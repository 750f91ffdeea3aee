"""Users, the three roles (annotator, QA lead, admin) and per-user language."""
