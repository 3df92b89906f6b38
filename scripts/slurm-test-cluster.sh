#!/usr/bin/env bash
# Start or stop the single-host Slurm cluster the tests use, for trying the slurm executor by hand
# (with slurmdbd + a private MariaDB, so sacct works, when slurmdbd and mariadb-server are installed).
#   scripts/slurm-test-cluster.sh start [DIR]   # then: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-test-cluster.sh stop [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m cpnet.executors.slurm_testbed "${1:?start|stop}" "${2:-.cpnet/slurm-test}"
