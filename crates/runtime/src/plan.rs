//! The execution plan the runtime accepts (execution.md §2.2), its validation (ValidationError
//! texts) and its normalisation into the compiled form the plan loop walks.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::RtError;

/// A workflow to run, as the kit runtime's `ExecutionPlan`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ExecutionPlan {
    /// The run id, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The steps and workflow-level settings.
    pub workflow: Workflow,
    /// Run options (start, end, timeout…).
    #[serde(default)]
    pub options: PlanOptions,
}

/// The `workflow` key of a plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Workflow {
    /// Workflow id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Workflow name, used in logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ESM source whose exports become job globals (kept only if a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<Value>,
    /// Default start step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Merged into every step's `configuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Value>,
    /// Jobs and triggers.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// Where and which version of a module to load.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ModuleInfo {
    /// Directory of the installed package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Version to look up in the repo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A job (has an expression) or a trigger (has none).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Step id; generated (`job-1`…) when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Compiled ESM source of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// `name@version` specifiers, used to pre-fill linker versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adaptors: Vec<String>,
    /// Per-step module overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linker: Option<BTreeMap<String, ModuleInfo>>,
    /// Credentials object, or a credential id resolved through the callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Value>,
    /// Default state object, or a dataclip id resolved through the callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// The compiler's source map (with `operations`).
    #[serde(default, rename = "sourceMap", skip_serializing_if = "Option::is_none")]
    pub source_map: Option<Value>,
    /// Edges: a step id, or a map of step id to edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Value>,
}

/// `plan.options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    /// Step to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Step to stop after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Per-step timeout in ms in the runtime (per run in the engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Per-step timeout in ms used by the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<u64>,
    /// Log sanitisation policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitize: Option<String>,
}

/// An edge after compilation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Edge {
    /// Followed unconditionally.
    Always,
    /// Never followed (false, disabled or without condition).
    Skip,
    /// A JS expression evaluated as `(state, upstreamStepId) => <expr>`.
    Condition(String),
}

/// A step ready to run.
#[derive(Debug, Clone)]
pub(crate) struct CompiledStep {
    pub id: String,
    pub name: Option<String>,
    pub expression: Option<String>,
    pub configuration: Option<Value>,
    pub state: Option<Value>,
    pub source_map: Option<Value>,
    pub linker: BTreeMap<String, ModuleInfo>,
    pub next: Vec<(String, Edge)>,
}

impl CompiledStep {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// A validated plan.
#[derive(Debug, Clone)]
pub(crate) struct CompiledPlan {
    pub steps: HashMap<String, CompiledStep>,
    pub start: String,
    pub end: Option<String>,
    pub timeout: Option<u64>,
    pub globals: Option<String>,
    pub credentials: Option<Value>,
}

/// Split `name@version` at the last `@` (when it is not the first character).
pub fn name_and_version(spec: &str) -> (String, Option<String>) {
    match spec.rfind('@') {
        Some(i) if i > 0 => (spec[..i].to_string(), Some(spec[i + 1..].to_string())),
        _ => (spec.to_string(), None),
    }
}

fn edge_from(value: &Value) -> Edge {
    match value {
        Value::Bool(true) => Edge::Always,
        Value::String(s) => condition(s),
        Value::Object(o) => {
            if o.get("disabled").is_some_and(truthy) {
                return Edge::Skip;
            }
            match o.get("condition") {
                Some(Value::String(s)) if !s.is_empty() => condition(s),
                Some(v) if truthy(v) => Edge::Always,
                _ => Edge::Skip,
            }
        }
        v if truthy(v) => Edge::Always,
        _ => Edge::Skip,
    }
}

fn condition(s: &str) -> Edge {
    match s {
        "always" => Edge::Always,
        "on_job_success" | "on_upstream_success" => {
            Edge::Condition("Boolean(!state?.errors?.[upstreamStepId] ?? true)".to_string())
        }
        "on_job_failure" | "on_upstream_fail" => {
            Edge::Condition("Boolean(state?.errors && state.errors[upstreamStepId])".to_string())
        }
        "" => Edge::Skip,
        other => Edge::Condition(other.to_string()),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn next_ids(next: &Option<Value>) -> Vec<(String, Value)> {
    match next {
        Some(Value::String(s)) => vec![(s.clone(), Value::Bool(true))],
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

/// Validate and normalise a plan (compile-plan + validate-plan of the kit).
pub(crate) fn compile(plan: &ExecutionPlan) -> Result<CompiledPlan, RtError> {
    let mut steps_in: Vec<Step> = plan.workflow.steps.clone();
    let mut counter = 0;
    for step in &mut steps_in {
        if step.id.is_none() {
            counter += 1;
            step.id = Some(format!("job-{counter}"));
        }
    }
    validate(plan, &steps_in)?;

    let mut steps = HashMap::new();
    for step in &steps_in {
        let id = step.id.clone().unwrap_or_default();
        let mut linker = step.linker.clone().unwrap_or_default();
        if step.linker.is_none() {
            for spec in &step.adaptors {
                let (name, version) = name_and_version(spec);
                linker.insert(name, ModuleInfo { path: None, version });
            }
        }
        let next = next_ids(&step.next).into_iter().map(|(k, v)| (k, edge_from(&v))).collect();
        steps.insert(
            id.clone(),
            CompiledStep {
                id,
                name: step.name.clone(),
                expression: step.expression.clone(),
                configuration: step.configuration.clone(),
                state: step.state.clone(),
                source_map: step.source_map.clone(),
                linker,
                next,
            },
        );
    }
    let start = plan
        .options
        .start
        .clone()
        .or_else(|| plan.workflow.start.clone())
        .or_else(|| steps_in.first().and_then(|s| s.id.clone()))
        .unwrap_or_default();
    if !steps.contains_key(&start) && !steps_in.is_empty() {
        return Err(RtError::validation(format!("Could not find start job: {start}")));
    }
    Ok(CompiledPlan {
        steps,
        start,
        end: plan.options.end.clone(),
        timeout: plan.options.timeout,
        globals: match &plan.workflow.globals {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        credentials: plan.workflow.credentials.clone(),
    })
}

fn validate(plan: &ExecutionPlan, steps: &[Step]) -> Result<(), RtError> {
    let ids: Vec<&str> = steps.iter().filter_map(|s| s.id.as_deref()).collect();
    if let Some(start) = &plan.options.start
        && !ids.contains(&start.as_str())
    {
        return Err(RtError::validation(format!("Could not find start job: {start}")));
    }
    // model: insertion-ordered down edges
    let mut order: Vec<String> = Vec::new();
    let mut down: HashMap<String, Vec<String>> = HashMap::new();
    let ensure = |id: &str, order: &mut Vec<String>, down: &mut HashMap<String, Vec<String>>| {
        if !down.contains_key(id) {
            down.insert(id.to_string(), Vec::new());
            order.push(id.to_string());
        }
    };
    for step in steps {
        let id = step.id.clone().unwrap_or_default();
        ensure(&id, &mut order, &mut down);
        for (next, _) in next_ids(&step.next) {
            if !ids.contains(&next.as_str()) {
                return Err(RtError::validation(format!("Cannot find job: {next}")));
            }
            ensure(&next, &mut order, &mut down);
            if let Some(d) = down.get_mut(&id)
                && !d.contains(&next)
            {
                d.push(next);
            }
        }
    }
    fn search(
        down: &HashMap<String, Vec<String>>,
        from: &str,
        target: &str,
        seen: &mut Vec<String>,
    ) -> Result<(), RtError> {
        if seen.iter().any(|s| s == from) {
            return Ok(());
        }
        seen.push(from.to_string());
        for next in down.get(from).map(Vec::as_slice).unwrap_or_default() {
            if next == target {
                return Err(RtError::validation(format!("Circular dependency: {from} <-> {target}")));
            }
            search(down, next, target, seen)?;
        }
        Ok(())
    }
    for id in &order {
        search(&down, id, id, &mut Vec::new())?;
    }
    Ok(())
}

/// Merge step module overrides over the run-level modules (kit `mergeLinkerOptions`).
pub(crate) fn merge_modules(
    base: &BTreeMap<String, ModuleInfo>,
    overrides: &BTreeMap<String, ModuleInfo>,
) -> BTreeMap<String, ModuleInfo> {
    let mut out = base.clone();
    for (spec, info) in overrides {
        let entry = out.entry(spec.clone()).or_default();
        if info.path.is_some() {
            entry.path = info.path.clone();
        }
        if info.version.is_some() {
            entry.version = info.version.clone();
        }
    }
    out
}

/// Parse a plan from JSON.
pub fn parse_plan(json: &str) -> Result<ExecutionPlan, serde_json::Error> {
    serde_json::from_str(json)
}
