//! The compiler entry point: any bytes compile or fail with a `CompileError`, never a panic
//! (caught as `Internal`) and never a stack overflow (an abort libFuzzer reports).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfn_compiler::{CompileError, Options, compile_bytes};

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    if let Err(CompileError::Internal(msg)) = compile_bytes(data, &options) {
        panic!("internal compiler error: {msg}");
    }
});
