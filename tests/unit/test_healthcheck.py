"""`wxhook healthcheck` asks the address the server listens on, loopback for a wildcard."""

from wxhook.cli.healthcheck import probe_url


def test_a_wildcard_host_is_probed_on_loopback_of_its_family():
    assert probe_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/healthz"
    assert probe_url("", 9000) == "http://127.0.0.1:9000/healthz"
    assert probe_url("::", 8080) == "http://[::1]:8080/healthz"


def test_a_specific_host_is_probed_as_configured():
    assert probe_url("10.1.2.3", 8081) == "http://10.1.2.3:8081/healthz"
    assert probe_url("fd00::5", 8080) == "http://[fd00::5]:8080/healthz"
