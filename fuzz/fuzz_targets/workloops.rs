//! The `--workloops` parser: any text parses or fails with a config error; every parsed
//! workloop has at least one slot and one queue.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfn_ws_worker::config::parse_workloops;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut warnings = Vec::new();
    if let Ok(loops) = parse_workloops(text, &mut warnings) {
        assert!(!loops.is_empty());
        for w in &loops {
            assert!(w.capacity >= 1, "a workloop with no slots: {w:?}");
            assert!(!w.queues.is_empty(), "a workloop with no queues: {w:?}");
        }
    }
});
