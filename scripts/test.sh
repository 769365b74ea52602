#!/usr/bin/env bash
# The one test command (README "Test"; .ci/run calls exactly this). Builds the wasm components
# in release and prints their sizes, builds the test host, then runs every native test: unit
# tests, the test host's own tests, the fake cybozu.com's tests and the end-to-end suites.
# Set KINTONE_MCP_HOST=spin to run the end-to-end suites against a real `spin up` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

wasm_packages=(oauth-provider cybozu-callback mcp-endpoint kintone-tools host-probe)
echo "==> building wasm components (wasm32-wasip2, release)"
cargo build --target wasm32-wasip2 --release $(printf -- '-p %s ' "${wasm_packages[@]}")

target="${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release"
limit=$((1024 * 1024))
echo "==> component sizes (limit 1 MiB each)"
for p in "${wasm_packages[@]}"; do
  file="$target/${p//-/_}.wasm"
  size=$(stat -c %s "$file")
  printf '  %-18s %8d bytes (%d KiB)\n' "$p" "$size" $((size / 1024))
  if [ "$size" -ge "$limit" ]; then
    echo "error: $p is over 1 MiB" >&2
    exit 1
  fi
done

echo "==> formatting (rustfmt.toml) and lints: clippy on every crate and target, warnings denied"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

echo "==> building the test host"
cargo build -p spin-test-host

echo "==> running tests"
cargo test --no-fail-fast "$@"
