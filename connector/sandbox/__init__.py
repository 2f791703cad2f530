"""A local simulator of the Revox API, one generation at a time (connector/revox.py).

``server`` serves it over HTTP with scripted faults, ``routes`` answers each
endpoint, ``model`` keeps campaigns on a simulated clock, ``calls`` renders one
call, ``validate`` holds each generation's request contract and ``shapes`` the
fixed parts of its answers.
"""

from connector.revox_models import GENERATIONS, Generation
from connector.sandbox.server import Fault, Sandbox
from connector.sandbox.shapes import SCENARIOS, scenario_for

__all__ = ["GENERATIONS", "SCENARIOS", "Fault", "Generation", "Sandbox", "scenario_for"]
