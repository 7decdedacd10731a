# OpenMPI (mpirun) and mpi4py, for the distributed-job tests (tests/test_job_launch.py: mpirun -n 3).
# apt's temporary files go to /var/tmp: /tmp is not writable for apt's key helper on these machines.
if ! command -v mpirun >/dev/null 2>&1; then
    TMPDIR=/var/tmp apt-get update -qq && \
        TMPDIR=/var/tmp DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev >/dev/null
fi
"$VENV/bin/python" -c "import mpi4py" 2>/dev/null || "$VENV/bin/pip" install --quiet mpi4py
