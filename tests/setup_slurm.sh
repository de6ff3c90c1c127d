#!/usr/bin/env bash
# Install what tests/workflow/test_slurm.py needs: a single-node SLURM (slurmctld, slurmd, the client
# commands) and munge, from Debian/Ubuntu packages. `make test` runs this before the workflow tests.
# The tests configure and start the cluster themselves, in a temporary folder (SLURM_CONF); nothing
# here is configured or started. Without root or apt-get this only says why it skips, and the SLURM
# tests then skip with the same reason (in CI, CI=true, they fail instead).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if have slurmctld && have slurmd && have sbatch && have srun && have munged && have munge; then
    echo "setup_slurm: SLURM and munge are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup_slurm: skipped: SLURM is not installed and installing it needs root" \
        "(apt-get install ${PACKAGES[*]}); the SLURM tests will skip"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_slurm: skipped: SLURM is not installed and there is no apt-get to install it"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
echo "setup_slurm: installed ${PACKAGES[*]}"
