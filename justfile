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
