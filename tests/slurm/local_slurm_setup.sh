#!/usr/bin/env bash
# Stand up a single-node SLURM on localhost for tests/slurm (Debian 12, as root, no systemd needed).
# Adapted from the team notes (local-slurm-setup.sh). Usage:
#     SLURM_CI_DIR=/tmp/slurm-ci tests/slurm/local_slurm_setup.sh     # stop: tests/slurm/local_slurm_stop.sh
# State, logs and the PID files of the daemons THIS script started live in $SLURM_CI_DIR. The config goes
# to /etc/slurm/{slurm,gres}.conf: SLURM_CONF alone is not enough, because the Snakemake job step drops
# SLURM_* variables before its inner `srun`. An existing slurm.conf is kept in $SLURM_CI_DIR and put back
# by local_slurm_stop.sh.
# Exit status 77: SLURM cannot be set up here (not root, no apt and no SLURM installed) -> tests skip.
set -euo pipefail
S=${SLURM_CI_DIR:-/tmp/slurm-ci}
MARK="# written by popcen tests/slurm/local_slurm_setup.sh"

if [ "$(id -u)" != 0 ]; then echo "local SLURM needs root (munged/slurmd run as root)"; exit 77; fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  if ! command -v apt-get >/dev/null; then echo "SLURM is not installed and there is no apt-get"; exit 77; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
fi
for port in 6817 6818; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use: another SLURM runs here; stop it first"; exit 1
  fi
done

mkdir -p "$S/ctld" "$S/d" "$S/log" /etc/slurm
for f in slurm.conf gres.conf; do
  if [ -e "/etc/slurm/$f" ] && ! grep -qF "$MARK" "/etc/slurm/$f"; then mv "/etc/slurm/$f" "$S/$f.orig"; fi
done
touch "$S/wrote-config"                          # local_slurm_stop.sh removes only config we wrote
# munge: the key comes from the package's postinst; start the daemon unless one already answers.
[ -s /etc/munge/munge.key ] || mungekey --create --force
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  for i in $(seq 20); do [ -s /run/munge/munged.pid ] && break; sleep 0.2; done
  cp /run/munge/munged.pid "$S/munged.pid"      # ours to stop
  munge -n | unmunge >/dev/null
fi

# The node claims 32 CPUs, 256 GB and 2 GPUs whatever the machine has (SlurmdParameters=config_overrides):
# the SLURM profile's real cluster-sized requests (8 CPUs per GPU, 64 GB) are then accepted unchanged.
# Partitions "cpu" and "gpu" are the names profiles/slurm/config.yaml uses.
cat > /etc/slurm/slurm.conf <<CONF
$MARK
ClusterName=popcenci
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/d
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# squeue must still see a finished job when the plugin asks: MinJobAge >= 3 x init-seconds-before-status-checks
MinJobAge=300
KillWait=5
SchedulerParameters=sched_interval=2
GresTypes=gpu
NodeName=localhost CPUs=32 RealMemory=256000 Gres=gpu:fake:2 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP
CONF
# Two fake GPUs (empty files) so that --gpus / --gres=gpu requests are accepted; there is no device.
touch "$S/fakegpu0" "$S/fakegpu1"
printf '%s\nAutoDetect=off\nNodeName=localhost Name=gpu Type=fake File=%s/fakegpu[0-1]\n' "$MARK" "$S" \
  > /etc/slurm/gres.conf

/usr/sbin/slurmctld
/usr/sbin/slurmd -N localhost
for i in $(seq 60); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 0.5; done
sinfo
srun -t 1 hostname
