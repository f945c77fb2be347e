"""S3 URIs (`s3://bucket/key`), parsed in one place for the functions, the CLI and the local cloud."""

from __future__ import annotations


def parse_s3_uri(uri: str, *, key_required: bool = True) -> tuple[str, str]:
    """`s3://bucket/a/b.csv` -> (`bucket`, `a/b.csv`). With `key_required=False` a prefix URI is accepted too
    (`s3://bucket` or `s3://bucket/` -> (`bucket`, ``)); an empty bucket is never accepted."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or (key_required and not key):
        raise ValueError(f"not an S3 {'object URI' if key_required else 'URI'}: {uri!r}")
    return bucket, key
