"""The Salesforce REST API emulator.

``api.py``: the org, its HTTP routes, faults and limits; ``auth.py``: logins; ``soql.py``:
the SOQL subset and query paging; ``records.py``: sObject rows and Collections;
``objects.py``: objects, fields, ids and error shapes.
"""

from emulators.salesforce.api import SalesforceEmulator
from emulators.salesforce.soql import SoqlError

__all__ = ["SalesforceEmulator", "SoqlError"]
