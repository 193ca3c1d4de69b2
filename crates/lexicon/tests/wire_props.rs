//! Property tests: plan and payload decoders never panic on arbitrary JSON, the Lightning plan
//! conversion never panics on any plan that decodes, and decoded plans re-encode to JSON that
//! decodes to the same plan.

use openfn_lexicon::lightning::{ConvertOptions, LightningPlan, WorkerPush};
use openfn_lexicon::plan::ExecutionPlan;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z:@._ -]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys biased towards the ones the decoders know, so the shapes get explored.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "workflow",
            "steps",
            "options",
            "next",
            "expression",
            "configuration",
            "state",
            "adaptors",
            "linker",
            "jobs",
            "triggers",
            "edges",
            "source_trigger_id",
            "source_job_id",
            "target_job_id",
            "condition",
            "enabled",
            "body",
            "adaptor",
            "credential",
            "credential_id",
            "dataclip_id",
            "starting_node_id",
            "globals",
            "name",
            "step_id",
            "job_id",
            "reason",
            "timestamp",
            "logs",
            "message",
            "level",
            "source",
            "run_id",
            "event",
            "payload",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{0,6}",
    ]
}

proptest! {
    #[test]
    fn execution_plan_decode_never_panics_and_round_trips(value in json_value()) {
        if let Ok(plan) = ExecutionPlan::from_value(value) {
            let again = ExecutionPlan::from_value(plan.to_value()).unwrap();
            prop_assert_eq!(again, plan);
        }
    }

    #[test]
    fn lightning_plan_decode_and_convert_never_panic(value in json_value()) {
        if let Ok(plan) = LightningPlan::from_value(value) {
            let again = LightningPlan::from_value(plan.to_value()).unwrap();
            prop_assert_eq!(&again, &plan);
            let converted = plan.to_execution_plan(&ConvertOptions::default());
            let back = ExecutionPlan::from_value(converted.plan.to_value()).unwrap();
            prop_assert_eq!(back, converted.plan);
        }
    }

    #[test]
    fn worker_push_decode_never_panics(
        event in prop::sample::select(vec![
            "claim", "fetch:plan", "fetch:credential", "fetch:dataclip", "run:start", "step:start",
            "step:complete", "run:log", "run:batch_logs", "run:complete", "work-available", "nope",
        ]),
        payload in json_value(),
    ) {
        if let Ok(push) = WorkerPush::decode(event, payload.clone()) {
            prop_assert_eq!(WorkerPush::decode(event, push.to_payload()).unwrap(), push);
        }
    }
}

fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "t"]).prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        Value::Null,
        Value::from("always"),
        Value::from("on_job_success"),
        Value::from("on_job_failure"),
        Value::from("state.x > 1"),
        Value::from(""),
    ])
}

fn lightning_plan_json() -> impl Strategy<Value = Value> {
    let trigger = id().prop_map(|id| serde_json::json!({"id": id}));
    let job = (id(), prop::option::of("[a-z ]{0,8}"), prop::sample::select(vec!["", "@openfn/language-common@1.0.0", "@openfn/language-http@local"]), prop::option::of("[a-z.()]{0,12}"))
        .prop_map(|(id, name, adaptor, body)| serde_json::json!({"id": id, "name": name, "adaptor": adaptor, "body": body, "credential_id": null}));
    let edge = (any::<bool>(), id(), id(), condition(), prop::option::of(any::<bool>()))
        .prop_map(|(from_trigger, source, target, condition, enabled)| {
            let (trigger, job) = if from_trigger { (source, Value::Null) } else { (Value::Null, source) };
            let target = if target.is_null() { Value::from("a") } else { target };
            serde_json::json!({"source_trigger_id": trigger, "source_job_id": job, "target_job_id": target, "condition": condition, "enabled": enabled})
        });
    (
        prop::collection::vec(trigger, 0..3),
        prop::collection::vec(job, 0..5),
        prop::collection::vec(edge, 0..8),
        prop::option::of("[a-z]{1,3}"),
    )
        .prop_map(|(triggers, jobs, edges, dataclip)| {
            serde_json::json!({"id": "run", "triggers": triggers, "jobs": jobs, "edges": edges, "dataclip_id": dataclip, "starting_node_id": "t"})
        })
}

proptest! {
    #[test]
    fn conversion_invariants(value in lightning_plan_json()) {
        let plan = LightningPlan::from_value(value).unwrap();
        let converted = plan.to_execution_plan(&ConvertOptions {
            monorepo_roots: vec!["/repo".into()],
            ..ConvertOptions::default()
        });
        let steps = &converted.plan.workflow.steps;
        // Every step has an id, ids are unique.
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_deref().unwrap()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assert_eq!(unique.len(), ids.len());
        for step in steps {
            let id = step.id.as_deref().unwrap();
            let is_job_node = plan.jobs.iter().any(|j| j.id.as_deref().filter(|s| !s.is_empty()) == Some(id))
                || !plan.triggers.iter().any(|t| t.id.as_deref().filter(|s| !s.is_empty()).unwrap_or("trigger") == id);
            if is_job_node {
                // Jobs always carry an adaptors list.
                prop_assert!(step.adaptors.is_some());
            }
            if let Some(next) = &step.next {
                for target in next.targets() {
                    // Every edge in `next` comes from an edge of the plan.
                    prop_assert!(plan.edges.iter().any(|e| e.target_job_id == target));
                }
            }
            if let Some(linker) = &step.linker {
                for (name, info) in linker.iter() {
                    prop_assert_eq!(info.version.as_deref(), Some("local"));
                    prop_assert!(info.path.as_deref().unwrap().starts_with("/repo/packages/"), "{}", name);
                }
            }
        }
        // Disabled trigger edges never appear.
        for edge in plan.edges.iter().filter(|e| e.enabled == Some(false)) {
            if let Some(trigger) = &edge.source_trigger_id {
                let is_trigger = plan.triggers.iter().any(|t| t.id.as_deref().filter(|s| !s.is_empty()).unwrap_or("trigger") == trigger)
                    && !plan.jobs.iter().any(|j| j.id.as_deref() == Some(trigger.as_str()));
                if !is_trigger {
                    continue;
                }
                let step = steps.iter().find(|s| s.id.as_deref() == Some(trigger.as_str()));
                if let Some(next) = step.and_then(|s| s.next.as_ref()) {
                    let enabled_twin = plan.edges.iter().any(|e| e.source_trigger_id.as_ref() == Some(trigger)
                        && e.target_job_id == edge.target_job_id && e.enabled != Some(false));
                    if !enabled_twin {
                        prop_assert!(!next.targets().contains(&edge.target_job_id.as_str()));
                    }
                }
            }
        }
        // The plan survives a JSON round-trip.
        let back = ExecutionPlan::from_value(converted.plan.to_value()).unwrap();
        prop_assert_eq!(back, converted.plan);
    }
}
