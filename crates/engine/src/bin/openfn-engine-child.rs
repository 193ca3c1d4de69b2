//! The engine's child process as a standalone binary (the worker and the CLI instead call
//! `maybe_run_child()` at the top of their own `main` and re-execute themselves). The engine
//! tests point `child_command` at it to run real compile + QuickJS children.

fn main() {
    openfn_engine::child::maybe_run_child();
    eprintln!(
        "openfn-engine-child: run me with {}",
        openfn_engine::CHILD_FLAG
    );
    std::process::exit(2);
}
