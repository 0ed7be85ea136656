#!/usr/bin/env bash
# Flake hunt: runs the CI command N times in a row in a fresh clone of HEAD
# while a second clone runs `npm test` in a loop beside it (a loaded 2-core
# machine). Not part of CI; takes about 4 minutes a run. Usage:
#   bash tools/flake-check.sh [N]
set -u
N=${1:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
d=$(mktemp -d)
git clone -q "$repo" "$d/a" && git clone -q "$repo" "$d/b" || exit 1
(cd "$d/b" && npm ci --no-audit --no-fund >/dev/null 2>&1; while [ ! -f "$d/stop" ]; do npm test >/dev/null 2>&1; done) &
bg=$!
cd "$d/a" || exit 1
failed=0
for i in $(seq 1 "$N"); do
  start=$(date +%s)
  CI=true bash .ci/run >"$d/run-$i.log" 2>&1
  rc=$?
  echo "run $i: exit $rc, $(($(date +%s) - start)) s, $(tail -1 "$d/run-$i.log")"
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    sed 's/\x1b\[[0-9;]*m//g' "$d/run-$i.log" | grep -A8 'FAIL' | head -40
  fi
done
touch "$d/stop"
wait $bg
echo "$((N - failed)) of $N runs passed; logs in $d"
[ $failed -eq 0 ]
