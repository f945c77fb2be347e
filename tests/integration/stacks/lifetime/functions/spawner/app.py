"""Prints what it is asked to say, and each document of `emf` as one JSON line (an embedded-metric-format library's
output); asked to hold, starts a process of its own and waits as long as it runs."""

import json
import subprocess
import sys


def handler(event, context):
    for document in event.get("emf", []):
        print(json.dumps(document) if isinstance(document, dict) else document)
    print(f"spawner says {event.get('say', 'hello')}")
    print(f"spawner warns {event.get('warn', 'nothing')}", file=sys.stderr)
    if event.get("hold_s"):
        subprocess.run(["sleep", str(event["hold_s"])], check=False)  # a grandchild of the local cloud
    return {"said": event.get("say", "hello")}
