//! `POST /run` validation: a plan Lightning could never send is refused with the field at
//! fault (a JSON path such as `jobs[1].body`) and why, before anything is enqueued, instead of
//! failing only once a worker claims it. Short adaptor names (`common`, `http@7`) are expanded
//! as the kit CLI does, with `@latest` when no version is given.
//!
//! [`crate::ServerHandle::enqueue_run`] does not validate: protocol tests use it to hand
//! workers plans Lightning never would.

use std::collections::HashMap;

use openfn_lexicon::lightning::LightningPlan;
use serde_json::{Map, Value, json};

/// One thing wrong with a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Where: a JSON path into the plan (`jobs[0].body`), or empty for the plan itself.
    pub field: String,
    /// Why.
    pub reason: String,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// `field: reason` (or just the reason for the plan itself).
    pub(crate) fn message(&self) -> String {
        if self.field.is_empty() {
            self.reason.clone()
        } else {
            format!("{}: {}", self.field, self.reason)
        }
    }
}

/// The 400 body for refused plans: the first problem as `error` (`invalid plan: <field>:
/// <reason>`), `field` and `reason`, and every problem found in `problems`.
pub(crate) fn problems_json(problems: &[Problem]) -> Value {
    let first = problems.first();
    json!({
        "error": format!("invalid plan: {}", first.map(Problem::message).unwrap_or_default()),
        "field": first.map(|p| p.field.as_str()),
        "reason": first.map(|p| p.reason.as_str()),
        "problems": problems
            .iter()
            .map(|p| json!({"field": p.field, "reason": p.reason}))
            .collect::<Vec<_>>(),
    })
}

/// Checks a plan and expands short adaptor names in place.
///
/// # Errors
/// Every problem found (types first: when a field has the wrong type, only that is reported).
pub(crate) fn check_and_normalise(plan: &mut Value) -> Result<(), Vec<Problem>> {
    let Some(obj) = plan.as_object_mut() else {
        return Err(vec![Problem::new(
            "",
            "the plan must be a JSON object (a Lightning run plan: {\"jobs\": [...], \"triggers\": [...], \"edges\": [...]})",
        )]);
    };
    // Types, with the path of the first bad field. An absent id is generated later.
    let mut probe = Value::Object(obj.clone());
    if let Some(p) = probe.as_object_mut() {
        match p.get("id") {
            None | Some(Value::Null) => {
                p.insert("id".into(), Value::String("generated".into()));
            }
            Some(_) => {}
        }
    }
    if let Err(e) = serde_path_to_error::deserialize::<_, LightningPlan>(probe) {
        let field = match e.path().to_string() {
            p if p == "." => String::new(),
            p => p,
        };
        return Err(vec![Problem::new(field, e.into_inner().to_string())]);
    }
    let mut problems = Vec::new();
    if let Some(Value::String(id)) = obj.get("id")
        && id.is_empty()
    {
        problems.push(Problem::new(
            "id",
            "empty: leave it out to have one generated",
        ));
    }
    let ids = check_nodes(obj, &mut problems);
    check_edges(obj, &ids, &mut problems);
    check_start(obj, &ids, &mut problems);
    if problems.is_empty() {
        expand_adaptors(obj, &mut problems);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// What a node id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Trigger,
    Job,
}

impl Node {
    fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Job => "job",
        }
    }
}

fn array<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// Triggers and jobs: ids present and unique, jobs with a body. Returns id → (kind, path).
fn check_nodes(
    obj: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> HashMap<String, (Node, String)> {
    let mut ids: HashMap<String, (Node, String)> = HashMap::new();
    let jobs = array(obj, "jobs");
    if jobs.is_empty() {
        problems.push(Problem::new(
            "jobs",
            "a plan needs at least one job ({\"id\": \"j1\", \"adaptor\": \"@openfn/language-common@latest\", \"body\": \"fn(s => s)\"})",
        ));
    }
    for (key, kind) in [("triggers", Node::Trigger), ("jobs", Node::Job)] {
        for (i, node) in array(obj, key).iter().enumerate() {
            let path = format!("{key}[{i}]");
            match node.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => {
                    if let Some((other, at)) = ids.get(id) {
                        problems.push(Problem::new(
                            format!("{path}.id"),
                            format!(
                                "{id:?} is used twice (also the {} at {at}): ids must be unique across triggers and jobs",
                                other.as_str()
                            ),
                        ));
                    } else {
                        ids.insert(id.to_owned(), (kind, path.clone()));
                    }
                }
                _ => problems.push(Problem::new(
                    format!("{path}.id"),
                    format!("missing: every {} needs an id", kind.as_str()),
                )),
            }
            if kind == Node::Job && node.get("body").is_none_or(Value::is_null) {
                problems.push(Problem::new(
                    format!("{path}.body"),
                    "missing: a job needs its source code (e.g. \"fn(s => s)\")",
                ));
            }
        }
    }
    ids
}

/// Edges: exactly one source, and every end names an existing node of the right kind.
fn check_edges(
    obj: &Map<String, Value>,
    ids: &HashMap<String, (Node, String)>,
    problems: &mut Vec<Problem>,
) {
    let mut edge_ids: HashMap<&str, usize> = HashMap::new();
    for (i, edge) in array(obj, "edges").iter().enumerate() {
        let path = format!("edges[{i}]");
        if let Some(id) = edge.get("id").and_then(Value::as_str)
            && let Some(first) = edge_ids.insert(id, i)
        {
            problems.push(Problem::new(
                format!("{path}.id"),
                format!("{id:?} is used twice (also edges[{first}])"),
            ));
        }
        let field = |name: &str| {
            edge.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let ends = [
            (
                "source_trigger_id",
                Node::Trigger,
                field("source_trigger_id"),
            ),
            ("source_job_id", Node::Job, field("source_job_id")),
            ("target_job_id", Node::Job, field("target_job_id")),
        ];
        match (ends[0].2, ends[1].2) {
            (None, None) => problems.push(Problem::new(
                format!("{path}.source_trigger_id"),
                "missing: an edge needs source_trigger_id or source_job_id",
            )),
            (Some(_), Some(_)) => problems.push(Problem::new(
                format!("{path}.source_job_id"),
                "an edge has one source: source_trigger_id or source_job_id, not both",
            )),
            _ => {}
        }
        for (name, want, value) in ends {
            let Some(id) = value else { continue };
            match ids.get(id) {
                Some((kind, _)) if *kind == want => {}
                Some((kind, at)) => problems.push(Problem::new(
                    format!("{path}.{name}"),
                    format!(
                        "{id:?} is a {} ({at}), not a {}",
                        kind.as_str(),
                        want.as_str()
                    ),
                )),
                None => problems.push(Problem::new(
                    format!("{path}.{name}"),
                    format!("no {} has id {id:?}", want.as_str()),
                )),
            }
        }
    }
}

/// The start: `starting_node_id` names a node; without it there must be a trigger.
fn check_start(
    obj: &Map<String, Value>,
    ids: &HashMap<String, (Node, String)>,
    problems: &mut Vec<Problem>,
) {
    match obj.get("starting_node_id").and_then(Value::as_str) {
        Some(start) if !start.is_empty() => {
            if !ids.contains_key(start) {
                problems.push(Problem::new(
                    "starting_node_id",
                    format!("no trigger or job has id {start:?}"),
                ));
            }
        }
        _ => {
            if array(obj, "triggers").is_empty() {
                problems.push(Problem::new(
                    "triggers",
                    "missing: a plan starts at a trigger ([{\"id\": \"webhook\"}] with an edge to the first job) or at the job named by starting_node_id",
                ));
            }
        }
    }
}

/// Expands short adaptor names in place (`common` → `@openfn/language-common@latest`,
/// `http@7` → `@openfn/language-http@7`), like the kit CLI (which leaves the version to the
/// installer; a Lightning plan always carries one). Names with a `/` are package names and
/// stay as they are; CLI path forms (`common=./path`, `x.js`) are refused.
fn expand_adaptors(obj: &mut Map<String, Value>, problems: &mut Vec<Problem>) {
    let Some(Value::Array(jobs)) = obj.get_mut("jobs") else {
        return;
    };
    for (i, job) in jobs.iter_mut().enumerate() {
        let Some(adaptor) = job.get_mut("adaptor") else {
            continue;
        };
        let Some(name) = adaptor.as_str().map(|a| a.trim().to_owned()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if name.contains('=') || name.ends_with(".js") || name.contains(char::is_whitespace) {
            problems.push(Problem::new(
                format!("jobs[{i}].adaptor"),
                format!(
                    "{name:?} is not an adaptor package: a plan names one like \"@openfn/language-common@latest\" (or the short \"common\")"
                ),
            ));
            continue;
        }
        if name.contains('/') {
            continue;
        }
        let (short, version) = match name.split_once('@') {
            Some((short, version)) if !version.is_empty() => (short, version),
            Some((short, _)) => (short, "latest"),
            None => (name.as_str(), "latest"),
        };
        let short = short.strip_prefix("language-").unwrap_or(short);
        if short.is_empty() {
            problems.push(Problem::new(
                format!("jobs[{i}].adaptor"),
                format!("{name:?} names no adaptor"),
            ));
            continue;
        }
        let expanded = format!("@openfn/language-{short}@{version}");
        *adaptor = Value::String(expanded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({
            "triggers": [{"id": "t"}],
            "jobs": [{"id": "j", "adaptor": "common", "body": "fn(s => s)"},
                     {"id": "k", "adaptor": "http@7", "body": "x"},
                     {"id": "l", "adaptor": "@openfn/language-common@1.0.0", "body": "x"},
                     {"id": "m", "adaptor": "", "body": ""}],
            "edges": [{"id": "e", "source_trigger_id": "t", "target_job_id": "j"},
                      {"id": "f", "source_job_id": "j", "target_job_id": "k"}],
            "starting_node_id": "t"
        })
    }

    fn fields(plan: Value) -> Vec<String> {
        let mut plan = plan;
        check_and_normalise(&mut plan)
            .expect_err("refused")
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn a_good_plan_passes_with_adaptors_expanded() {
        let mut plan = good();
        check_and_normalise(&mut plan).expect("valid");
        let adaptors: Vec<&str> = plan["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| j["adaptor"].as_str())
            .collect();
        assert_eq!(
            adaptors,
            [
                "@openfn/language-common@latest",
                "@openfn/language-http@7",
                "@openfn/language-common@1.0.0",
                ""
            ]
        );
    }

    #[test]
    fn each_mistake_names_its_field() {
        assert_eq!(fields(json!({})), ["jobs", "triggers"]);
        let mut p = good();
        p["jobs"][1]
            .as_object_mut()
            .map(|j| j.remove("body"))
            .expect("job");
        assert_eq!(fields(p), ["jobs[1].body"]);
        let mut p = good();
        p["edges"][1]["target_job_id"] = json!("nope");
        assert_eq!(fields(p), ["edges[1].target_job_id"]);
        let mut p = good();
        p["edges"][0]["source_trigger_id"] = json!("j");
        assert_eq!(fields(p), ["edges[0].source_trigger_id"]);
        let mut p = good();
        p["jobs"][2]["id"] = json!("t");
        assert_eq!(fields(p), ["jobs[2].id"]);
        let mut p = good();
        p["starting_node_id"] = json!("gone");
        assert_eq!(fields(p), ["starting_node_id"]);
        let mut p = good();
        p["jobs"][0]["adaptor"] = json!("common=./src");
        assert_eq!(fields(p), ["jobs[0].adaptor"]);
        assert_eq!(fields(json!({"jobs": [{"id": 1}]})), ["jobs[0].id"]);
    }

    #[test]
    fn a_plan_may_start_at_a_job_without_triggers() {
        let mut plan = json!({"jobs": [{"id": "a", "body": "x"}], "starting_node_id": "a"});
        check_and_normalise(&mut plan).expect("valid");
    }
}
