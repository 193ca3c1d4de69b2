//! Lightning plan: decoding what Lightning and the mock send, and the conversion to the runtime
//! execution plan (docs/protocol.md §3.5).

use std::path::{Path, PathBuf};

use openfn_lexicon::Error;
use openfn_lexicon::lightning::{
    CollectionsConfig, ConvertOptions, LightningPlan, name_and_version,
};
use openfn_lexicon::plan::{Lazy, SanitizePolicy};
use serde_json::{Value, json};

/// A plan as Lightning renders it: nulls for optional fields.
fn lightning_plan() -> Value {
    json!({
        "id": "run-1",
        "dataclip_id": "d1",
        "starting_node_id": "t1",
        "triggers": [{"id": "t1"}],
        "jobs": [
            {"id": "j1", "name": "First", "adaptor": "@openfn/language-common@1.6.2", "body": "fn(s => s)", "credential_id": "c1"},
            {"id": "j2", "name": "Second", "adaptor": "@openfn/language-http@7.2.10", "body": "get('/')", "credential_id": null},
            {"id": "j3", "name": null, "adaptor": "", "body": "fn(s => s)", "credential_id": null}
        ],
        "edges": [
            {"id": "e1", "source_trigger_id": "t1", "source_job_id": null, "target_job_id": "j1", "condition": "always", "enabled": true},
            {"id": "e2", "source_trigger_id": null, "source_job_id": "j1", "target_job_id": "j2", "condition": "on_job_success", "enabled": true},
            {"id": "e3", "source_trigger_id": null, "source_job_id": "j1", "target_job_id": "j3", "condition": null, "enabled": false},
            {"id": "e4", "source_trigger_id": null, "source_job_id": "j2", "target_job_id": "j3", "condition": null, "enabled": true}
        ],
        "options": {"output_dataclips": false, "run_timeout_ms": 300000}
    })
}

fn convert(plan: Value, options: &ConvertOptions) -> openfn_lexicon::lightning::ConvertedPlan {
    LightningPlan::from_value(plan)
        .expect("plan decodes")
        .to_execution_plan(options)
}

#[test]
fn lightning_rendered_plan_round_trips() {
    let value = lightning_plan();
    let plan = LightningPlan::from_value(value.clone()).unwrap();
    assert_eq!(plan.to_value(), value);
    assert_eq!(plan.jobs[0].credential_id.as_deref(), Some("c1"));
    assert_eq!(plan.edges[2].enabled, Some(false));
}

#[test]
fn converts_the_lightning_plan() {
    let converted = convert(lightning_plan(), &ConvertOptions::default());
    let expected = json!({
        "id": "run-1",
        "workflow": {
            "steps": [
                {"id": "t1", "next": {"j1": true}},
                {
                    "id": "j1", "name": "First", "expression": "fn(s => s)",
                    "adaptors": ["@openfn/language-common@1.6.2"], "configuration": "c1",
                    "next": {"j2": {"condition": "on_job_success"}, "j3": {"disabled": true}}
                },
                {
                    "id": "j2", "name": "Second", "expression": "get('/')",
                    "adaptors": ["@openfn/language-http@7.2.10"], "next": {"j3": true}
                },
                {"id": "j3", "expression": "fn(s => s)", "adaptors": []}
            ]
        },
        "options": {"start": "t1"}
    });
    assert_eq!(converted.plan.to_value(), expected);
    assert_eq!(converted.input, Lazy::Id("d1".into()));
    assert_eq!(converted.options.run_timeout_ms, Some(300_000));
    assert_eq!(converted.options.output_dataclips, Some(false));
    assert_eq!(converted.options.payload_limit_mb, None);
    assert_eq!(
        converted.options.globals.as_ref().unwrap().get("meta"),
        Some(&json!({"runId": "run-1"}))
    );
}

#[test]
fn trigger_edges_conditions_and_disabled_edges() {
    let plan = json!({
        "id": "r",
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "a", "body": "x"}, {"id": "b", "body": "y"}, {"id": "c", "body": "z"}, {"id": "d", "body": "w"}],
        "edges": [
            {"source_trigger_id": "t", "target_job_id": "a"},
            {"source_trigger_id": "t", "target_job_id": "b", "condition": "state.go"},
            {"source_trigger_id": "t", "target_job_id": "c", "condition": "always", "enabled": false},
            {"source_trigger_id": "t", "target_job_id": "d", "condition": null}
        ]
    });
    let converted = convert(plan, &ConvertOptions::default());
    let steps = &converted.plan.to_value()["workflow"]["steps"];
    assert_eq!(
        steps[0],
        json!({"id": "t", "next": {"a": true, "b": "state.go", "d": true}})
    );
    assert_eq!(converted.input, Lazy::Value(json!({})));
    assert_eq!(converted.plan.options.start, None);
}

#[test]
fn trigger_with_only_disabled_edges_keeps_an_empty_next() {
    let plan = json!({
        "id": "r",
        "triggers": [{"id": "t"}, {}],
        "jobs": [{"id": "a", "body": "x"}],
        "edges": [{"source_trigger_id": "t", "target_job_id": "a", "enabled": false}]
    });
    let value = convert(plan, &ConvertOptions::default()).plan.to_value();
    assert_eq!(
        value["workflow"]["steps"][0],
        json!({"id": "t", "next": {}})
    );
    // A trigger without an id is called `trigger`, and has no next without edges.
    assert_eq!(value["workflow"]["steps"][1], json!({"id": "trigger"}));
}

#[test]
fn job_edge_with_condition_and_disabled() {
    let plan = json!({
        "id": "r",
        "jobs": [{"id": "a", "body": "x"}, {"id": "b", "body": "y"}],
        "edges": [{"source_job_id": "a", "target_job_id": "b", "condition": "on_job_failure", "enabled": false}]
    });
    let value = convert(plan, &ConvertOptions::default()).plan.to_value();
    assert_eq!(
        value["workflow"]["steps"][0]["next"],
        json!({"b": {"condition": "on_job_failure", "disabled": true}})
    );
}

#[test]
fn credential_object_or_id_wins_over_credential_id_and_state_is_kept() {
    let plan = json!({
        "id": "r",
        "jobs": [
            {"id": "a", "body": "x", "credential": {"user": "u"}, "credential_id": "ignored", "state": {"data": {"x": 1}}},
            {"id": "b", "body": "x", "credential": "cred-b", "credential_id": "ignored"},
            {"id": "c", "body": "x", "credential": null, "credential_id": "cred-c", "state": null}
        ]
    });
    let value = convert(plan, &ConvertOptions::default()).plan.to_value();
    let steps = &value["workflow"]["steps"];
    assert_eq!(steps[0]["configuration"], json!({"user": "u"}));
    assert_eq!(steps[0]["state"], json!({"data": {"x": 1}}));
    assert_eq!(steps[1]["configuration"], json!("cred-b"));
    assert_eq!(steps[2]["configuration"], json!("cred-c"));
    assert!(steps[2].get("state").is_none());
}

#[test]
fn job_without_id_gets_a_uuid_and_name_and_globals_carry_over() {
    let plan = json!({
        "id": "r", "name": "wf name", "globals": "export const x = 1;",
        "jobs": [{"body": "x"}]
    });
    let converted = convert(plan, &ConvertOptions::default());
    let id = converted.plan.workflow.steps[0].id.clone().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(converted.plan.workflow.name.as_deref(), Some("wf name"));
    assert_eq!(
        converted.plan.workflow.globals.as_deref(),
        Some("export const x = 1;")
    );

    let non_string = convert(
        json!({"id": "r", "globals": {"x": 1}}),
        &ConvertOptions::default(),
    );
    assert_eq!(non_string.plan.workflow.globals, None);
}

#[test]
fn options_map_to_engine_options_by_key_presence() {
    let plan = json!({
        "id": "r",
        "options": {
            "run_memory_limit_mb": 256, "payload_limit_mb": 0, "log_payload_limit_mb": 1,
            "state_limit_mb": 5, "sanitize": "obfuscate", "job_log_level": "none", "start": "ignored"
        }
    });
    let converted = convert(
        plan,
        &ConvertOptions {
            start_time_ms: Some(1_700_000_000_000),
            ..ConvertOptions::default()
        },
    );
    let o = &converted.options;
    assert_eq!(o.memory_limit_mb, Some(256));
    assert_eq!(o.payload_limit_mb, Some(0));
    assert_eq!(o.log_payload_limit_mb, Some(1));
    assert_eq!(o.state_limit_mb, Some(5));
    assert_eq!(o.sanitize, Some(SanitizePolicy::Obfuscate));
    assert_eq!(o.job_log_level.as_deref(), Some("none"));
    assert_eq!(o.run_timeout_ms, None);
    assert_eq!(
        o.globals.as_ref().unwrap()["meta"],
        json!({"runId": "r", "startTime": 1_700_000_000_000u64})
    );
    // `options.start` is not mapped: only `starting_node_id` is.
    assert_eq!(converted.plan.options.start, None);
}

fn collections() -> CollectionsConfig {
    CollectionsConfig {
        version: "1.0.0".into(),
        endpoint: "http://localhost:4000/collections".into(),
        token: "run.jwt".into(),
    }
}

#[test]
fn collections_are_injected_into_jobs_that_use_them() {
    let plan = json!({
        "id": "r", "project_id": "p1",
        "jobs": [
            {"id": "a", "body": "collections.get('x')", "adaptor": "@openfn/language-common@1.0.0"},
            {"id": "b", "body": "fn(s => s)", "adaptor": "@openfn/language-common@1.0.0"},
            {"id": "c", "body": "collections.set('x', 1)", "adaptor": "@openfn/language-collections@0.9.0"},
            {"id": "d", "body": "collections.get('y')"}
        ]
    });
    let options = ConvertOptions {
        collections: Some(collections()),
        ..ConvertOptions::default()
    };
    let value = convert(plan.clone(), &options).plan.to_value();
    let steps = &value["workflow"]["steps"];
    assert_eq!(
        steps[0]["adaptors"],
        json!([
            "@openfn/language-common@1.0.0",
            "@openfn/language-collections@1.0.0"
        ])
    );
    assert_eq!(
        steps[1]["adaptors"],
        json!(["@openfn/language-common@1.0.0"])
    );
    assert_eq!(
        steps[2]["adaptors"],
        json!(["@openfn/language-collections@0.9.0"])
    );
    assert_eq!(
        steps[3]["adaptors"],
        json!(["@openfn/language-collections@1.0.0"])
    );
    assert_eq!(
        value["workflow"]["credentials"],
        json!({"collections_token": "run.jwt", "collections_endpoint": "http://localhost:4000/collections", "project_id": "p1"})
    );

    // Without a collections config nothing is injected.
    let plain = convert(plan, &ConvertOptions::default()).plan.to_value();
    assert_eq!(plain["workflow"]["steps"][3]["adaptors"], json!([]));
    assert!(plain["workflow"].get("credentials").is_none());
}

#[test]
fn collections_credentials_only_when_some_job_uses_them() {
    let plan = json!({"id": "r", "jobs": [{"id": "a", "body": "fn(s => s)"}]});
    let options = ConvertOptions {
        collections: Some(collections()),
        ..ConvertOptions::default()
    };
    let value = convert(plan, &options).plan.to_value();
    assert!(value["workflow"].get("credentials").is_none());
}

fn has_http(path: &Path) -> bool {
    path.starts_with("/second") && path.ends_with("http")
}

#[test]
fn local_adaptors_link_to_the_monorepo() {
    let plan = json!({
        "id": "r",
        "jobs": [
            {"id": "a", "body": "x", "adaptor": "@openfn/language-common@local"},
            {"id": "b", "body": "x", "adaptor": "@openfn/language-http@local"},
            {"id": "c", "body": "x", "adaptor": "@openfn/language-http@7.2.10"}
        ]
    });
    let options = ConvertOptions {
        monorepo_roots: vec![PathBuf::from("/first"), PathBuf::from("/second")],
        local_package_exists: Some(has_http),
        ..ConvertOptions::default()
    };
    let value = convert(plan.clone(), &options).plan.to_value();
    let steps = &value["workflow"]["steps"];
    // Not found in any root: the first root's path.
    assert_eq!(
        steps[0]["linker"],
        json!({"@openfn/language-common": {"path": "/first/packages/common", "version": "local"}})
    );
    assert_eq!(
        steps[1]["linker"],
        json!({"@openfn/language-http": {"path": "/second/packages/http", "version": "local"}})
    );
    assert!(steps[2].get("linker").is_none());

    let no_monorepo = convert(plan, &ConvertOptions::default()).plan.to_value();
    assert!(no_monorepo["workflow"]["steps"][0].get("linker").is_none());
}

#[test]
fn duplicate_node_ids_keep_the_first_position_and_last_value() {
    let plan = json!({"id": "r", "jobs": [{"id": "a", "body": "1"}, {"id": "b", "body": "2"}, {"id": "a", "body": "3"}]});
    let value = convert(plan, &ConvertOptions::default()).plan.to_value();
    let steps = value["workflow"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["expression"], json!("3"));
}

#[test]
fn specifier_split() {
    assert_eq!(
        name_and_version("@openfn/language-http@7.2.10"),
        ("@openfn/language-http", Some("7.2.10"))
    );
    assert_eq!(
        name_and_version("@openfn/language-http"),
        ("@openfn/language-http", None)
    );
    assert_eq!(name_and_version("x@1"), ("x", Some("1")));
    assert_eq!(name_and_version("x"), ("x", None));
}

#[test]
fn bad_plans_name_the_field() {
    let err = LightningPlan::from_value(json!({"jobs": []})).unwrap_err();
    assert!(err.to_string().contains("missing field `id`"), "{err}");
    let err = LightningPlan::from_value(json!({"id": "r", "jobs": [{"id": 1}]})).unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, .. } if path == "jobs[0].id"),
        "{err}"
    );
    let err = LightningPlan::from_value(json!({"id": "r", "edges": [{"source_job_id": "a"}]}))
        .unwrap_err();
    assert!(err.to_string().contains("target_job_id"), "{err}");
    let err = LightningPlan::from_value(json!({"id": "r", "options": {"run_timeout_ms": "soon"}}))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, .. } if path == "options.run_timeout_ms"),
        "{err}"
    );
    let err = LightningPlan::from_json_str("{\"id\":").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Json {
                what: "lightning plan",
                ..
            }
        ),
        "{err}"
    );
    // null arrays are tolerated.
    let plan = LightningPlan::from_value(
        json!({"id": "r", "triggers": null, "jobs": null, "edges": null}),
    )
    .unwrap();
    assert!(plan.jobs.is_empty());
}
