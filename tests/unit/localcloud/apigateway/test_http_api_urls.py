"""Stack outputs naming an HTTP API's execute-api URL become the local URL that serves it."""

from cd4ml.localcloud.apigateway.urls import local_api_url, localise_urls

ENDPOINT = "http://127.0.0.1:4566"


def test_an_execute_api_url_of_a_local_api_becomes_its_local_url():
    assert localise_urls("https://abcdefgh.execute-api.us-east-1.amazonaws.com/", ENDPOINT, ["abcdefgh"]) == (
        "http://127.0.0.1:4566/_aws/execute-api/abcdefgh/"
    )
    assert localise_urls("https://abcdefgh.execute-api.eu-west-1.amazonaws.com/prod/x", ENDPOINT, ["abcdefgh"]) == (
        "http://127.0.0.1:4566/_aws/execute-api/abcdefgh/prod/x"
    )
    assert local_api_url(ENDPOINT + "/", "abcdefgh") == "http://127.0.0.1:4566/_aws/execute-api/abcdefgh"


def test_other_urls_and_other_apis_are_left_as_they_are():
    other = "https://zzzzzzzz.execute-api.us-east-1.amazonaws.com/"
    assert localise_urls(other, ENDPOINT, ["abcdefgh"]) == other
    lookalike = "https://abcdefgh.execute-api.us-east-1.amazonaws.com.evil.example/"
    assert localise_urls(lookalike, ENDPOINT, ["abcdefgh"]) == lookalike
    assert localise_urls({"a": ["x", 1]}, ENDPOINT, ["abcdefgh"]) == {"a": ["x", 1]}
