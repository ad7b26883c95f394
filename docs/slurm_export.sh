#!/bin/bash
# cnninterp-export on a SLURM allocation: Ray's head on the first node, a Ray worker on each
# other node, then the export joins that cluster (--cluster auto) from the head node.
#
#   sbatch docs/slurm_export.sh MODEL.safetensors DATA_DIR OUT_DIR
#
# Adapt the #SBATCH lines to your site. Every node needs cnninterp[cluster] in the same
# environment (activate it below); no shared filesystem is needed for the model or the
# images (they travel through Ray's object store), only OUT_DIR on the head node.
#SBATCH --job-name=cnninterp-export
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
set -euo pipefail

MODEL=${1:?usage: sbatch slurm_export.sh MODEL DATA_DIR OUT_DIR}
DATA=${2:?usage: sbatch slurm_export.sh MODEL DATA_DIR OUT_DIR}
OUT=${3:?usage: sbatch slurm_export.sh MODEL DATA_DIR OUT_DIR}
# source ~/venvs/cnninterp/bin/activate

nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
head=${nodes[0]}
head_ip=$(srun --nodes=1 --ntasks=1 -w "$head" hostname --ip-address | awk '{print $1}')
port=6379

# --block keeps each `ray start` in the foreground of its srun step, so SLURM owns (and at
# the end of the job, stops) every Ray process.
srun --nodes=1 --ntasks=1 -w "$head" \
    ray start --head --node-ip-address="$head_ip" --port=$port \
    --num-cpus="$SLURM_CPUS_PER_TASK" --num-gpus="${SLURM_GPUS_ON_NODE:-0}" \
    --include-dashboard=false --block &
sleep 15
for node in "${nodes[@]:1}"; do
    srun --nodes=1 --ntasks=1 -w "$node" \
        ray start --address="$head_ip:$port" \
        --num-cpus="$SLURM_CPUS_PER_TASK" --num-gpus="${SLURM_GPUS_ON_NODE:-0}" --block &
done
sleep 15

# The driver runs here, on the head node; a rerun of this script resumes (complete outputs
# are skipped). Exit 4: some images failed (listed in the log); 0: all written.
cnninterp-export --cluster "$head_ip:$port" \
    --model "$MODEL" -o "$OUT" "$DATA"
