"""Which URLs the service may talk to, and how it names them where others can read.

Credentials travel to every configured URL (Genesys tokens, S3 signatures, the report links in
a webhook message), so plain ``http://`` is allowed only to a loopback address (the sandbox, a
local S3 test server) or where a setting says so explicitly (``allow_insecure_http``, for test
rigs whose servers have container names). A webhook may never point at a link-local or cloud
metadata address: POSTing there from inside a cloud is how a configuration turns into a
credential leak (SSRF). Only literal addresses and the well-known metadata names are known
here; names are not resolved at check time.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.azure.internal", "instance-data"}
)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    address = _address(host)
    if address is not None:
        return address.is_loopback
    return host in _LOOPBACK_NAMES or host.endswith(".localhost")


def is_internal(host: str) -> bool:
    """A link-local address (169.254.0.0/16, fe80::/10: where cloud metadata services live),
    an unspecified one, or a metadata service's well-known name."""
    host = host.lower().rstrip(".")
    address = _address(host)
    if address is not None:
        ec2_v6 = ipaddress.ip_address("fd00:ec2::254")
        return address.is_link_local or address.is_unspecified or address == ec2_v6
    return host in _METADATA_NAMES


def checked_url(value: str, *, allow_insecure_http: bool = False, outbound: bool = False) -> str:
    """``value`` if it is an acceptable http(s) URL; ``ValueError`` naming what is wrong.

    ``outbound`` (webhooks): also refuse link-local and metadata addresses.
    """
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (an out-of-range port raises here)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise ValueError("must be an http(s) URL with a host")
    if outbound and is_internal(host):
        raise ValueError(
            f"points at {host}, a link-local or cloud metadata address; refused (a webhook "
            "there could hand the instance's credentials to whoever reads the answer)"
        )
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise ValueError(
            f"must use https:// (http:// to {host} would send credentials in clear text; "
            "http:// is allowed for loopback addresses, or with allow_insecure_http: true)"
        )
    return value


def origin(url: str) -> str:
    """``scheme://host[:port]``: what logs and manifests may say of a URL that holds a secret
    (no user, password, path or query)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "?", parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
