"""HTTP APIs (API Gateway v2) on the local cloud: routes, payload format 2.0, IAM authorisation and throttling."""
