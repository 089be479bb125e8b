"""Strict patterns for every value that can reach a playbook, a shell or a file name.

Checked once at the boundary (CLI options, inventory, facts, plan files), so a
release like ``29.1.0;rm -rf /`` never gets as far as a root ``shell`` task, and a
cluster name never walks out of its directory. The playbooks still quote what a
shell sees (``| quote``): two locks on one door.
"""
from __future__ import annotations

import re

from upgrader.errors import ConfigError

MAX_NAME = 63             # a DNS label; inventory host names and cluster names fit
MAX_VERSION = 64
MAX_PACKAGE = 100

# A release: dotted numbers with an optional suffix of letters/digits (29.1.0, 4.0.5, 10.11.19).
RELEASE = re.compile(r"^[0-9]+(\.[0-9]+){0,3}([a-z0-9]{1,12})?$")
# A Debian version: [epoch:]upstream[-revision] (Debian policy 5.6.12): 1:10.11.19-0+deb12u1.
DEBIAN_VERSION = re.compile(r"^([0-9]+:)?[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$")
# A Debian package name (Debian policy 5.6.1).
PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.\-]+$")
# Inventory host, node and cluster names: letters, digits, '.', '_', '-'; no '/', no spaces.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def release(value: object, component: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_VERSION or not RELEASE.fullmatch(value):
        raise ConfigError(f"target version {shown(value)} for {component} is not a release "
                          "(digits and dots, e.g. 29.1.0)")
    return value


def package_spec(value: object) -> str:
    """``name`` or ``name=version`` (apt's own pin syntax)."""
    if not isinstance(value, str) or len(value) > MAX_PACKAGE + MAX_VERSION + 1:
        raise ConfigError(f"package {shown(value)} is too long or not text")
    name, sep, version = value.partition("=")
    if len(name) > MAX_PACKAGE or not PACKAGE.fullmatch(name):
        raise ConfigError(f"package name {shown(value if len(name) <= MAX_PACKAGE else name)} is not a Debian package name")
    if sep and (len(version) > MAX_VERSION or not DEBIAN_VERSION.fullmatch(version)):
        raise ConfigError(f"package version {shown(version)} for {name} is not a Debian version")
    return value


def package_name(value: object) -> str:
    """A bare Debian package name (a key of a target file's ``packages:``)."""
    if not isinstance(value, str) or len(value) > MAX_PACKAGE or not PACKAGE.fullmatch(value):
        raise ConfigError(f"package name {shown(value)} is not a Debian package name")
    return value


def debian_version(value: object, package: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_VERSION or not DEBIAN_VERSION.fullmatch(value):
        raise ConfigError(f"package version {shown(value)} for {package} is not a Debian version")
    return value


def package_target(value: object, package: str) -> str:
    """An exact Debian version, or ``security``: the newest update of a *-security archive."""
    if value == "security":
        return value
    if not isinstance(value, str) or len(value) > MAX_VERSION or not DEBIAN_VERSION.fullmatch(value):
        raise ConfigError(f"package target {shown(value)} for {package} is not a Debian version "
                          "(e.g. 1:10.11.19-0+deb12u1) or 'security'")
    return value


def service_name(value: object) -> str:
    """A service a plan restarts: an init script name (mariadb, rabbitmq-server, ssh)."""
    return name(value, "service name")


def name(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME or not NAME.fullmatch(value):
        raise ConfigError(f"{what} {shown(value)} is not a valid name (letters, digits, '.', '_', "
                          f"'-'; at most {MAX_NAME} characters)")
    return value


def cluster_name(value: object) -> str:
    return name(value, "cluster name")


def node_name(value: object) -> str:
    return name(value, "node name")
