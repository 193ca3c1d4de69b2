# Developer commands. `just --list` shows them.

# Run every test (the same command CI runs).
test:
    cargo nextest run --workspace

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

# A worker against the mock on :8888, rebuilt and restarted whenever the code changes
# (start `just mock` in another terminal first).
dev:
    command -v cargo-watch >/dev/null || cargo install cargo-watch --locked
    cargo watch -w crates -w lightning-mock -s 'cargo run -p openfn-ws-worker -- -l mock'

# Release benchmarks (all areas, or e.g. `just bench compiler`).
bench *areas:
    cargo xtask bench {{areas}}
