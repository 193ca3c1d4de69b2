//! A run through a real child process, event by event, plus the per-run pipeline around it
//! (input, credentials, autoinstall, payload limits).

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use openfn_engine::{
    AdaptorInstaller, EngineConfig, EngineEvent, Input, InstallFuture, InstalledAdaptor, RunOptions,
};
use serde_json::json;
use support::*;

#[tokio::test]
async fn a_run_streams_the_kit_events_in_order() {
    let engine = engine(1);
    let events = events_within(
        run(&engine, plan("p1", &["set x 1; log hello", "count"])),
        30,
    )
    .await;
    assert_eq!(
        names(&events),
        [
            "workflow-log",
            "workflow-log",
            "workflow-start",
            "compile-start",
            "compile-complete",
            "job-start",
            "workflow-log",
            "job-complete",
            "job-start",
            "job-complete",
            "workflow-complete"
        ]
    );
    let l = logs(&events);
    assert_eq!(
        l[0],
        ("RTE".to_owned(), r#"["Memory limit: 500mb"]"#.to_owned())
    );
    assert_eq!(l[1], ("RTE".to_owned(), r#"["Timeout: 600s"]"#.to_owned()));
    assert_eq!(l[2], ("JOB".to_owned(), r#"["hello"]"#.to_owned()));
    assert_eq!(
        final_state(&events),
        Some(json!({ "data": { "x": 1, "count": 1 } }))
    );
    match &events[2] {
        EngineEvent::WorkflowStart {
            workflow_id,
            versions,
            ..
        } => {
            assert_eq!(workflow_id, "p1");
            assert_eq!(versions["engine"], json!(env!("CARGO_PKG_VERSION")));
        }
        other => panic!("unexpected {other:?}"),
    }
    match &events[7] {
        EngineEvent::JobComplete {
            job_id,
            next,
            redacted,
            state,
            mem,
            ..
        } => {
            assert_eq!(
                (job_id.as_str(), next.as_slice(), *redacted),
                ("step-1", &["step-2".to_owned()][..], false)
            );
            assert_eq!(state.get(), r#"{"data":{"x":1}}"#);
            // the child's QuickJS heap and RSS, as the kit's heapUsed and rss
            assert!(mem.job > 0 && mem.system > 0, "{mem:?}");
            // peak memory only when profiling (the worker's --profile)
            assert_eq!(mem.peak, None);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn per_run_options_override_the_engine_limits() {
    let engine = engine(1);
    let options = RunOptions {
        memory_limit_mb: Some(256),
        run_timeout_ms: Some(1500),
        ..RunOptions::default()
    };
    let handle = engine.execute(
        xp(plan("p", &["count"])),
        Input::Empty,
        options,
        no_resolvers(),
    );
    let events = events_within(handle, 30).await;
    let l = logs(&events);
    assert_eq!(l[0].1, r#"["Memory limit: 256mb"]"#);
    assert_eq!(l[1].1, r#"["Timeout: 1.5s"]"#);
}

#[tokio::test]
async fn input_dataclips_and_credentials_are_resolved_through_callbacks() {
    let engine = engine(1);
    let mut resolvers = MapResolvers::default();
    resolvers
        .states
        .insert("clip".into(), Ok(r#"{"data":{"from":"clip"}}"#.into()));
    resolvers
        .states
        .insert("other".into(), Ok(r#"{"n":2}"#.into()));
    resolvers
        .credentials
        .insert("c1".into(), Ok(r#"{"user":"u"}"#.into()));
    let mut p = plan("p", &["cred c1; state other"]);
    p["workflow"]["steps"][0]["configuration"] = json!("c1");
    let handle = engine.execute(
        xp(p),
        Input::Dataclip("clip".into()),
        RunOptions::default(),
        Arc::new(resolvers),
    );
    let events = events_within(handle, 30).await;
    assert_eq!(
        final_state(&events),
        Some(json!({ "data": { "from": "clip", "cred": { "user": "u" }, "fetched": { "n": 2 } } }))
    );
}

#[tokio::test]
async fn a_missing_dataclip_is_a_dataclip_error_before_the_workflow_starts() {
    let engine = engine(1);
    let mut resolvers = MapResolvers::default();
    resolvers
        .states
        .insert("d".into(), Err("[fetch:dataclip] not_found".into()));
    let handle = engine.execute(
        xp(plan("p", &["count"])),
        Input::Dataclip("d".into()),
        RunOptions::default(),
        Arc::new(resolvers),
    );
    let events = events_within(handle, 30).await;
    assert_eq!(names(&events), ["workflow-error"]);
    let e = workflow_error(&events).unwrap();
    assert_eq!(
        error_tuple(e),
        (
            "DataClipError",
            "Failed to load dataclip d: [fetch:dataclip] not_found",
            "exception"
        )
    );
}

#[tokio::test]
async fn credential_failures_are_one_credential_load_error() {
    let engine = engine(1);
    let mut resolvers = MapResolvers::default();
    resolvers.credentials.insert(
        "zzz".into(),
        Err(r#"[fetch:credential] {"errors":{"id":["Credential not found!"]}}"#.into()),
    );
    resolvers
        .credentials
        .insert("%TIMEOUT%".into(), Err("[fetch:credential] timeout".into()));
    let mut p = plan("p", &["count", "count", "count"]);
    p["workflow"]["steps"][0]["configuration"] = json!("zzz");
    p["workflow"]["steps"][1]["configuration"] = json!("%TIMEOUT%");
    p["workflow"]["steps"][2]["configuration"] = json!("zzz");
    let events = events_within(
        engine.execute(
            xp(p),
            Input::Empty,
            RunOptions::default(),
            Arc::new(resolvers),
        ),
        30,
    )
    .await;
    assert_eq!(names(&events), ["workflow-error"]);
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        (
            "CredentialLoadError",
            "Failed to load credential zzz: [fetch:credential] {\"errors\":{\"id\":[\"Credential not found!\"]}}\nFailed to load credential %TIMEOUT%: [fetch:credential] timeout",
            "exception"
        )
    );
}

struct FakeInstaller;

impl AdaptorInstaller for FakeInstaller {
    /// Everything is installed but 9.9.9 (which then fails to install).
    fn is_installed(&self, specifier: &str) -> bool {
        !specifier.ends_with("@9.9.9")
    }

    fn install(&self, specifier: &str) -> InstallFuture {
        let (name, version) = openfn_engine::split_specifier(specifier);
        let (name, version) = (name.to_owned(), version.unwrap_or("").to_owned());
        Box::pin(async move {
            if version == "9.9.9" {
                Err("npm ERR! 404 no such version".to_owned())
            } else {
                Ok(InstalledAdaptor {
                    path: format!("/repo/node_modules/{name}_{version}").into(),
                    name,
                    version,
                })
            }
        })
    }
}

#[tokio::test]
async fn autoinstall_reports_each_adaptor_and_fails_the_run_with_autoinstall_error() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        installer: Some(Arc::new(FakeInstaller)),
        ..test_config()
    });
    let mut p = plan("ok", &["count"]);
    p["workflow"]["steps"][0]["adaptors"] = json!(["@openfn/language-common@3.3.4"]);
    let events = events_within(run(&engine, p), 30).await;
    assert_eq!(names(&events)[0], "autoinstall-complete");
    match events.iter().find(|e| e.name() == "workflow-start") {
        Some(EngineEvent::WorkflowStart { versions, .. }) => {
            assert_eq!(versions["@openfn/language-common"], json!(["3.3.4"]));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(final_state(&events).is_some());

    let mut p = plan("bad", &["count"]);
    p["workflow"]["steps"][0]["adaptors"] = json!(["@openfn/language-http@9.9.9"]);
    let events = events_within(run(&engine, p), 30).await;
    // an adaptor not yet installed is announced before its install
    assert_eq!(
        names(&events),
        ["autoinstall-start", "autoinstall-error", "workflow-error"]
    );
    assert!(
        matches!(&events[0], EngineEvent::AutoinstallStart { module, version, .. }
        if module == "@openfn/language-http" && version == "9.9.9")
    );
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        (
            "AutoinstallError",
            "Error installing @openfn/language-http@9.9.9: npm ERR! 404 no such version",
            "exception"
        )
    );
}

#[tokio::test]
async fn payload_limit_zero_redacts_outputs_and_logs() {
    let engine = engine(1);
    let options = RunOptions {
        payload_limit_mb: Some(0),
        ..RunOptions::default()
    };
    let handle = engine.execute(
        xp(plan("p", &["set x 1; log hi"])),
        Input::Empty,
        options,
        no_resolvers(),
    );
    let events = events_within(handle, 30).await;
    let job_complete = events.iter().find(|e| e.name() == "job-complete").unwrap();
    assert!(matches!(
        job_complete,
        EngineEvent::JobComplete { redacted: true, .. }
    ));
    let job_log = events
        .iter()
        .find_map(|e| match e {
            EngineEvent::WorkflowLog { log, .. } if log.name == "JOB" => Some(log.clone()),
            _ => None,
        })
        .unwrap();
    assert!(job_log.redacted);
    assert_eq!(
        job_log.message.get(),
        r#"["[REDACTED: Message length exceeds payload limit]"]"#
    );
    assert_eq!(final_state(&events), Some(json!({ "data": "[REDACTED]" })));
    assert!(matches!(
        events.last(),
        Some(EngineEvent::WorkflowComplete { redacted: true, .. })
    ));
}

#[tokio::test]
async fn a_log_limit_applies_to_logs_only() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        log_payload_limit_mb: Some(0.001),
        ..test_config()
    });
    let handle = engine.execute(
        xp(plan("p", &["log short; biglog 5000; set x 1"])),
        Input::Empty,
        RunOptions::default(),
        no_resolvers(),
    );
    let events = events_within(handle, 30).await;
    let redactions: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::WorkflowLog { log, .. } if log.name == "JOB" => Some(log.redacted),
            _ => None,
        })
        .collect();
    assert_eq!(redactions, [false, true]);
    assert_eq!(final_state(&events), Some(json!({ "data": { "x": 1 } })));
}

#[tokio::test]
async fn a_ten_megabyte_state_passes_through_three_steps() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        payload_limit_mb: 50.0,
        ..test_config()
    });
    let big = "z".repeat(10 << 20);
    let input =
        serde_json::value::RawValue::from_string(json!({ "data": { "big": big } }).to_string())
            .unwrap();
    let handle = engine.execute(
        xp(plan("p", &["count", "count", "count"])),
        Input::Value(input),
        RunOptions::default(),
        no_resolvers(),
    );
    let events = events_within(handle, 60).await;
    let completes: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::JobComplete {
                state,
                redacted: false,
                ..
            } => Some(state.get().len()),
            _ => None,
        })
        .collect();
    assert_eq!(completes.len(), 3);
    assert!(completes.iter().all(|n| *n > 10 << 20));
    let state = final_state(&events).unwrap();
    assert_eq!(state["data"]["count"], json!(3));
    assert_eq!(state["data"]["big"].as_str().map(str::len), Some(10 << 20));
    let _ = HashMap::<u8, u8>::new();
}
