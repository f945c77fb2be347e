"""The local endpoint finds the moto backend of a request's host once per host (moto lists its package folder and
tries every URL pattern on each request): same answers as moto, without asking it again."""

import inspect

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import create_backend_app

from cd4ml.localcloud.apigateway.gateway import _remember_backends_by_host

HOSTS = [
    ("127.0.0.1:5000", None),  # the local endpoint itself: moto goes on to infer the host from the signature
    ("dynamodb.us-east-1.amazonaws.com", "dynamodb"),
    ("runtime.sagemaker.us-east-1.amazonaws.com", "sagemakerruntime"),
    ("events.us-east-1.amazonaws.com", "events"),
    ("logs.eu-west-1.amazonaws.com", "logs"),
    ("moto_api", "moto_api"),
    (None, None),
]


@pytest.fixture
def dispatcher():
    """A dispatcher class of its own whose moto lookup counts its calls (moto's own class is patched once per
    process by the gateway's hook, possibly already)."""
    asked: list[str | None] = []
    moto_lookup = (
        DomainDispatcherApplication.get_backend_for_host.__wrapped__
        if hasattr(DomainDispatcherApplication.get_backend_for_host, "__wrapped__")
        else DomainDispatcherApplication.get_backend_for_host
    )

    class Counting(DomainDispatcherApplication):
        def get_backend_for_host(self, host):
            asked.append(host)
            return moto_lookup(self, host)

    _remember_backends_by_host(Counting)
    return Counting(create_backend_app), asked, moto_lookup


@pytest.mark.parametrize(("host", "backend"), HOSTS)
def test_each_host_gets_the_backend_moto_finds(dispatcher, host, backend):
    app, _, moto_lookup = dispatcher
    assert app.get_backend_for_host(host) == backend == moto_lookup(app, host)


def test_moto_is_asked_once_per_host(dispatcher):
    app, asked, _ = dispatcher
    for _ in range(3):
        for host, _backend in HOSTS:
            app.get_backend_for_host(host)
    assert asked == [host for host, _ in HOSTS]


def test_moto_lookup_hook_point():
    """Canary: the method the gateway wraps, with the arguments it passes."""
    assert list(inspect.signature(DomainDispatcherApplication.get_backend_for_host).parameters) == ["self", "host"]
