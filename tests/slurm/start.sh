#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the tests (root only; Debian's slurm-wlm and munge).
#   bash tests/slurm/start.sh [STATE_DIR]    prints the cluster's state folder; `bash tests/slurm/start.sh stop` stops it
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ours() { [ ! -e /etc/slurm/slurm.conf ] || grep -q '^ClusterName=drstudy-test$' /etc/slurm/slurm.conf; }  # never touch a real cluster's configuration
if [ "${1:-}" = stop ]; then ours && { pkill -x slurmd || true; pkill -x slurmctld || true; }; exit 0; fi
state="${1:-/tmp/dr_study-slurm}"
[ "$(id -u)" = 0 ] || { echo "start.sh: needs root" >&2; exit 3; }
ours || { echo "start.sh: /etc/slurm/slurm.conf belongs to another cluster: not touching it" >&2; exit 3; }
command -v slurmctld >/dev/null || { echo "start.sh: slurmctld not installed (apt-get install slurm-wlm munge)" >&2; exit 3; }
mkdir -p "$state/ctld" "$state/d" /etc/slurm /run/munge
host=$(hostname -s); cpus=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
sed -e "s|@HOST@|$host|g" -e "s|@STATE@|$state|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM@|$mem|g" "$here/slurm.conf.in" > /etc/slurm/slurm.conf
[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true; chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
pkill -x slurmd || true; pkill -x slurmctld || true  # a fresh cluster with this configuration
while pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; do sleep 0.2; done
slurmctld -i; slurmd
for _ in $(seq 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then echo "$state"; exit 0; fi
  scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true; sleep 1
done
echo "start.sh: the node did not become idle; see $state/slurmctld.log and $state/slurmd.log" >&2; exit 4
