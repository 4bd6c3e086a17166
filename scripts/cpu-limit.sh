#!/bin/bash
# cpu-limit.sh PERCENT CMD [ARGS...]: runs CMD (and every process it starts) with the CPU
# limited to PERCENT of one core, as a host that slowed down would leave it; for measuring the
# server past its capacity on demand (README, "Overload, and counting exact through it").
# Needs root and the cgroup CPU controller (v1 cpu.cfs_quota_us, or v2 cpu.max).
set -euo pipefail
if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 10 ]; then
	echo "usage: $0 PERCENT CMD [ARGS...]   (PERCENT of one core, at least 10; 150: 1.5 cores)" >&2
	exit 2
fi
pct=$1
shift
if [ -d /sys/fs/cgroup/cpu ]; then # v1
	cg=/sys/fs/cgroup/cpu/ebrcs-limit-$$
	mkdir "$cg"
	echo 100000 >"$cg/cpu.cfs_period_us"
	echo $((pct * 1000)) >"$cg/cpu.cfs_quota_us"
	root=/sys/fs/cgroup/cpu
else # v2
	cg=/sys/fs/cgroup/ebrcs-limit-$$
	mkdir "$cg"
	echo "$((pct * 1000)) 100000" >"$cg/cpu.max"
	root=/sys/fs/cgroup
fi
echo $$ >"$cg/cgroup.procs"
set +e
"$@"
rc=$?
echo $$ >"$root/cgroup.procs"
rmdir "$cg" 2>/dev/null
exit $rc
