#!/usr/bin/env bash
# deps.sh installs the system packages the tests need and a fresh machine
# (Go, gcc, Debian's apt) lacks: libssl-dev, for the TPM simulator
# (go-tpm-tools/simulator, built with cgo) that the TPM sealer's tests run
# against. It does nothing when they are already installed.
set -euo pipefail
missing=()
for pkg in libssl-dev; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
as_root=
[[ $(id -u) -eq 0 ]] || as_root=sudo
echo "installing ${missing[*]} (needed by the TPM sealer's tests)"
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
