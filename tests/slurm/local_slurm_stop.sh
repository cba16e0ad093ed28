#!/usr/bin/env bash
# Stop the daemons that local_slurm_setup.sh started (by the PIDs it recorded in $SLURM_CI_DIR)
# and remove the config it wrote.
S=${SLURM_CI_DIR:-/tmp/slurm-ci}
for p in "$S/slurmd.pid" "$S/slurmctld.pid" "$S/munged.pid"; do
  [ -s "$p" ] || continue
  pid=$(cat "$p")
  kill "$pid" 2>/dev/null || continue
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$p"
done
# Put back a slurm.conf / gres.conf that the setup script moved aside (only if this state dir wrote ours).
[ -e "$S/wrote-config" ] || exit 0
rm -f "$S/wrote-config"
for f in slurm.conf gres.conf; do
  if [ -e "$S/$f.orig" ]; then mv "$S/$f.orig" "/etc/slurm/$f"
  elif grep -qsF "# written by popcen tests/slurm/local_slurm_setup.sh" "/etc/slurm/$f"; then rm -f "/etc/slurm/$f"; fi
done
