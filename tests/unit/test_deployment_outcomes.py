"""The pure deployment decisions: what an agent's report means, retries, coverage."""

from __future__ import annotations

import itertools

from shared.domain.deployment_outcomes import (
    FAILED_EVENT,
    MAX_DEPLOY_ATTEMPTS,
    UNCONFIRMED_EVENT,
    covers,
    deploy_verdict,
    normalize_serial,
    retry_delay,
)
from shared.states import DeploymentStatus


def test_every_endpoint_serving_the_serial_is_confirmed() -> None:
    served = [{"endpoint": "a:443", "serial": "0AB"}, {"endpoint": "b:443", "serial": "ab"}]

    verdict = deploy_verdict(True, {"served": served}, "00ab")

    assert verdict.status is DeploymentStatus.CONFIRMED
    assert verdict.served_serial == "ab"
    assert verdict.error is None and verdict.event is None


def test_one_endpoint_serving_another_serial_is_unconfirmed_and_told() -> None:
    served = [{"endpoint": "a:443", "serial": "ab"}, {"endpoint": "b:443", "serial": "cd"}]

    verdict = deploy_verdict(True, {"served": served}, "ab")

    assert verdict.status is DeploymentStatus.UNCONFIRMED
    assert verdict.served_serial == "cd"
    assert verdict.event == UNCONFIRMED_EVENT
    assert verdict.error is not None
    assert verdict.error["endpoints"] == [served[1]]


def test_an_endpoint_that_cannot_be_probed_is_unconfirmed() -> None:
    served = [{"endpoint": "a:443", "serial": None, "error": "ConnectionRefusedError"}]

    verdict = deploy_verdict(True, {"served": served}, "ab")

    assert verdict.status is DeploymentStatus.UNCONFIRMED
    assert verdict.served_serial is None


def test_nothing_to_probe_is_deployed() -> None:
    verdict = deploy_verdict(True, {"files": ["/etc/ssl/x.pem"]}, "ab")

    assert verdict.status is DeploymentStatus.DEPLOYED
    assert verdict.event is None


def test_a_failed_report_is_failed_with_the_reload_output() -> None:
    reload = {"exit_code": 3, "timed_out": False, "output_tail": "nope"}

    verdict = deploy_verdict(False, {"detail": "the reload command failed", "reload": reload},
                             "ab")

    assert verdict.status is DeploymentStatus.FAILED
    assert verdict.event == FAILED_EVENT
    assert verdict.error == {
        "type": "urn:certkeeper:problem:deployment-failed", "title": "The deployment failed",
        "status": 502, "detail": "the reload command failed", "reload": reload,
    }


def test_serials_compare_without_colons_case_or_leading_zeros() -> None:
    assert normalize_serial("00:AB:0c") == "ab0c"
    assert normalize_serial("000") == "0"


def test_retries_back_off_and_end() -> None:
    delays = [retry_delay(n) for n in range(1, MAX_DEPLOY_ATTEMPTS)]

    assert delays[0] == 30.0
    assert all(b == 2 * a for a, b in itertools.pairwise(delays))
    assert retry_delay(MAX_DEPLOY_ATTEMPTS) is None


def test_domains_cover_a_certificate_only_when_every_name_lies_under_them() -> None:
    assert covers(["example.com"], ["example.com", "www.example.com", "*.api.example.com"])
    assert not covers(["example.com"], ["www.example.com", "www.example.org"])
    assert not covers(["example.com"], ["badexample.com"])
    assert not covers([], ["example.com"])
