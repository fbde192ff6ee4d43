#!/bin/bash
# How the *_cuda.csv result tables were made: one `nar run` per line of a job list (name, dataset,
# method, seed, total queries of nar_core/budget.py, extra --set overrides), PAR at a time on one GPU,
# until a deadline. (The run spelled each budget out as --set overrides; `--budget N` gives the same
# configs, which tests/test_report.py checks against the config hashes of the *_cuda.csv rows.)
# The GPU machine of that session had no network and no Ray, so the rows went through `nar run`
# (the experiment every sweep trial runs), not through sweeps/*.py; each line is one grid row of
# the registry's table (`python sweeps/<name>.py --table ... --print-spec`) at one seed.
#
#   OUT=gpu_out PAR=15 BUDGET_S=535 bash results/specs/gpu_batch.sh results/specs/gpu_batch_1.tsv
#
# Each job writes OUT/runs/<name>/results.csv (seeds of one name share it; `nar run` merges them
# under its lock file) and OUT/logs/<name>_s<seed>.log; OUT/runs.tgz holds both at the end.
# DEV=cpu runs the same list on the CPU. Before the jobs: the ranker step on the GPU and on one
# CPU thread (benchmarks/ranker_step.py); SKIPBENCH=1 leaves it out.
# The seed column may be seeds as `nar run --seeds` reads them (0-19, 0-2,7: as make_jobs.py writes them): one `nar run`
# per line then, and PACK=N (default 1) trains its seeds N at a time as one packed model
# (`nar run --pack`: each seed's row is the row it gets alone). Memory grows with the pack: NAR
# takes about 0.7 GB per packed run at batch 50 (NARQ2T about a twentieth; docs/throughput.md),
# so PAR x PACK NAR runs must fit the GPU. A line may also carry --space and --preset (a --space
# there overrides the nb201 below).
set -u
JOBS=${1:?usage: gpu_batch.sh JOBS.tsv}
T0=$(date +%s); DEADLINE=$((T0 + ${BUDGET_S:-535})); P=${PAR:-15}; DEV=${DEV:-cuda}
OUT=${OUT:-gpu_out}; mkdir -p "$OUT/runs" "$OUT/logs"; OUT=$(cd "$OUT" && pwd)
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
exec > >(tee "$OUT/log.txt") 2>&1
[ "$DEV" = cpu ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__, torch.version.cuda)"
[ -n "${SKIPBENCH:-}" ] || { echo "== ranker step, $DEV"; timeout 90 python3 benchmarks/ranker_step.py --device "$DEV" --steps 50
  echo "== ranker step, cpu 1 thread"; timeout 60 python3 benchmarks/ranker_step.py --device cpu --threads 1 --steps 3; }
echo "== jobs from $(( $(date +%s) - T0 )) s, $P at a time, deadline $((DEADLINE - T0)) s"
job() {  # name dataset method seed total-queries [--set ...]
  local name=$1 ds=$2 method=$3 seed=$4 b=$5; shift 5
  local left=$((DEADLINE - $(date +%s))); [ $left -gt 20 ] || { echo "skip $name $seed"; return 1; }
  local t=$(date +%s)
  timeout -k 15 -s INT $left python3 -m nar_core.cli run --space nb201 --dataset "$ds" --method "$method" --seeds "$seed" \
    --pack "${PACK:-1}" --budget "$b" --set num_threads=1 "$@" --device "$DEV" --no-progress --out "$OUT/runs/$name" > "$OUT/logs/${name}_s$seed.log" 2>&1
  local rc=$?
  echo "$name seed $seed rc $rc $(( $(date +%s) - t )) s (at $(( $(date +%s) - T0 )) s)"
  return $rc
}
export -f job; export DEADLINE T0 OUT DEV
sed 's/[[:space:]]*$//; s/\t/ /g' "$JOBS" | xargs -P "$P" -L 1 bash -c 'job "$@"' _
rc=$?  # xargs: 0 when every job finished, 123 when one failed or was skipped at the deadline
echo "== jobs end at $(( $(date +%s) - T0 )) s, exit $rc"
tar czf "$OUT/runs.tgz" -C "$OUT" runs logs
exit $rc
