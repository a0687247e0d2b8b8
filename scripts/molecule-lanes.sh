#!/usr/bin/env bash
# Run Molecule scenarios in parallel lanes (what `make molecule` calls).
#
#   scripts/molecule-lanes.sh LANES "stack:bookworm:1 stack:trixie:0 app:bookworm:0 ..."
#
# Each job is scenario:debian:faults. Jobs of the same scenario share its
# container names and Molecule state, so they always run one after another in
# the same lane; lanes take whole scenarios, longest first (the multi-host
# `stack` scenario is the long one, then `dr`). The hosts of a scenario mostly wait on
# apt, systemd and PostgreSQL, so two lanes on two cores finish well before
# one lane would (docs/PERFORMANCE.md, "make test").
#
# A job's output goes to build/molecule/<scenario>-<debian>.log and is printed
# whole when the job ends, never interleaved with the other lane. After a
# failure, no lane starts another job; the exit status is 1 and the failed
# jobs are named at the end.
set -euo pipefail

lanes=${1:?usage: molecule-lanes.sh LANES "scenario:debian:faults ..."}
jobs=${2:?usage: molecule-lanes.sh LANES "scenario:debian:faults ..."}
molecule=${MOLECULE:-molecule}
logdir=${MOLECULE_LOGDIR:-build/molecule}
case $lanes in '' | *[!0-9]* | 0) echo "molecule-lanes: LANES must be a positive number, got '$lanes'" >&2; exit 2 ;; esac

rm -rf "$logdir" && mkdir -p "$logdir"
printlock=$logdir/.print.lock
failed=$logdir/.failed
: >"$printlock"

# Group the jobs by scenario, keeping their order.
declare -A by_scenario=()
order=()
for job in $jobs; do
  IFS=: read -r s d f <<<"$job"
  if [ -z "$s" ] || [ -z "$d" ] || [ -z "$f" ]; then
    echo "molecule-lanes: job '$job' is not scenario:debian:faults" >&2
    exit 2
  fi
  [ -n "${by_scenario[$s]:-}" ] || order+=("$s")
  by_scenario[$s]="${by_scenario[$s]:-} $job"
done

# Deal the scenarios to the lanes, longest first, each to the lane with the
# least work so far. The weights are seconds per job measured on 2 cores
# (docs/PERFORMANCE.md, "make test"); a scenario not listed counts 300 s.
declare -A weight=([stack]=1240 [dr]=900 [backup]=600 [app]=330 [nginx]=250 [postgresql]=240 [redis]=170)
declare -a lane_jobs=() lane_load=()
for ((i = 0; i < lanes; i++)); do lane_jobs[i]=""; lane_load[i]=0; done
scenario_load() {
  local n=0 job
  for job in ${by_scenario[$1]}; do n=$((n + ${weight[$1]:-300})); done
  echo "$n"
}
mapfile -t dealt < <(for s in "${order[@]}"; do echo "$(scenario_load "$s") $s"; done | sort -k1,1nr -k2,2 | cut -d' ' -f2)
for s in "${dealt[@]}"; do
  best=0
  for ((i = 1; i < lanes; i++)); do
    [ "${lane_load[i]}" -lt "${lane_load[best]}" ] && best=$i
  done
  lane_jobs[best]="${lane_jobs[best]}${by_scenario[$s]}"
  lane_load[best]=$((lane_load[best] + $(scenario_load "$s")))
done

run_lane() {
  local lane=$1 job s d f log start rc secs
  for job in ${lane_jobs[lane]}; do
    [ -e "$failed" ] && return 0
    IFS=: read -r s d f <<<"$job"
    log=$logdir/$s-$d.log
    start=$(date +%s)
    rc=0
    OPSBOOK_FAULTS=$f OPSBOOK_DEBIAN=$d PYTHONUNBUFFERED=1 \
      "$molecule" test -s "$s" >"$log" 2>&1 </dev/null || rc=$?
    secs=$(($(date +%s) - start))
    [ "$rc" -eq 0 ] || echo "$s ($d): rc $rc after $secs s, log $log" >>"$failed"
    {
      flock 9
      echo "=== molecule test -s $s (OPSBOOK_DEBIAN=$d, lane $lane) ==="
      cat "$log"
      if [ "$rc" -eq 0 ]; then
        echo "=== $s ($d) passed in $secs s ==="
      else
        echo "=== $s ($d) FAILED (rc $rc) in $secs s ==="
      fi
    } 9>"$printlock"
  done
}

start=$(date +%s)
pids=()
for ((i = 0; i < lanes; i++)); do
  [ -n "${lane_jobs[i]// /}" ] || continue
  echo "molecule-lanes: lane $i:${lane_jobs[i]}"
  run_lane "$i" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

if [ -e "$failed" ]; then
  echo "molecule-lanes: FAILED after $(($(date +%s) - start)) s:" >&2
  sed 's/^/  /' "$failed" >&2
  exit 1
fi
echo "molecule-lanes: every scenario passed in $(($(date +%s) - start)) s"
