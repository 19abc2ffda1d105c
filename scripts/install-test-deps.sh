#!/usr/bin/env bash
# Install the system packages the test suite drives for real, from Debian's packages:
# Chromium for the browser tests (tests/ui; Playwright drives it by executable path, no
# browser download), OpenLDAP's slapd for the LDAP sign-in tests and setfacl (acl) for the
# agent's --task-user tests. Needs root and apt
# when something is missing; does nothing when everything is there.
set -euo pipefail
missing=()
if ! command -v chromium >/dev/null 2>&1 && [ -z "${TUNEHOUSE_CHROMIUM:-}" ]; then
    missing+=(chromium)
fi
if [ ! -x /usr/sbin/slapd ]; then
    missing+=(slapd ldap-utils)
fi
if ! command -v setfacl >/dev/null 2>&1; then  # the agent's --task-user tests
    missing+=(acl)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: missing ${missing[*]}: install them (Debian: apt-get install" \
         "${missing[*]}); for Chromium you may instead point TUNEHOUSE_CHROMIUM at a binary" >&2
    exit 1
fi
echo "install-test-deps: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null \
         && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
# Debian starts a system slapd on install: the tests run their own, on a free port
if command -v service >/dev/null 2>&1; then service slapd stop >/dev/null 2>&1 || true; fi
