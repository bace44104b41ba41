#!/usr/bin/env bash
# Pre-training on a synthetic set across GPUs and nodes: torchrun on every node of the allocation
# (one Slurm task per node), rendezvous on the first node, one process per GPU, NCCL.
# `python -m synthrec_core.pretraining` splits each global batch evenly over all ranks, writes a
# checkpoint every epoch and resumes from it when the job is requeued with the same OUT.
#
#   mkdir -p logs
#   sbatch --nodes=4 scripts/slurm/pretrain.sh CONFIG.json SET_DIR OUT_DIR [--size 224 --mode RGB ...]
#   # CONFIG.json: PretrainConfig fields, e.g. from
#   #   python -c "from synthrec_core.pretraining import PretrainConfig; import json; \
#   #              print(json.dumps(PretrainConfig.preset('paper-agnostic-resnet50', device='cuda').to_dict()))"
#
# Outside Slurm (no SLURM_JOB_NODELIST) it runs on this machine alone (--standalone).
#
#SBATCH --job-name=synthrec-pretrain
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=72:00:00
#SBATCH --requeue
#SBATCH --output=logs/%x-%j.out
#
# Environment (all optional): SYNTHREC_PYTHON (default .venv/bin/python), GPUS (processes per node;
# default SLURM_GPUS_ON_NODE, else nvidia-smi's count, else 1), RDZV_PORT (default 29500).
set -euo pipefail
CFG=${1:?usage: pretrain.sh CONFIG.json SET_DIR OUT_DIR [extra arguments of python -m synthrec_core.pretraining]}
SET=${2:?usage: pretrain.sh CONFIG.json SET_DIR OUT_DIR}
OUT=${3:?usage: pretrain.sh CONFIG.json SET_DIR OUT_DIR}
shift 3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${SYNTHREC_PYTHON:-$ROOT/.venv/bin/python}
if [ -z "${GPUS:-}" ]; then
  GPUS=${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)}
  [ "${GPUS:-0}" -ge 1 ] 2>/dev/null || GPUS=1
fi
ARGS=(-m synthrec_core.pretraining --config "$CFG" --set "$SET" --out "$OUT" "$@")
if [ -n "${SLURM_JOB_NODELIST:-}" ]; then
  HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
  NODES=${SLURM_NNODES:-1}
  echo "pretrain: $NODES node(s) x $GPUS GPU(s), rendezvous $HEAD:${RDZV_PORT:-29500}" >&2
  exec srun --ntasks-per-node=1 "$PY" -m torch.distributed.run --nnodes "$NODES" --nproc_per_node "$GPUS" \
    --rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$HEAD:${RDZV_PORT:-29500}" "${ARGS[@]}"
fi
echo "pretrain: this machine, $GPUS process(es)" >&2
exec "$PY" -m torch.distributed.run --standalone --nproc_per_node "$GPUS" "${ARGS[@]}"
