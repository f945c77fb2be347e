"""Canaries for the moto internals the HTTP API gateway hooks into: an upgrade that moves them fails here."""

import inspect


def test_moto_dispatch_hook_point():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    assert list(inspect.signature(DomainDispatcherApplication.__call__).parameters)[:3] == [
        "self",
        "environ",
        "start_response",
    ]


def test_apigatewayv2_models_the_gateway_reads():
    from moto.apigatewayv2.models import Api, Integration, Route, Stage, apigatewayv2_backends
    from moto.sts.models import sts_backends

    assert apigatewayv2_backends is not None and sts_backends is not None
    for model, attributes in [
        (Route, ("route_key", "target", "authorization_type")),
        (Integration, ("integration_uri", "timeout_in_millis", "payload_format_version")),
        (Stage, ("default_route_settings", "route_settings", "stage_variables")),
        (Api, ("routes", "integrations", "stages")),
    ]:
        source = inspect.getsource(model.__init__)
        for attribute in attributes:
            assert f"self.{attribute} =" in source or f"self.{attribute}:" in source, f"{model.__name__}.{attribute}"
