//! The Lightning plan (`fetch:plan` reply) and its conversion to the runtime's `ExecutionPlan`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::de::null_as_default;
use crate::failure::{Result, decode_str, decode_value};
use crate::ordered::OrderedMap;
use crate::plan::{
    ConditionalEdge, EdgeRule, ExecutionPlan, Lazy, ModuleInfo, Next, PlanOptions, RunOptions,
    SanitizePolicy, Step, Workflow,
};

/// The `fetch:plan` reply: one run of a workflow (docs/protocol.md §3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LightningPlan {
    /// The run id.
    pub id: String,
    /// Workflow name (not sent by Lightning today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The project id (newer Lightning; used for collections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The input dataclip id, if any.
    #[serde(default)]
    pub dataclip_id: Option<String>,
    /// The trigger or job to start from.
    #[serde(default)]
    pub starting_node_id: Option<String>,
    /// Triggers (Lightning sends only ids).
    #[serde(default, deserialize_with = "null_as_default")]
    pub triggers: Vec<LightningTrigger>,
    /// Jobs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub jobs: Vec<LightningJob>,
    /// Edges.
    #[serde(default, deserialize_with = "null_as_default")]
    pub edges: Vec<LightningEdge>,
    /// Run options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<LightningPlanOptions>,
    /// Globals source; the kit uses it only if it is a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<Value>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A trigger node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LightningTrigger {
    /// The id (`trigger` when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `webhook` or `cron` (allowed by the kit type; Lightning doesn't send it).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A job node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LightningJob {
    /// The job id (a random uuid is used when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Full adaptor specifier, e.g. `@openfn/language-common@1.6.2` or `…@local`.
    #[serde(default)]
    pub adaptor: Option<String>,
    /// Job source.
    #[serde(default)]
    pub body: Option<String>,
    /// Credential to fetch lazily.
    #[serde(default)]
    pub credential_id: Option<String>,
    /// Kit/mock extra: a credential id or an inline credential object (wins over
    /// `credential_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Lazy>,
    /// Kit/mock extra: the step's default state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An edge between nodes; one of the two sources is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LightningEdge {
    /// Edge id.
    #[serde(default)]
    pub id: Option<String>,
    /// Source trigger.
    #[serde(default)]
    pub source_trigger_id: Option<String>,
    /// Source job.
    #[serde(default)]
    pub source_job_id: Option<String>,
    /// Target job.
    pub target_job_id: String,
    /// `always`, `on_job_success`, `on_job_failure`, `on_upstream_*`, or a JS expression.
    #[serde(default)]
    pub condition: Option<String>,
    /// `false` disables the edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Keys this type does not know (`name`, `error_path`…), kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The plan's `options`. Only keys present (and not `null`) override worker defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LightningPlanOptions {
    /// Kill timer for the whole run, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
    /// Run memory limit in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_memory_limit_mb: Option<u64>,
    /// Payload limit in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_limit_mb: Option<u64>,
    /// Log payload limit in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_payload_limit_mb: Option<u64>,
    /// Runtime state limit in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_limit_mb: Option<u64>,
    /// Log sanitise policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitize: Option<SanitizePolicy>,
    /// In the type but not mapped (the kit uses `starting_node_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Only an explicit `false` withholds dataclip bodies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclips: Option<bool>,
    /// Job logger level (`none` silences `JOB` logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_log_level: Option<String>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Collections set-up for [`LightningPlan::to_execution_plan`] (docs/protocol.md §7.4). Pass it
/// only when the worker has a collections URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionsConfig {
    /// `@openfn/language-collections` version to add (`latest` resolved by the caller).
    pub version: String,
    /// The collections endpoint URL.
    pub endpoint: String,
    /// The collections token: the run's JWT.
    pub token: String,
}

/// Options of the Lightning plan → execution plan conversion.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Collections injection, when enabled.
    pub collections: Option<CollectionsConfig>,
    /// Adaptor monorepo roots for `@local` adaptors, in precedence order.
    pub monorepo_roots: Vec<PathBuf>,
    /// Tells whether `<root>/packages/<name>` holds an adaptor (has a `package.json`); the
    /// first root that does wins. Without a probe, or when none does, the first root is used.
    pub local_package_exists: Option<fn(&Path) -> bool>,
    /// Run start time (ms since epoch) for the `meta` job global.
    pub start_time_ms: Option<u64>,
}

/// The result of converting a Lightning plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedPlan {
    /// The runtime plan.
    pub plan: ExecutionPlan,
    /// Per-run engine options taken from the plan's options.
    pub options: RunOptions,
    /// The initial input: the dataclip id to fetch, or `{}`.
    pub input: Lazy,
}

/// `name@version` split at the last `@` (when it is not the first character).
pub fn name_and_version(specifier: &str) -> (&str, Option<&str>) {
    match specifier.rfind('@') {
        Some(i) if i > 0 => (&specifier[..i], Some(&specifier[i + 1..])),
        _ => (specifier, None),
    }
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

impl LightningPlan {
    /// Parses a plan from JSON text.
    ///
    /// # Errors
    /// [`Error::Json`] for bad JSON, [`Error::Decode`] naming the field path otherwise.
    pub fn from_json_str(text: &str) -> Result<Self> {
        decode_str("lightning plan", text)
    }

    /// Parses a plan from a JSON value (e.g. a `fetch:plan` reply response).
    ///
    /// # Errors
    /// As [`LightningPlan::from_json_str`].
    pub fn from_value(value: Value) -> Result<Self> {
        decode_value("lightning plan", value)
    }

    /// The plan as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Converts to the runtime plan, engine options and input, as the kit worker does
    /// (docs/protocol.md §3.5): triggers first then jobs, disabled trigger edges dropped, job edges
    /// as `{condition?, disabled?}` or `true`, `configuration` from `credential` or
    /// `credential_id`, collections and `@local` adaptors per `options`.
    ///
    /// One deliberate difference: a trigger edge whose `condition` is `null` (as Lightning
    /// renders absent fields) maps to `true`, like an absent one.
    pub fn to_execution_plan(&self, options: &ConvertOptions) -> ConvertedPlan {
        let mut nodes: OrderedMap<Step> = OrderedMap::new();
        for trigger in &self.triggers {
            let (id, step) = self.trigger_step(trigger);
            nodes.insert(id, step);
        }
        for job in &self.jobs {
            let (id, step) = self.job_step(job);
            nodes.insert(id, step);
        }
        let workflow = self.workflow(nodes.into_iter().map(|(_, step)| step).collect(), options);

        let plan = ExecutionPlan {
            id: Some(self.id.clone()),
            workflow,
            options: PlanOptions {
                start: non_empty(&self.starting_node_id).map(str::to_owned),
                ..PlanOptions::default()
            },
            extra: Map::new(),
        };

        ConvertedPlan {
            plan,
            options: self.run_options(options.start_time_ms),
            input: match non_empty(&self.dataclip_id) {
                Some(id) => Lazy::Id(id.to_owned()),
                None => Lazy::Value(json!({})),
            },
        }
    }

    /// A trigger as a step with no expression: its enabled edges, `true` unless conditional.
    fn trigger_step(&self, trigger: &LightningTrigger) -> (String, Step) {
        let id = non_empty(&trigger.id).unwrap_or("trigger").to_owned();
        let connected: Vec<&LightningEdge> = self
            .edges
            .iter()
            .filter(|e| e.source_trigger_id.as_deref() == Some(id.as_str()))
            .collect();
        let next = (!connected.is_empty()).then(|| {
            let edges = connected
                .into_iter()
                .filter(|e| e.enabled != Some(false))
                .map(|e| {
                    let rule = match e.condition.as_deref() {
                        None | Some("always") => EdgeRule::Bool(true),
                        Some(c) => EdgeRule::Condition(c.to_owned()),
                    };
                    (e.target_job_id.clone(), rule)
                })
                .collect();
            Next::Edges(edges)
        });
        let step = Step {
            id: Some(id.clone()),
            next,
            ..Step::default()
        };
        (id, step)
    }

    /// A job as a step: expression, adaptor, configuration from `credential` or
    /// `credential_id`, its state, and its edges as `{condition?, disabled?}` or `true`.
    fn job_step(&self, job: &LightningJob) -> (String, Step) {
        let id = non_empty(&job.id)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let configuration = match &job.credential {
            Some(Lazy::Id(s)) if !s.is_empty() => Some(Lazy::Id(s.clone())),
            Some(Lazy::Value(v)) if truthy(v) => Some(Lazy::Value(v.clone())),
            _ => non_empty(&job.credential_id).map(|s| Lazy::Id(s.to_owned())),
        };
        let edges: OrderedMap<EdgeRule> = self
            .edges
            .iter()
            .filter(|e| e.source_job_id.as_deref() == Some(id.as_str()))
            .map(|e| {
                let edge = ConditionalEdge {
                    condition: non_empty(&e.condition).map(str::to_owned),
                    disabled: (e.enabled == Some(false)).then_some(true),
                    ..ConditionalEdge::default()
                };
                let rule = if edge.condition.is_none() && edge.disabled.is_none() {
                    EdgeRule::Bool(true)
                } else {
                    EdgeRule::Edge(edge)
                };
                (e.target_job_id.clone(), rule)
            })
            .collect();
        let step = Step {
            id: Some(id.clone()),
            name: non_empty(&job.name).map(str::to_owned),
            expression: job.body.clone(),
            adaptors: Some(
                non_empty(&job.adaptor)
                    .map(|a| vec![a.to_owned()])
                    .unwrap_or_default(),
            ),
            configuration,
            state: job
                .state
                .as_ref()
                .filter(|s| truthy(s))
                .cloned()
                .map(Lazy::Value),
            next: (!edges.is_empty()).then_some(Next::Edges(edges)),
            ..Step::default()
        };
        (id, step)
    }

    /// The workflow around the steps: name, globals, the collections adaptor and its
    /// credentials where a step uses collections, and `@local` adaptors per `options`.
    fn workflow(&self, steps: Vec<Step>, options: &ConvertOptions) -> Workflow {
        let mut workflow = Workflow {
            steps,
            ..Workflow::default()
        };
        if let Some(Value::String(globals)) = &self.globals
            && !globals.is_empty()
        {
            workflow.globals = Some(globals.clone());
        }
        workflow.name = non_empty(&self.name).map(str::to_owned);

        if let Some(collections) = &options.collections
            && add_collections_adaptor(&mut workflow.steps, &collections.version)
        {
            let mut credentials = Map::new();
            credentials.insert("collections_token".into(), json!(collections.token));
            credentials.insert("collections_endpoint".into(), json!(collections.endpoint));
            if let Some(project) = non_empty(&self.project_id) {
                credentials.insert("project_id".into(), json!(project));
            }
            workflow.credentials = Some(credentials);
        }

        if !options.monorepo_roots.is_empty() {
            for step in &mut workflow.steps {
                link_local_adaptors(step, options);
            }
        }
        workflow
    }

    fn run_options(&self, start_time_ms: Option<u64>) -> RunOptions {
        let mut meta = Map::new();
        meta.insert("runId".into(), json!(self.id));
        if let Some(t) = start_time_ms {
            meta.insert("startTime".into(), json!(t));
        }
        let mut globals = Map::new();
        globals.insert("meta".into(), Value::Object(meta));
        let mut out = RunOptions {
            globals: Some(globals),
            ..RunOptions::default()
        };
        if let Some(o) = &self.options {
            out.run_timeout_ms = o.run_timeout_ms;
            out.memory_limit_mb = o.run_memory_limit_mb;
            out.payload_limit_mb = o.payload_limit_mb;
            out.log_payload_limit_mb = o.log_payload_limit_mb;
            out.state_limit_mb = o.state_limit_mb;
            out.sanitize = o.sanitize;
            out.output_dataclips = o.output_dataclips;
            out.job_log_level.clone_from(&o.job_log_level);
        }
        out
    }
}

const COLLECTIONS_ADAPTOR: &str = "@openfn/language-collections";

fn add_collections_adaptor(steps: &mut [Step], version: &str) -> bool {
    let mut found = false;
    for step in steps {
        if step
            .expression
            .as_deref()
            .is_some_and(|e| e.contains("collections."))
        {
            found = true;
            let adaptors = step.adaptors.get_or_insert_with(Vec::new);
            if !adaptors.iter().any(|a| a.starts_with(COLLECTIONS_ADAPTOR)) {
                adaptors.push(format!("{COLLECTIONS_ADAPTOR}@{version}"));
            }
        }
    }
    found
}

fn link_local_adaptors(step: &mut Step, options: &ConvertOptions) {
    let Some(adaptors) = &step.adaptors else {
        return;
    };
    for adaptor in adaptors {
        let (name, version) = name_and_version(adaptor);
        if version != Some("local") {
            continue;
        }
        let short = name.replace("@openfn/language-", "");
        let candidates = options
            .monorepo_roots
            .iter()
            .map(|root| root.join("packages").join(&short));
        let chosen = match options.local_package_exists {
            Some(exists) => candidates.clone().find(|p| exists(p)),
            None => None,
        }
        .or_else(|| candidates.clone().next());
        if let Some(path) = chosen {
            step.linker.get_or_insert_with(OrderedMap::new).insert(
                name,
                ModuleInfo {
                    path: Some(path.to_string_lossy().into_owned()),
                    version: Some("local".into()),
                },
            );
        }
    }
}
