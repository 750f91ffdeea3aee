"""The run and test commands behind ``labelloop.py``.

Every module here uses the standard library only: ``labelloop.py`` imports them before
the virtualenv exists. ``common`` holds the paths and helpers both commands share,
``venv`` the virtualenv bootstrap, ``run`` the supervisor of ``run`` and ``test`` the
steps of ``test``. Django and the embedded servers are imported inside functions, once
the command runs in the venv.
"""
