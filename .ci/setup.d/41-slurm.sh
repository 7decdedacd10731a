# Slurm (slurmctld, slurmd, srun, sbatch) and munge, for tests/test_job_slurm.py: the tests start
# their own single-node cluster (tests/slurm_cluster.py); nothing is configured system-wide here.
if ! command -v slurmctld >/dev/null 2>&1 && [ ! -x /usr/sbin/slurmctld ]; then
    TMPDIR=/var/tmp apt-get update -qq && \
        TMPDIR=/var/tmp DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
