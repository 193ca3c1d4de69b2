//! End to end: a job that puts its credential into an error. What leaves the worker has it
//! redacted in the error objects of every state it sends (`step:complete`'s output dataclip,
//! `run:complete`'s final state) as well as in logs and error messages; the job's own data is
//! sent as is.

mod support;

use std::time::Duration;

use openfn_lightning_mock::Config as MockConfig;
use serde_json::{Value, json};
use support::{job, start};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn credentials_in_errors_are_redacted_in_the_states_that_leave_the_worker() {
    let h = start(MockConfig::default(), &[]).await;
    h.mock.add_credential(
        "cred",
        json!({"username": "admin", "password": "hunter2-secret"}),
    );
    // The real engine: the job reads its credential and throws it back in an error.
    let mut plan = job(
        "export default [s => { s.data = { kept: s.configuration.password }; throw new Error('login failed for admin:' + s.configuration.password); }]",
    );
    plan["jobs"][0]["credential_id"] = json!("cred");
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "fail", "{run:#}");
    assert_eq!(run["error_message"], "login failed for [REDACTED]");
    assert_eq!(
        run["final_state"]["errors"]["j1"]["message"], "login failed for [REDACTED]",
        "{run:#}"
    );
    let step = &run["steps"][0];
    assert_eq!(step["error_message"], "login failed for [REDACTED]");
    let dataclip: Value = serde_json::from_str(step["output_dataclip"].as_str().unwrap_or("null"))
        .expect("output dataclip is JSON");
    assert_eq!(
        dataclip["errors"]["j1"]["message"],
        "login failed for [REDACTED]"
    );
    // the job's own data is not an error object: it is sent as is
    assert_eq!(dataclip["data"]["kept"], "hunter2-secret");
    let errors_sent = json!([
        run["final_state"]["errors"],
        dataclip["errors"],
        run["logs"]
    ]);
    assert!(
        !errors_sent.to_string().contains("hunter2"),
        "{errors_sent}"
    );
}
