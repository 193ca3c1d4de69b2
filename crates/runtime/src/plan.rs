//! The execution plan the runtime accepts (docs/execution.md §2.2), its validation (ValidationError
//! texts) and its normalisation into the compiled form the plan loop walks.

use std::collections::{BTreeMap, HashMap};

use openfn_lexicon::plan::{EdgeRule, ExecutionPlan, Lazy, ModuleInfo, Next, Step};
use serde_json::Value;

use crate::error::RtError;

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
    pub configuration: Option<Lazy>,
    pub state: Option<Lazy>,
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

fn edge_from(rule: &EdgeRule) -> Edge {
    match rule {
        EdgeRule::Bool(true) => Edge::Always,
        EdgeRule::Bool(false) => Edge::Skip,
        EdgeRule::Condition(s) => condition(s),
        EdgeRule::Edge(e) => {
            if e.disabled == Some(true) {
                return Edge::Skip;
            }
            match &e.condition {
                Some(c) if !c.is_empty() => condition(c),
                _ => Edge::Skip,
            }
        }
    }
}

fn condition(s: &str) -> Edge {
    match s {
        // The kit compiles `always` to the condition `true`, evaluates it and logs the result.
        "always" => Edge::Condition("true".to_string()),
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

fn next_ids(next: &Option<Next>) -> Vec<(String, EdgeRule)> {
    match next {
        Some(n) => n.to_edges().into_iter().collect(),
        None => Vec::new(),
    }
}

/// Validate and normalise a plan (compile-plan + validate-plan of the kit).
pub(crate) fn compile(plan: &ExecutionPlan) -> Result<CompiledPlan, Box<RtError>> {
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
        let mut linker: BTreeMap<String, ModuleInfo> = step
            .linker
            .clone()
            .map(|l| l.into_iter().collect())
            .unwrap_or_default();
        if step.linker.is_none() {
            for spec in step.adaptors.iter().flatten() {
                let (name, version) = name_and_version(spec);
                linker.insert(
                    name,
                    ModuleInfo {
                        path: None,
                        version,
                    },
                );
            }
        }
        let next = next_ids(&step.next)
            .into_iter()
            .map(|(k, v)| (k, edge_from(&v)))
            .collect();
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
        return Err(Box::new(RtError::validation(format!(
            "Could not find start job: {start}"
        ))));
    }
    Ok(CompiledPlan {
        steps,
        start,
        end: plan.options.end.clone(),
        timeout: plan.options.timeout,
        globals: plan.workflow.globals.clone(),
        credentials: plan.workflow.credentials.clone().map(Value::Object),
    })
}

fn validate(plan: &ExecutionPlan, steps: &[Step]) -> Result<(), Box<RtError>> {
    let ids: Vec<&str> = steps.iter().filter_map(|s| s.id.as_deref()).collect();
    if let Some(start) = &plan.options.start
        && !ids.contains(&start.as_str())
    {
        return Err(Box::new(RtError::validation(format!(
            "Could not find start job: {start}"
        ))));
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
                return Err(Box::new(RtError::validation(format!(
                    "Cannot find job: {next}"
                ))));
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
    ) -> Result<(), Box<RtError>> {
        if seen.iter().any(|s| s == from) {
            return Ok(());
        }
        seen.push(from.to_string());
        for next in down.get(from).map(Vec::as_slice).unwrap_or_default() {
            if next == target {
                return Err(Box::new(RtError::validation(format!(
                    "Circular dependency: {from} <-> {target}"
                ))));
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

/// A one-step plan for a single compiled expression (the kit's `run(expression)` form): the
/// step id is `default_step_id` or `job-1`.
pub fn plan_from_expression(
    expression: &str,
    source_map: Option<Value>,
    default_step_id: Option<&str>,
) -> ExecutionPlan {
    let mut plan = ExecutionPlan::default();
    plan.workflow.id = Some("workflow".to_string());
    plan.workflow.steps.push(Step {
        id: default_step_id.map(str::to_string),
        expression: Some(expression.to_string()),
        source_map,
        ..Step::default()
    });
    plan
}
