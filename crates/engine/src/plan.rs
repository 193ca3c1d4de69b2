//! The few things the supervisor reads from (and writes into) an execution plan: its id, the
//! adaptors to install, the credential ids to pre-load, and each step's `linker` entry.
//!
//! The supervisor does not interpret job code or states; the plan is handed to the child as is.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// The execution plan given to [`crate::Engine::execute`] (docs/execution.md §2.2).
pub use openfn_lexicon::plan::ExecutionPlan;

/// The plan as JSON, which is all the supervisor reads and edits before handing it on.
pub type PlanJson = Value;

/// The plan's id (`workflowId` of every event), if it has one.
pub fn plan_id(plan: &PlanJson) -> Option<&str> {
    plan.get("id").and_then(Value::as_str)
}

fn steps(plan: &PlanJson) -> impl Iterator<Item = &Value> {
    plan.pointer("/workflow/steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Adaptor specifiers of every step (`adaptors: [...]` or a single `adaptor`), de-duplicated.
pub fn adaptors(plan: &PlanJson) -> Vec<String> {
    let mut out = BTreeSet::new();
    for step in steps(plan) {
        if let Some(list) = step.get("adaptors").and_then(Value::as_array) {
            out.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        if let Some(one) = step.get("adaptor").and_then(Value::as_str) {
            out.insert(one.to_owned());
        }
    }
    out.into_iter().collect()
}

/// Whether a step of the plan already says where `name` lives (`linker[name].path`).
pub fn has_linker_path(plan: &PlanJson, name: &str) -> bool {
    steps(plan).any(|s| {
        s.get("linker")
            .and_then(|l| l.get(name))
            .and_then(|m| m.get("path"))
            .is_some()
    })
}

/// Every step's linked modules (`linker[name].path`): name → directory. Several steps naming
/// different directories for one name keep the last (the set is a template key, not a linker).
pub fn linked_dirs(plan: &PlanJson) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for step in steps(plan) {
        let Some(linker) = step.get("linker").and_then(Value::as_object) else {
            continue;
        };
        for (name, module) in linker {
            if let Some(path) = module.get("path").and_then(Value::as_str) {
                out.insert(name.clone(), path.to_owned());
            }
        }
    }
    out
}

/// Ids of string `configuration` values (credentials to pre-load), de-duplicated, in order.
pub fn credential_ids(plan: &PlanJson) -> Vec<String> {
    let mut seen = BTreeSet::new();
    steps(plan)
        .filter_map(|s| s.get("configuration").and_then(Value::as_str))
        .filter(|id| seen.insert(*id))
        .map(str::to_owned)
        .collect()
}

/// Points every step that uses adaptor `name` at the installed `path`/`version`.
pub fn set_linker(plan: &mut PlanJson, name: &str, path: &str, version: &str) {
    let Some(steps) = plan
        .pointer_mut("/workflow/steps")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for step in steps {
        let uses = step
            .get("adaptors")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .any(|s| crate::install::split_specifier(s).0 == name)
            })
            || step
                .get("adaptor")
                .and_then(Value::as_str)
                .is_some_and(|s| crate::install::split_specifier(s).0 == name);
        let Some(obj) = step.as_object_mut().filter(|_| uses) else {
            continue;
        };
        let linker = obj
            .entry("linker")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(linker) = linker.as_object_mut() {
            linker.insert(name.to_owned(), json!({ "path": path, "version": version }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_adaptors_and_credentials_and_writes_linkers() {
        let mut plan = json!({
            "id": "p",
            "workflow": { "steps": [
                { "id": "a", "adaptors": ["@openfn/language-common@3.3.4"], "configuration": "c1" },
                { "id": "b", "adaptor": "@openfn/language-http@7.2.10", "configuration": "c1" },
                { "id": "t", "next": { "a": true } }
            ]}
        });
        assert_eq!(plan_id(&plan), Some("p"));
        assert_eq!(
            adaptors(&plan),
            vec![
                "@openfn/language-common@3.3.4",
                "@openfn/language-http@7.2.10"
            ]
        );
        assert_eq!(credential_ids(&plan), vec!["c1"]);
        set_linker(&mut plan, "@openfn/language-http", "/r/x", "7.2.10");
        assert_eq!(
            plan.pointer("/workflow/steps/1/linker/@openfn~1language-http/path"),
            Some(&json!("/r/x"))
        );
        assert!(plan.pointer("/workflow/steps/0/linker").is_none());
        assert!(has_linker_path(&plan, "@openfn/language-http"));
        assert_eq!(
            linked_dirs(&plan)
                .get("@openfn/language-http")
                .map(String::as_str),
            Some("/r/x")
        );
    }
}
