"""Prints what it is asked to say; asked to hold, starts a process of its own and waits as long as it runs."""

import subprocess
import sys


def handler(event, context):
    print(f"spawner says {event.get('say', 'hello')}")
    print(f"spawner warns {event.get('warn', 'nothing')}", file=sys.stderr)
    if event.get("hold_s"):
        subprocess.run(["sleep", str(event["hold_s"])], check=False)  # a grandchild of the local cloud
    return {"said": event.get("say", "hello")}
