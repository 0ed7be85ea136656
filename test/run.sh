#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need when it is
# absent, then runs the whole suite and ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nft >/dev/null || need+=(nftables)
command -v iptables-restore >/dev/null || need+=(iptables)
command -v ipset >/dev/null || need+=(ipset)
command -v firewall-offline-cmd >/dev/null || need+=(firewalld)
command -v ip >/dev/null || need+=(iproute2)
command -v strace >/dev/null || need+=(strace)
[ -x /usr/bin/time ] || need+=(time)
command -v chattr >/dev/null || need+=(e2fsprogs)
command -v git >/dev/null || need+=(git)
# netfilter-persistent's boot plugins, run by the iptables boot test.
[ -x /usr/share/netfilter-persistent/plugins.d/15-ip4tables ] || need+=(iptables-persistent)
[ -x /usr/share/netfilter-persistent/plugins.d/10-ipset ] || need+=(ipset-persistent)
# NFLOG capture (tcpdump -i nflog:N) for the drop-logging tests.
command -v tcpdump >/dev/null || need+=(tcpdump)
# Raw-packet probes of verify and the transports tests (ESP, GRE, SCTP, ICMP).
command -v python3 >/dev/null || need+=(python3)
# JUnit output of `portcullis test`, validated against its XSD.
command -v xmllint >/dev/null || need+=(libxml2-utils)
# The Ansible rollout test: ansible-playbook, and sshd run in namespaces.
command -v ansible-playbook >/dev/null || need+=(ansible-core)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
# The pre-commit hooks test runs the real pre-commit.
command -v pre-commit >/dev/null || need+=(pre-commit)
# The review page (portcullis report) is rendered by headless Chromium.
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  # openssh-server would start sshd on this machine: a policy-rc.d that
  # denies every service start (exit 101) while installing, removed
  # afterwards; one already there (Docker images ship one) stays as it is.
  policy=/usr/sbin/policy-rc.d
  ours=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# test/run.sh: no service starts while it installs test tools\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && ours=1
  fi
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  installed=$?
  [ -n "$ours" ] && $SUDO rm -f "$policy"
  [ "$installed" -eq 0 ] || { echo "could not install ${need[*]}"; echo "0 passed, 1 failed"; exit 1; }
fi

npm ci --no-audit --no-fund || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
npm test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# uvu prints "Total: N", "Passed: N", "Skipped: N"; CI reads only our line.
total=$(sed -n 's/\x1b\[[0-9;]*m//g; s/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
passed=$(sed -n 's/\x1b\[[0-9;]*m//g; s/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
skipped=$(sed -n 's/\x1b\[[0-9;]*m//g; s/^ *Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
rm -f "$log"
if [ -z "$total" ] || [ -z "$passed" ]; then
  echo "test run did not finish (exit $status)"
  echo "0 passed, 1 failed"
  exit 1
fi
# uvu's Total counts run tests only (a skipped test is in Skipped, not Total).
failed=$((total - passed))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
