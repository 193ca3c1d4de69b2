//! `openfn execute` end to end through the built binary: jobs, the three workflow shapes,
//! step selection, output rules, credentials, cache, logs and failures.

mod common;

use common::{Env, all_output, result_json, stderr};
use serde_json::json;

#[test]
fn test_command_prints_the_answer() {
    let env = Env::new();
    let out = env.openfn().arg("test").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        all_output(&out).contains("Result: 42"),
        "{}",
        all_output(&out)
    );
    // as the kit: `-S` may give the answer
    let out = env
        .openfn()
        .args(["test", "-S", r#"{"data": {"answer": 33}}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        all_output(&out).contains("Result: 33"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn a_job_runs_with_a_local_adaptor_and_state() {
    let env = Env::new();
    let ex = env.examples();
    let adaptor = format!("common={}", common::fixture_common().display());
    let out = env
        .openfn()
        .arg(ex.join("hello.js"))
        .args(["-a", &adaptor, "-s"])
        .arg(ex.join("state.json"))
        .arg("-O")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        all_output(&out),
        stderr(&out)
    );
    assert!(
        all_output(&out).contains("[JOB] ℹ Hello from OpenFn"),
        "{}",
        all_output(&out)
    );
    insta::assert_json_snapshot!("hello_output", result_json(&out));
}

#[test]
fn output_goes_to_output_json_beside_the_input_without_configuration() {
    let env = Env::new();
    let ex = env.examples();
    let adaptor = format!("common={}", common::fixture_common().display());
    let out = env
        .openfn()
        .arg(ex.join("hello.js"))
        .args([
            "-a",
            &adaptor,
            "-S",
            r#"{"data":{"name":"Bo"},"configuration":{"pw":"x"}}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("output.json")).unwrap()).unwrap();
    assert_eq!(
        written,
        json!({"data": {"name": "Bo", "greeting": "hello Bo"}})
    );
    // -o writes elsewhere.
    let to = env.path().join("out.json");
    let out = env
        .openfn()
        .arg(ex.join("hello.js"))
        .args(["-a", &adaptor, "-o"])
        .arg(&to)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&to)
            .unwrap()
            .contains("hello world")
    );
}

fn run_workflow(env: &Env, file: &str, extra: &[&str]) -> std::process::Output {
    let ex = env.examples();
    env.openfn()
        .arg(ex.join(file))
        .arg("-m")
        .arg(env.monorepo())
        .arg("-O")
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn workflow_json_runs_success_edges() {
    let env = Env::new();
    let out = run_workflow(&env, "workflow.json", &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        all_output(&out),
        stderr(&out)
    );
    let result = result_json(&out);
    assert_eq!(result["data"]["report"], "2 of 3 patients are adults");
    assert!(
        result["data"].get("alert").is_none(),
        "failure edge must not run"
    );
    insta::assert_json_snapshot!("workflow_output", result);
}

#[test]
fn all_three_workflow_shapes_and_yaml_agree() {
    let env = Env::new();
    let json_out = result_json(&run_workflow(&env, "workflow.json", &[]));
    let yaml_out = result_json(&run_workflow(&env, "workflow.yaml", &[]));
    assert_eq!(json_out, yaml_out);
    let plan = result_json(&run_workflow(&env, "plan.json", &[]));
    let legacy_run = run_workflow(&env, "legacy.json", &[]);
    assert!(
        all_output(&legacy_run).contains("deprecated"),
        "{}",
        all_output(&legacy_run)
    );
    assert_eq!(plan, json!({"data": {"n": 2}}));
    assert_eq!(result_json(&legacy_run), plan);
}

#[test]
fn only_start_and_end_match_steps_fuzzily() {
    let env = Env::new();
    let out = run_workflow(&env, "workflow.json", &["--only", "Extract"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(all_output(&out).contains("Only running workflow step \"extract\""));
    assert_eq!(
        result_json(&out)["data"]["patients"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let out = run_workflow(&env, "workflow.json", &["--end", "transform"]);
    let result = result_json(&out);
    assert!(result["data"].get("adults").is_some());
    assert!(result["data"].get("report").is_none());

    let out = run_workflow(&env, "workflow.json", &["--only", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only step not found"),
        "{}",
        stderr(&out)
    );

    let out = run_workflow(&env, "workflow.json", &["--start", "r"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("matched multiple steps"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cache_steps_writes_each_output_and_feeds_start() {
    let env = Env::new();
    let out = run_workflow(&env, "workflow.json", &["--cache-steps"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cache = env.path().join("examples/.cli-cache/patients");
    for step in ["extract", "transform", "report"] {
        assert!(cache.join(format!("{step}.json")).exists(), "{step} cached");
    }
    // Starting at report with no state uses transform's cached output.
    let out = run_workflow(
        &env,
        "workflow.json",
        &["--cache-steps", "--start", "report"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        result_json(&out)["data"]["report"],
        "2 of 3 patients are adults"
    );
}

#[test]
fn credentials_map_fills_string_configuration_and_output_hides_it() {
    let env = Env::new();
    let ex = env.examples();
    let out = env
        .openfn()
        .arg(ex.join("with-credential.json"))
        .arg("-m")
        .arg(env.monorepo())
        .arg("--credentials")
        .arg(ex.join("credentials.json"))
        .arg("-O")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        all_output(&out),
        stderr(&out)
    );
    assert_eq!(result_json(&out), json!({"data": {"user": "demo"}}));
    assert!(!all_output(&out).contains("secret"));
}

#[test]
fn a_failing_step_is_reported_and_a_crash_exits_1() {
    let env = Env::new();
    let adaptor = format!("common={}", common::fixture_common().display());
    let job = env.path().join("fail.js");
    std::fs::write(&job, "fn(s => { throw new Error('boom'); });").unwrap();
    let out = env
        .openfn()
        .arg(&job)
        .args(["-a", &adaptor, "-O"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a JobError is a fail, not a crash: {}",
        all_output(&out)
    );
    assert!(
        all_output(&out).contains("Errors reported in 1 jobs"),
        "{}",
        all_output(&out)
    );
    assert_eq!(result_json(&out)["errors"]["job-1"]["name"], "JobError");

    std::fs::write(
        &job,
        "fn(s => { throw new ReferenceError('nope is not defined'); });",
    )
    .unwrap();
    let out = env
        .openfn()
        .arg(&job)
        .args(["-a", &adaptor, "-O"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // as the kit: the runtime's crash report, and no second line from the CLI
    let text = all_output(&out);
    assert!(
        text.contains("[R/T] ✘ CRITICAL ERROR! Aborting execution\n"),
        "{text}"
    );
    assert!(
        text.contains("ReferenceError: nope is not defined"),
        "{text}"
    );
    assert!(!text.contains("[CLI] ✘ ReferenceError"), "{text}");
    assert!(text.contains("[CLI] ♦ Workflow failed in "), "{text}");
    assert!(
        !all_output(&out).contains("ReferenceError: ReferenceError"),
        "{}",
        all_output(&out)
    );
    assert!(
        all_output(&out).contains("Workflow failed in"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn log_json_prints_one_object_per_line() {
    let env = Env::new();
    let out = env.openfn().args(["test", "--log-json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names = Vec::new();
    // the kit's `break()` prints an empty line in JSON mode too
    for line in all_output(&out).lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(v["level"].is_string() && v["message"].is_array());
        let time = v["time"].as_str().unwrap();
        assert_eq!(time.len(), 19, "ns timestamps: {time}");
        names.push(v["name"].as_str().unwrap().to_owned());
    }
    assert!(names.iter().any(|n| n == "JOB"));
    assert!(names.iter().any(|n| n == "CLI"));
}

#[test]
fn no_compile_runs_an_es_module_as_it_is() {
    let env = Env::new();
    let job = env.path().join("module.js");
    std::fs::write(&job, "export default [s => ({ data: { n: 7 } })];").unwrap();
    let out = env
        .openfn()
        .arg(&job)
        .args(["--no-compile", "--no-autoinstall", "-O"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(result_json(&out), json!({"data": {"n": 7}}));
}

#[test]
fn sanitize_summarizes_objects_in_logs() {
    let env = Env::new();
    let adaptor = format!("common={}", common::fixture_common().display());
    let job = env.path().join("log.js");
    std::fs::write(
        &job,
        "fn(s => { console.log('got', { a: 1, b: 2 }, [1, 2]); return s; });",
    )
    .unwrap();
    let out = env
        .openfn()
        .arg(&job)
        .args(["-a", &adaptor, "-O", "--sanitize", "summarize"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        all_output(&out).contains("[JOB] ℹ got (object with keys a, b) (array with 2 items)"),
        "{}",
        all_output(&out)
    );
    let out = env
        .openfn()
        .arg(&job)
        .args(["-a", &adaptor, "-O", "--sanitize", "obfuscate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        all_output(&out).contains("got [object] [array]"),
        "{}",
        all_output(&out)
    );
}
