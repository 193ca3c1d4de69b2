# Developer commands. `just --list` shows them.

# Run every test (the same command CI runs; extra arguments go to nextest).
test *args:
    cargo xtask test {{args}}

# Format check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI does.
ci:
    bash .ci/run

# Tidy checks (module docs, no skipped tests, workspace dependencies).
tidy:
    cargo xtask tidy

# The Lightning stand-in on :8888 (dashboard at http://localhost:8888/).
mock:
    cargo run -p openfn-lightning-mock -- --no-auth

# The mock on :8888 and a worker against it, the worker rebuilt and restarted whenever the code
# changes (cargo-watch, installed from crates.io on first use). One Ctrl-C stops both.
dev:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-watch >/dev/null || cargo install cargo-watch --locked
    cargo build -p openfn-lightning-mock
    target/debug/lightning-mock --no-auth &
    mock=$!
    trap 'kill "$mock" 2>/dev/null; wait "$mock" 2>/dev/null' EXIT
    cargo watch -w crates -w lightning-mock -s 'cargo run -p openfn-ws-worker -- -l mock'

# The end-to-end suite through the real binaries (`--debug` builds faster; `--filter <part>`).
e2e *args:
    cargo xtask e2e {{args}}

# The fault-injection suite (`--short`, `--debug`, `--filter <part>`).
chaos *args:
    cargo xtask chaos {{args}}

# The mock and a worker with the examples run through them; Ctrl-C stops both.
demo *args:
    cargo xtask demo {{args}}

# Release benchmarks (all areas, or e.g. `just bench compiler`).
bench *areas:
    cargo xtask bench {{areas}}

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, no sanitizer: builds on stable). Runs every
# target (or the ones named) for `secs` seconds each, two at a time, niced. Corpora live in
# fuzz/corpus/<target>; finds land in fuzz/artifacts/<target>. See docs/reliability.md.
fuzz secs="600" *targets="compile phoenix_frame lightning_plan state_json workloops":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cd fuzz && for t in {{targets}}; do \
        features=""; [ "$t" = workloops ] && features="--features workloops"; \
        nice -n 19 cargo fuzz build -s none $features "$t" || exit 1; \
    done
    cd fuzz && printf '%s\n' {{targets}} | xargs -P 2 -I{} sh -c '\
        features=""; [ "{}" = workloops ] && features="--features workloops"; \
        nice -n 19 cargo fuzz run -s none $features {} corpus/{} -- \
            -max_total_time={{secs}} -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
            > fuzz-{}.log 2>&1; echo "{}: exit $?, $(grep -o "#[0-9]*" fuzz-{}.log | tail -1) execs"'
