//! Execution plan: the §2.2 example round-trips exactly, helpers, and field-naming errors.

use openfn_lexicon::plan::{
    ConditionalEdge, EdgeRule, ExecutionPlan, Lazy, Next, RunOptions, SanitizePolicy,
};
use openfn_lexicon::{Error, OrderedMap};
use serde_json::{Value, json};

fn spec_example() -> Value {
    json!({
        "id": "run-uuid",
        "workflow": {
            "id": "wf",
            "name": "My workflow",
            "globals": "export const f = () => 1;",
            "start": "a",
            "credentials": {"token": "abc"},
            "steps": [
                {
                    "id": "a",
                    "name": "Step A",
                    "expression": "export default [fn(s => s)];",
                    "adaptors": ["@openfn/language-http@7.2.10"],
                    "linker": {"@openfn/language-http": {"path": "/abs/dir", "version": "7.2.10"}},
                    "configuration": {"user": "u"},
                    "state": {"data": {"x": 1}},
                    "sourceMap": {"version": 3, "operations": [{"name": "fn", "line": 1, "order": 1}]},
                    "next": {
                        "b": true,
                        "c": false,
                        "d": "state.data.x > 1",
                        "e": {"condition": "on_job_failure", "label": "on fail", "disabled": false}
                    }
                },
                {"id": "b", "expression": "x", "configuration": "credential-id", "state": "dataclip-id", "next": "c"},
                {"id": "c", "expression": "y"},
                {"id": "d", "expression": "z"},
                {"id": "e", "expression": "w"},
                {"id": "trigger", "next": {"a": true}}
            ]
        },
        "options": {"start": "a", "end": "c", "timeout": 300000, "stepTimeout": 0, "sanitize": "none"}
    })
}

#[test]
fn spec_example_round_trips() {
    let value = spec_example();
    let plan = ExecutionPlan::from_value(value.clone()).unwrap();
    assert_eq!(plan.to_value(), value);
    // Key order survives too (text equality, not just value equality).
    let text = serde_json::to_string(&value).unwrap();
    let plan2 = ExecutionPlan::from_json_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&plan2).unwrap(), text);
}

#[test]
fn spec_example_fields() {
    let plan = ExecutionPlan::from_value(spec_example()).unwrap();
    assert_eq!(plan.id.as_deref(), Some("run-uuid"));
    assert_eq!(plan.start_id(), Some("a"));
    assert_eq!(plan.options.timeout, Some(300_000));
    assert_eq!(plan.options.sanitize, Some(SanitizePolicy::None));
    let a = plan.step("a").unwrap();
    assert!(a.is_job());
    assert_eq!(a.configuration, Some(Lazy::Value(json!({"user": "u"}))));
    let linker = a.linker.as_ref().unwrap();
    assert_eq!(
        linker
            .get("@openfn/language-http")
            .unwrap()
            .version
            .as_deref(),
        Some("7.2.10")
    );
    let Some(Next::Edges(edges)) = &a.next else {
        panic!("edges expected")
    };
    assert_eq!(edges.keys().collect::<Vec<_>>(), ["b", "c", "d", "e"]);
    assert_eq!(edges.get("b"), Some(&EdgeRule::Bool(true)));
    assert_eq!(edges.get("c"), Some(&EdgeRule::Bool(false)));
    assert_eq!(
        edges.get("d"),
        Some(&EdgeRule::Condition("state.data.x > 1".into()))
    );
    assert_eq!(
        edges.get("e"),
        Some(&EdgeRule::Edge(ConditionalEdge {
            condition: Some("on_job_failure".into()),
            label: Some("on fail".into()),
            disabled: Some(false),
            ..ConditionalEdge::default()
        }))
    );
    let b = plan.step("b").unwrap();
    assert_eq!(b.configuration, Some(Lazy::Id("credential-id".into())));
    assert_eq!(b.state, Some(Lazy::Id("dataclip-id".into())));
    assert_eq!(b.next, Some(Next::Id("c".into())));
    assert_eq!(
        b.next.as_ref().unwrap().to_edges(),
        [("c".to_owned(), EdgeRule::Bool(true))]
            .into_iter()
            .collect::<OrderedMap<_>>()
    );
    assert!(!plan.step("trigger").unwrap().is_job());
}

#[test]
fn minimal_plan_and_unknown_keys_round_trip() {
    let value = json!({"workflow": {"steps": [{"expression": "fn()", "adaptor": "common", "openfn": {"uuid": 1}}]}, "x-extra": [1]});
    let plan = ExecutionPlan::from_value(value.clone()).unwrap();
    assert_eq!(plan.start_id(), None);
    assert_eq!(
        plan.workflow.steps[0].extra.get("adaptor"),
        Some(&json!("common"))
    );
    assert_eq!(plan.to_value(), value);
    let empty = ExecutionPlan::from_value(json!({"workflow": {"steps": []}})).unwrap();
    assert_eq!(empty.to_value(), json!({"workflow": {"steps": []}}));
}

#[test]
fn non_string_globals_are_dropped_like_the_kit() {
    let plan =
        ExecutionPlan::from_value(json!({"workflow": {"globals": {"a": 1}, "steps": []}})).unwrap();
    assert_eq!(plan.workflow.globals, None);
}

#[test]
fn null_edge_is_false() {
    let plan = ExecutionPlan::from_value(
        json!({"workflow": {"steps": [{"id": "a", "next": {"b": null}}]}}),
    )
    .unwrap();
    let edges = plan.workflow.steps[0].next.as_ref().unwrap().to_edges();
    assert_eq!(edges.get("b"), Some(&EdgeRule::Bool(false)));
}

#[test]
fn run_options_use_engine_names() {
    let options = RunOptions {
        run_timeout_ms: Some(1000),
        payload_limit_mb: Some(0),
        sanitize: Some(SanitizePolicy::Summarize),
        output_dataclips: Some(false),
        ..RunOptions::default()
    };
    assert_eq!(
        serde_json::to_value(&options).unwrap(),
        json!({"runTimeoutMs": 1000, "payloadLimitMb": 0, "sanitize": "summarize", "outputDataclips": false})
    );
}

fn decode_error(value: Value) -> String {
    match ExecutionPlan::from_value(value) {
        Err(e @ Error::Decode { .. }) => e.to_string(),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[test]
fn wrong_types_name_the_field() {
    let msg = decode_error(json!({"workflow": {"steps": [{"id": "a", "next": 5}]}}));
    assert!(msg.contains("workflow.steps[0].next"), "{msg}");
    assert!(msg.contains("a step id or an object of edges"), "{msg}");

    let msg = decode_error(json!({"workflow": {"steps": [{"id": "a", "next": {"b": 3}}]}}));
    assert!(msg.contains("workflow.steps[0].next.b"), "{msg}");

    let msg = decode_error(json!({"workflow": {"steps": [{"id": 7}]}}));
    assert!(msg.contains("workflow.steps[0].id"), "{msg}");

    let msg = decode_error(json!({"workflow": {"steps": []}, "options": {"sanitize": "loud"}}));
    assert!(msg.contains("options.sanitize"), "{msg}");
    assert!(msg.contains("loud"), "{msg}");

    let msg = decode_error(json!({"workflow": {"steps": {}}}));
    assert!(msg.contains("workflow.steps"), "{msg}");

    let msg = decode_error(json!({"options": {}}));
    assert!(msg.contains("workflow"), "{msg}");
}

#[test]
fn malformed_json_is_a_json_error() {
    let err = ExecutionPlan::from_json_str("{\"workflow\": ").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Json {
                what: "execution plan",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn null_options_and_steps_read_as_empty() {
    let plan =
        ExecutionPlan::from_value(json!({"workflow": {"steps": null}, "options": null})).unwrap();
    assert!(plan.workflow.steps.is_empty());
    assert!(plan.options.is_empty());
}
