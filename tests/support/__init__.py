"""Helpers shared by the test suites (importable as ``support``: ``tests/`` is on ``sys.path``).

- :mod:`.fakes`: a fake task instance, a recording ``httpx.MockTransport`` handler, and the one way
  to define a ``mix`` connection in the environment (``AIRFLOW_CONN_*``).
- :mod:`.integration`: a plain ``httpx`` view of the local Mix server, XCom and state reading, and
  the fixtures of the operator integration tests.
- :mod:`.airflow_suite`: the fixtures of the suites that run a whole Airflow (tests/e2e,
  tests/distributed): teardown on SIGTERM, the REST client, copying DAG files.
"""
