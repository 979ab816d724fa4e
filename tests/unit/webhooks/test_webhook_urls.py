"""Webhook URLs on the AWS settings: https to public addresses only, checked on what the host resolves to."""

from __future__ import annotations

import ipaddress

import pytest

from lambdas.errors import InvalidInput
from lambdas.logic.webhook_urls import check_webhook_url

PUBLIC = "93.184.215.14"


def resolver(*addresses):
    def resolve(host, port):
        if not addresses:
            raise OSError("Name or service not known")
        return list(addresses)
    return resolve


def refused(url, *addresses, allow_loopback=False):
    with pytest.raises(InvalidInput) as caught:
        check_webhook_url(url, allow_loopback=allow_loopback, resolve=resolver(*addresses))
    assert caught.value.field == "webhook_url" and caught.value.message.startswith("webhook_url ")
    return caught.value.message


def test_an_https_url_of_a_public_host_is_accepted_with_the_address_to_connect_to():
    target = check_webhook_url("https://hooks.example.com:8443/in?x=1", allow_loopback=False,
                               resolve=resolver(PUBLIC, "2606:4700::1111"))

    assert (target.scheme, target.host, target.port, target.path) == ("https", "hooks.example.com", 8443, "/in?x=1")
    assert target.address == PUBLIC


@pytest.mark.parametrize("address", [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "0.0.0.0", "169.254.169.254", "100.64.0.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.0.8", "::1", "fe80::1", "fd00:ec2::254", "ff02::1",
    "::ffff:10.0.0.1", "2002:a00:1::1", "64:ff9b::a9fe:a9fe",
])
def test_a_host_resolving_to_a_non_public_address_is_refused(address):
    message = refused("https://hooks.example.com/in", address)

    assert "public address" in message
    assert ipaddress.ip_address(message.rsplit(" ", 1)[-1]) == ipaddress.ip_address(address)


def test_one_internal_address_among_public_ones_is_enough_to_refuse():
    assert "169.254.169.254" in refused("https://rebind.example.com/", PUBLIC, "169.254.169.254")


@pytest.mark.parametrize(("url", "words"), [
    ("http://hooks.example.com/in", "https"),
    ("ftp://hooks.example.com/in", "https"),
    ("hooks.example.com/in", "https"),
    ("https:///in", "https"),
    ("https://user:pw@hooks.example.com/in", "user name or password"),
    ("https://hooks.example.com:99999/in", "port"),
])
def test_urls_that_are_not_plain_https_are_refused(url, words):
    assert words in refused(url, PUBLIC)


def test_a_host_that_does_not_resolve_is_refused():
    assert "does not resolve" in refused("https://nowhere.invalid/")


def test_the_local_stack_setting_allows_loopback_http_and_nothing_more():
    target = check_webhook_url("http://127.0.0.1:8080/hook", allow_loopback=True, resolve=resolver("127.0.0.1"))

    assert (target.scheme, target.address, target.port) == ("http", "127.0.0.1", 8080)
    refused("http://127.0.0.1:8080/hook", "127.0.0.1")  # not on the AWS settings
    refused("http://10.0.0.1/hook", "10.0.0.1", allow_loopback=True)
    refused("http://hooks.example.com/", PUBLIC, allow_loopback=True)
