#!/usr/bin/env bash
# What every node of cluster/cluster-onprem.yaml and cluster/cluster.yaml runs (after `ray up` has
# copied this repository to ~/nar/repo). The settings come from ~/nar/cluster.env, which the YAML's
# initialization_commands write from the block at the top of the YAML: edit them there.
#
#   node.sh setup                  Python environment (venv + torch + this package, or an existing one), checks
#   node.sh start ray start ARGS   stop the Ray node.sh started here before, then run `ray start ARGS` with
#                                  --node-ip-address, the extra options of the settings (HEAD_RAY_ARGS with
#                                  --head, else WORKER_RAY_ARGS), --num-gpus=0 on a CPU node, and --block;
#                                  returns once Ray runs (or fails with the end of its log)
#   node.sh stop                   stop the Ray that node.sh started here, and nothing else
#   node.sh info                   this node's address, role and environment
#
# Ray runs as `ray start ... --block` in its own process group (setsid); the group id is kept in
# ~/nar/ray.pgid. `stop` signals that group only: other Ray instances of the same user on the
# machine are left alone (a bare `ray stop` would stop all of them).
#
# The node's address is the one `ray up` (or the head's autoscaler) reached it at over SSH: the
# address written in the YAML (server side of $SSH_CONNECTION). Ray is started with
# --node-ip-address set to it, so Ray never advertises an address it guessed. NAR_NODE_IP overrides.
set -euo pipefail
set +m  # no job control: `setsid cmd &` then runs cmd in a new session whose id is $!

NAR_HOME="$HOME/nar"
SETTINGS="$NAR_HOME/cluster.env"
REPO="$NAR_HOME/repo"
PGID_FILE="$NAR_HOME/ray.pgid"
LOG="$NAR_HOME/ray-start.log"

die() { echo "node.sh ($(hostname), ${NODE_IP:-?}): $*" >&2; exit 1; }
say() { echo "node.sh ($(hostname), ${NODE_IP:-?}): $*"; }

[ -f "$SETTINGS" ] || die "$SETTINGS is missing: the YAML's initialization_commands write it (run \`ray up\` again)"
# shellcheck disable=SC1090
. "$SETTINGS"
NAR_ENV="${NAR_ENV:-install}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_WHEELS="${TORCH_WHEELS:-https://download.pytorch.org/whl}"
TORCH_CUDA="${TORCH_CUDA:-cu128}"
GPU_NODES="${GPU_NODES:-}"
HEAD_RAY_ARGS="${HEAD_RAY_ARGS:-}"
WORKER_RAY_ARGS="${WORKER_RAY_ARGS:-}"
AUTOSCALER_V2="${AUTOSCALER_V2:-}"

if [ -z "${NAR_NODE_IP:-}" ] && [ -n "${SSH_CONNECTION:-}" ]; then
    read -r _ _ NAR_NODE_IP _ <<< "$SSH_CONNECTION"   # client-ip client-port server-ip server-port
fi
NODE_IP="${NAR_NODE_IP:-}"

if [ "$NAR_ENV" = install ]; then ENV_DIR="$NAR_HOME/venv"; else ENV_DIR="${NAR_ENV%/}"; fi
PY="$ENV_DIR/bin/python"

# GPU node: NAR_TORCH=cuda|cpu (per node type, cloud config), else this address listed in GPU_NODES (on-prem).
role() {
    if [ -n "${NAR_TORCH:-}" ]; then echo "$NAR_TORCH"; return; fi
    if [ -f "$NAR_HOME/node.role" ] && [ "${1:-}" != fresh ]; then cat "$NAR_HOME/node.role"; return; fi
    if [ "$GPU_NODES" = all ]; then echo cuda; return; fi
    for ip in $GPU_NODES; do [ "$ip" = "$NODE_IP" ] && { echo cuda; return; }; done
    echo cpu
}

torch_state() {  # "<version> <cuda version or none>" of the environment's torch, or "missing"
    "$PY" - <<'EOF' 2>/dev/null || echo missing
import torch
print(torch.__version__.split("+")[0], torch.version.cuda or "none")
EOF
}

torch_text() {  # "torch 2.13.0, CPU build" / "torch 2.13.0, CUDA 12.8 build"
    local state="${1:-$(torch_state)}"
    case "$state" in
        missing) echo "no torch" ;;
        *" none") echo "torch ${state% *}, CPU build" ;;
        *) echo "torch ${state% *}, CUDA ${state#* } build" ;;
    esac
}

setup() {
    local kind state
    kind="$(role fresh)"
    mkdir -p "$NAR_HOME"
    if [ "$NAR_ENV" = install ]; then
        command -v python3 >/dev/null || die "python3 is missing (Debian/Ubuntu: sudo apt-get install -y python3 python3-venv)"
        if [ ! -x "$PY" ]; then
            python3 -m venv "$ENV_DIR" || { rm -rf "$ENV_DIR"; die "python3 -m venv failed (Debian/Ubuntu: sudo apt-get install -y python3-venv)"; }
        fi
        "$PY" -m pip install -q --upgrade pip
        state="$(torch_state)"
        if [ "$kind" = cuda ]; then
            # pip takes an installed CPU build (2.13.0+cpu) as satisfying torch==2.13.0: replace it explicitly.
            if [ "$state" = missing ] || [ "${state% *}" != "$TORCH_VERSION" ] || [ "${state#* }" = none ]; then
                [ "$state" = missing ] || say "$(torch_text "$state") here: installing the CUDA build of torch $TORCH_VERSION"
                "$PY" -m pip uninstall -q -y torch >/dev/null 2>&1 || true
                "$PY" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_WHEELS/$TORCH_CUDA"
            fi
        elif [ "$state" = missing ] || [ "${state% *}" != "$TORCH_VERSION" ]; then
            "$PY" -m pip uninstall -q -y torch >/dev/null 2>&1 || true
            "$PY" -m pip install -q "torch==$TORCH_VERSION" --index-url "$TORCH_WHEELS/cpu"
        fi
        "$PY" -m pip install -q -e "$REPO"   # pins ray[tune]: the same Ray on every node
    else
        [ -x "$PY" ] || die "NAR_ENV=$NAR_ENV: no $PY (NAR_ENV is an environment's sys.prefix, or install)"
    fi
    # this package from ~/nar/repo (the copy `ray up` keeps in sync), whatever the environment has installed
    cat > "$NAR_HOME/shell.sh" <<EOF
export PATH="$ENV_DIR/bin:\$PATH" PYTHONPATH="$REPO" NAR_DATA="$NAR_HOME/data" RAY_AUTH_MODE=token
EOF
    grep -q 'nar/shell.sh' "$HOME/.bashrc" 2>/dev/null \
        || echo '[ -f ~/nar/shell.sh ] && . ~/nar/shell.sh && cd ~/nar/repo' >> "$HOME/.bashrc"
    # shellcheck disable=SC1091
    . "$NAR_HOME/shell.sh"
    state="$(torch_state)"
    [ "$state" != missing ] || die "torch does not import in $ENV_DIR"
    python -c "import ray, nar_core; assert ray.__version__ == '2.60.0', ray.__version__" \
        || die "ray 2.60.0 and nar_core must import from $ENV_DIR (ray: $(python -c 'import ray; print(ray.__version__)' 2>&1 | tail -1))"
    if [ "$kind" = cuda ]; then
        python -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print('CUDA', torch.version.cuda, torch.cuda.get_device_name(0))" \
            || die "GPU node without working CUDA ($(torch_text "$state")): it does not join; fix the driver, or remove $NODE_IP from GPU_NODES"
    fi
    echo "$kind" > "$NAR_HOME/node.role"
    say "ready: $kind node, $(torch_text "$state"), $(python -c 'import ray; print("ray", ray.__version__)'), env $ENV_DIR"
}

stop() {
    local pgid boot i
    [ -f "$PGID_FILE" ] || return 0
    read -r pgid boot < "$PGID_FILE" || true
    # only the group node.sh started, since this boot, that still runs Ray processes (an id may be reused)
    if [ -n "$pgid" ] && [ "$boot" = "$(cat /proc/sys/kernel/random/boot_id)" ] \
        && pgrep -g "$pgid" -f 'ray|raylet|gcs_server' >/dev/null 2>&1; then
        say "stopping Ray (process group $pgid)"
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for i in $(seq 1 20); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.5; done  # 10 s, then KILL
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$PGID_FILE"
}

start() {  # start ray start <arguments...>
    local pid i kind extra
    [ "${1:-} ${2:-}" = "ray start" ] || die "usage: node.sh start ray start ARGS (got: $*)"
    shift 2
    case " $* " in *" --head "*) extra="$HEAD_RAY_ARGS" ;; *) extra="$WORKER_RAY_ARGS" ;; esac
    # shellcheck disable=SC2086
    set -- "$@" $extra
    kind="$(role)"
    [ -n "$NODE_IP" ] || die "no node address: not reached over SSH; set NAR_NODE_IP"
    [ -x "$PY" ] || die "no environment at $ENV_DIR: run node.sh setup first"
    # shellcheck disable=SC1091
    . "$NAR_HOME/shell.sh"
    stop
    [ "$kind" = cuda ] || set -- "$@" --num-gpus=0   # CPU build of torch: Ray must offer no GPU here
    ulimit -n 65536 2>/dev/null || true
    if [ -n "$AUTOSCALER_V2" ]; then export RAY_enable_autoscaler_v2="$AUTOSCALER_V2"; fi
    : > "$LOG"
    setsid ray start --node-ip-address="$NODE_IP" "$@" --block </dev/null >"$LOG" 2>&1 &
    pid=$!
    echo "$pid $(cat /proc/sys/kernel/random/boot_id)" > "$PGID_FILE"
    for i in $(seq 1 240); do
        if grep -q "Ray runtime started" "$LOG"; then
            say "Ray started ($kind node, process group $pid, log $LOG)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$LOG" >&2; rm -f "$PGID_FILE"; die "ray start failed (above)"; }
        sleep 0.5
    done
    tail -n 30 "$LOG" >&2
    die "ray start did not report within 120 s"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    start) start "$@" ;;
    stop) stop ;;
    info) echo "address ${NODE_IP:-?}, role $(role), env $ENV_DIR, $(torch_text)" ;;
    *) echo "usage: node.sh setup | start ray start ARGS | stop | info" >&2; exit 2 ;;
esac
