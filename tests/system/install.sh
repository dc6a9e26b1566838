#!/bin/sh
# Installs the Debian packages the tests drive, for each COMMAND:PACKAGE whose command is not on PATH:
# chromium for the report's browser check, slurm-wlm and munge for the one-node SLURM test.
# Runs apt-get directly as root, through sudo otherwise; one line says what to do when neither can.
set -e
PATH="$PATH:/usr/sbin:/sbin"  # munged and slurmd live in sbin
missing=""
for pair in "$@"; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then sudo=""
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then sudo="sudo"
else echo "error: the tests need Debian's$missing: install them as root" >&2; exit 1; fi
echo "installing$missing with ${sudo:+sudo }apt-get"
apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0"
$apt update
# shellcheck disable=SC2086
$apt install -y --no-install-recommends $missing >/dev/null
for pair in "$@"; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || {
		echo "error: ${pair%%:*} is still not on PATH after installing ${pair#*:}" >&2; exit 1; }
done
