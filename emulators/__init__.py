"""Local emulators of the remote sources' APIs: test and development tooling, not product code.

The tests and the benchmarks run the connector against these instead of Google and
Salesforce: each serves plain HTTP on 127.0.0.1 from a thread, keeps its data in memory,
logs every request and plays scripted faults. They share one harness
(``emulators/harness.py``: start/stop, the request log, the one ``Fault`` type).

    from emulators.sheets import SheetsEmulator
    from emulators.salesforce import SalesforceEmulator

Installed with the project (``pip install -e .``) so tests and ``bench/`` import them
without path tricks; the daemon never imports them.
"""
