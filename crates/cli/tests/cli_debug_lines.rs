//! The CLI's own debug lines, in the kit CLI's order (`tests/parity/log-debug` compares them
//! with the recorded kit output).

mod common;

use common::{Env, stderr, stdout};

#[test]
fn debug_prints_the_kit_clis_loading_and_compile_lines_in_order() {
    let env = Env::new();
    let adaptor = format!("common={}", common::fixture_common().display());
    let job = env.path().join("job.js");
    std::fs::write(&job, "fn(s => s);").unwrap();
    let out = env
        .openfn()
        .arg(&job)
        .args(["-a", &adaptor, "-O", "-l", "debug"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // with -O the logs are on stderr
    let text = stderr(&out);
    let expected = [
        format!("[CLI] ❯ Loading expression from {}", job.display()),
        "[CLI] ❯ Loading state...".to_owned(),
        "[CLI] ❯ Trying to preload types for @openfn/language-common".to_owned(),
        "[CLI] ❯ Finished in ".to_owned(),
        "[CLI] ℹ Compilation complete in ".to_owned(),
    ];
    let mut from = 0;
    for line in &expected {
        let at = text[from..]
            .find(line.as_str())
            .unwrap_or_else(|| panic!("`{line}` missing or out of order in:\n{text}"));
        from += at + line.len();
    }
    // the engine's install event is not printed again (the kit CLI has no such line)
    assert!(!text.contains("[CLI] ❯ Resolved "), "{text}");
}
