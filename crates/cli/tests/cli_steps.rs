//! Step selection and the step cache through the binary: `--start keep` matches a name
//! ignoring case, a step that is not there lists those that are, `--only` without a cached
//! input says how to make one, and `--cache-steps` keeps what the next run needs.

mod common;

use common::{Env, result_json, stderr};

fn run(env: &Env, extra: &[&str]) -> std::process::Output {
    let ex = env.path().join("examples");
    if !ex.exists() {
        env.examples();
    }
    env.openfn()
        .arg(ex.join("workflow.json"))
        .arg("-m")
        .arg(env.monorepo())
        .arg("-O")
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn start_matches_a_step_name_ignoring_case() {
    let env = Env::new();
    let state = r#"{"data":{"patients":[{"name":"a","age":40},{"name":"b","age":3}]}}"#;
    let out = run(&env, &["--start", "keep", "-S", state]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        result_json(&out)["data"]["report"],
        "1 of 2 patients are adults"
    );
}

#[test]
fn an_unknown_step_lists_the_steps_there_are() {
    let env = Env::new();
    let out = run(&env, &["--start", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("Error:").count(), 1, "{err}");
    assert!(
        err.contains(r#"its steps are: extract ("Extract patients"), transform ("Keep adults"), report ("Report"), alert ("Alert")"#),
        "{err}"
    );
}

#[test]
fn only_without_a_cached_input_says_how_to_make_one_and_the_cache_survives() {
    let env = Env::new();
    let out = run(&env, &["--only", "report"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no cached input for step \"report\""), "{err}");
    assert!(err.contains("--cache-steps"), "{err}");
    assert!(!err.contains("TypeError"), "the step did not run: {err}");

    // cache every step, then run one step twice from the cache
    let out = run(&env, &["--cache-steps"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cache = env.path().join("examples/.cli-cache/patients");
    assert!(
        stderr(&out).contains(&format!("Cached output written to {}", cache.display())),
        "{}",
        stderr(&out)
    );
    for _ in 0..2 {
        let out = run(&env, &["--only", "report", "--cache-steps"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            result_json(&out)["data"]["report"],
            "2 of 3 patients are adults"
        );
        assert!(cache.join("transform.json").exists(), "the input stays");
    }
}
