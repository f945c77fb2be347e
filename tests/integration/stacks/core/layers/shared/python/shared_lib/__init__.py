"""Shared code of the test stack, shipped as a layer."""


def shout(text: str) -> str:
    return text.upper() + "!"
