//! Project automation behind `cargo xtask`: the tidy checks that `cargo test` runs, end-to-end
//! runs, benchmarks and the fault-injection suite (`chaos`).

pub mod bench;
pub mod chaos;
pub mod demo;
pub mod e2e;
pub mod parity;
pub mod parity_case;
pub mod parity_wire;
pub mod parity_worker;
pub mod test;
pub mod tidy;
