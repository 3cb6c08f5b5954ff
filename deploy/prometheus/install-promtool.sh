#!/usr/bin/env bash
# promtool for tests/test_observability_deploy.py: Debian's prometheus package provides it (the server it also
# installs is not started in a container without an init system). Needs root, as CI has.
set -euo pipefail
command -v promtool >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool
