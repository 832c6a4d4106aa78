"""Genesys Cloud environments and their hosts (reference §2).

The login host is the API host with ``api.`` replaced by ``login.``, the rule every official SDK
applies. Users may name an environment (``usw2.pure.cloud``) or its AWS-style region
(``us-west-2``; underscores accepted too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SANDBOX: Final = "sandbox"

# AWS-style region -> environment domain
ENVIRONMENTS: Final[dict[str, str]] = {
    "us-east-1": "mypurecloud.com",
    "us-east-2": "use2.us-gov-pure.cloud",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "sa-east-1": "sae1.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
    "eu-west-1": "mypurecloud.ie",
    "eu-west-2": "euw2.pure.cloud",
    "eu-central-1": "mypurecloud.de",
    "eu-central-2": "euc2.pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "ap-southeast-2": "mypurecloud.com.au",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-northeast-2": "apne2.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
    "eusc-de-east-1": "edee1.eusc-pure.cloud",
}


@dataclass(frozen=True, slots=True)
class Hosts:
    environment: str
    api_url: str
    login_url: str


def normalise_environment(name: str) -> str:
    """Return the environment domain for a domain or region name; ValueError if unknown."""
    key = name.strip().lower()
    if key == SANDBOX:
        return SANDBOX
    if key in ENVIRONMENTS.values():
        return key
    region = key.replace("_", "-")
    if region in ENVIRONMENTS:
        return ENVIRONMENTS[region]
    raise ValueError(
        f"unknown environment '{name}'; use 'sandbox', an environment such as "
        "'mypurecloud.com' or 'usw2.pure.cloud', or a region such as 'us-west-2'"
    )


def hosts_for(environment: str) -> Hosts:
    """API and login base URLs of a (non-sandbox) environment."""
    domain = normalise_environment(environment)
    if domain == SANDBOX:
        raise ValueError("the sandbox's URLs are known only once it is running")
    return Hosts(domain, f"https://api.{domain}", f"https://login.{domain}")
