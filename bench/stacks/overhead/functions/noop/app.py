"""Does nothing: the smallest handler, so that what is timed is the local cloud, not the function."""


def handler(event, context):
    return {"ok": True}
