//! Project automation behind `cargo xtask`: the tidy checks that `cargo test` runs, end-to-end
//! runs and benchmarks.

pub mod bench;
pub mod parity;
pub mod parity_case;
pub mod tidy;
