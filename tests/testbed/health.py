"""The health gate of the fault suites: the stack is green before a fault."""

from __future__ import annotations

import json
import time

from testbed.stack import Stack

# The services each group runs (PostgreSQL's instance unit carries the major).
GROUP_UNITS = {
    "db": ["postgresql@*-main.service"],
    "cache": ["redis-server"],
    "app": ["refservice-web", "refservice-scheduler"],
    "web": ["nginx"],
}
HEALTH_URLS = ("http://127.0.0.1:8000/health", "https://127.0.0.1/health")


def app_health(stack: Stack, url: str = HEALTH_URLS[0]) -> dict:
    """The app's /health body (any status code) as seen on the app host; {} when it does not answer."""
    out = stack.sh(stack.hosts("app")[0], f"curl -sk -m 5 {url}", check=False).stdout
    try:
        return json.loads(out)
    except ValueError:
        return {}


def app_healthy(stack: Stack) -> bool:
    """Healthy three times in a row, directly and through nginx (every worker recovered)."""
    return all(app_health(stack, url).get("status") == "healthy" for _round in range(3) for url in HEALTH_URLS)


def problems(stack: Stack) -> list[str]:
    """What keeps the stack from being green: inactive units, an unhealthy app."""
    found = []
    for host in stack.hosts("sandbox"):
        units = [unit for group in stack.groups_of(host) for unit in GROUP_UNITS.get(group, [])]
        if not units:
            continue
        out = stack.sh(host, "systemctl is-active " + " ".join(units), check=False).stdout.split()
        found += [f"{host}: {unit} is {state}" for unit, state in zip(units, out) if state != "active"]
    if not found and not app_healthy(stack):
        found.append(f"app: /health is {app_health(stack).get('status', 'not answering')} (direct or through nginx)")
    return found


def assert_green(stack: Stack, timeout: float = 180) -> None:
    """Wait until every unit is active and the app healthy; fail naming what is not."""
    deadline = time.monotonic() + timeout
    while True:
        found = problems(stack)
        if not found:
            return
        if time.monotonic() > deadline:
            raise AssertionError("health gate: the stack is not green: " + "; ".join(found))
        time.sleep(3)
