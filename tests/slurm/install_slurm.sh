#!/usr/bin/env bash
# Install Debian's slurmctld, slurmd, slurm-client and munge when they are missing (needs root
# and apt-get). setup_cluster.sh calls it; CI starts it early, in the background, so that the
# download and unpacking overlap the tests instead of preceding the SLURM test.
set -euo pipefail

if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    exit 0
fi
echo "install_slurm: installing Debian's slurmctld slurmd slurm-client munge" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
