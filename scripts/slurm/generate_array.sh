#!/usr/bin/env bash
# A Slurm job array that makes synthetic sets: array task i makes the set of line i+1 of JOBS_TXT
# (job files written by `synthrec cost NOTEBOOK --profile paper --write-jobs DIR`), with one process
# per GPU of its node (torchrun; the engine gives rank r every WORLD-th image, so the set is the
# same whatever the number of GPUs, and a task that is killed resumes where it stopped).
#
#   .venv/bin/synthrec cost 01_zero_shot --profile paper --write-jobs jobs/01_zero_shot
#   mkdir -p logs
#   sbatch --array=0-$(( $(wc -l < jobs/01_zero_shot/jobs.txt) - 1 ))%16 scripts/slurm/generate_array.sh jobs/01_zero_shot/jobs.txt
#
# Then run the notebook (`synthrec run 01_zero_shot --profile paper`) with the same SYNTHREC_CACHE:
# its cells find every image in the engine's image store and generate nothing.
#
#SBATCH --job-name=synthrec-generate
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=16
#SBATCH --time=24:00:00
#SBATCH --output=logs/%x-%A_%a.out
#
# Environment (all optional):
#   SYNTHREC_CACHE   shared storage for sets and the image store; the same for every task and the notebook run
#   SYNTHREC_PYTHON  the venv's python (default: .venv/bin/python of this checkout)
#   GPUS             processes on the node (default: SLURM_GPUS_ON_NODE, else nvidia-smi's count, else 1)
#   SYNTHREC_DEVICE  cuda (default; rank r uses cuda:LOCAL_RANK) or cpu (gloo ranks, for a dry run)
set -euo pipefail
JOBS=${1:?usage: generate_array.sh JOBS_TXT  (run as a Slurm array task)}
TASK=${SLURM_ARRAY_TASK_ID:?not a Slurm array task: set SLURM_ARRAY_TASK_ID (0-based line of JOBS_TXT)}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${SYNTHREC_PYTHON:-$ROOT/.venv/bin/python}
JOB=$(sed -n "$((TASK + 1))p" "$JOBS")
[ -n "$JOB" ] || { echo "generate_array.sh: $JOBS has no line $((TASK + 1))" >&2; exit 2; }
if [ -z "${GPUS:-}" ]; then
  GPUS=${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
  [ "${GPUS:-0}" -ge 1 ] 2>/dev/null || GPUS=1
fi
DEVICE=${SYNTHREC_DEVICE:-cuda}
echo "task $TASK: $JOB on $GPUS process(es), device $DEVICE, cache ${SYNTHREC_CACHE:-default}" >&2
# each rank is started through bash so that it can name its own GPU (cuda:$LOCAL_RANK)
RANK_DEVICE=$([ "$DEVICE" = cuda ] && echo 'cuda:$LOCAL_RANK' || echo "$DEVICE")
exec "$PY" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" --no-python \
  bash -c "exec \"$PY\" -m synthrec_core.cli generate --job \"$JOB\" --device $RANK_DEVICE --no-progress"
