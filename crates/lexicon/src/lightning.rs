//! The Lightning ⇄ worker vocabulary (docs/protocol.md §3): channel topics and event names, the
//! Lightning plan (`fetch:plan` reply) and its conversion to the runtime [`ExecutionPlan`],
//! claims, and every worker→Lightning payload.
//!
//! Serialisation follows what goes on the wire: keys in the observed order, keys the kit leaves
//! out absent (never `null`) unless the kit sends `null`. Decoding is lenient where Lightning
//! renders `null` for optional fields.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::de::{null_as_default, present};
use crate::error::ExitReason;
use crate::failure::{Error, Result, decode_str, decode_value};
use crate::log::{Level, LogLine, micros_from_nanos};
use crate::ordered::OrderedMap;
use crate::phoenix::Frame;
use crate::plan::{
    ConditionalEdge, EdgeRule, ExecutionPlan, Lazy, ModuleInfo, Next, PlanOptions, RunOptions,
    SanitizePolicy, Step, Workflow,
};

/// The worker's queue channel topic.
pub const WORKER_QUEUE: &str = "worker:queue";

/// The prefix of run channel topics (`run:<run id>`).
pub const RUN_PREFIX: &str = "run:";

/// The topic of a run's channel.
pub fn run_topic(run_id: &str) -> String {
    format!("{RUN_PREFIX}{run_id}")
}

/// The run id of a `run:<id>` topic (everything after `run:`).
pub fn run_id_of_topic(topic: &str) -> Option<&str> {
    topic.strip_prefix(RUN_PREFIX)
}

/// The Lightning API version the worker announces (`api_version` socket param).
pub const API_VERSION: &str = "1.2";

/// The application events of the queue and run channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `claim` (worker → Lightning, `worker:queue`).
    Claim,
    /// `work-available` (Lightning → worker, `worker:queue`).
    WorkAvailable,
    /// `fetch:plan`.
    FetchPlan,
    /// `fetch:credential`.
    FetchCredential,
    /// `fetch:dataclip`.
    FetchDataclip,
    /// `run:start`.
    RunStart,
    /// `step:start`.
    StepStart,
    /// `step:complete`.
    StepComplete,
    /// `run:log` (legacy, one line per push).
    RunLog,
    /// `run:batch_logs`.
    RunBatchLogs,
    /// `run:complete`.
    RunComplete,
}

impl Event {
    /// Every event.
    pub const ALL: [Self; 11] = [
        Self::Claim,
        Self::WorkAvailable,
        Self::FetchPlan,
        Self::FetchCredential,
        Self::FetchDataclip,
        Self::RunStart,
        Self::StepStart,
        Self::StepComplete,
        Self::RunLog,
        Self::RunBatchLogs,
        Self::RunComplete,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::WorkAvailable => "work-available",
            Self::FetchPlan => "fetch:plan",
            Self::FetchCredential => "fetch:credential",
            Self::FetchDataclip => "fetch:dataclip",
            Self::RunStart => "run:start",
            Self::StepStart => "step:start",
            Self::StepComplete => "step:complete",
            Self::RunLog => "run:log",
            Self::RunBatchLogs => "run:batch_logs",
            Self::RunComplete => "run:complete",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = Error;
    /// # Errors
    /// [`Error::UnknownEvent`] for any other name.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| Error::UnknownEvent(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// The Lightning plan

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
            nodes.insert(
                id.clone(),
                Step {
                    id: Some(id),
                    next,
                    ..Step::default()
                },
            );
        }

        for job in &self.jobs {
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
            nodes.insert(id, step);
        }

        let mut workflow = Workflow {
            steps: nodes.into_iter().map(|(_, step)| step).collect(),
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

// ---------------------------------------------------------------------------------------------
// Queue channel

/// The `worker:queue` join payload: `{"capacity":5,"queues":{"manual>*":5}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueJoin {
    /// Total slots.
    pub capacity: u32,
    /// Slots per workloop queue chain (chain joined with `>`).
    #[serde(default)]
    pub queues: OrderedMap<u32>,
}

/// The `claim` payload: `{"demand":1,"worker_name":null,"queues":["manual","*"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// Runs wanted (always 1 in practice).
    #[serde(default = "one")]
    pub demand: u32,
    /// `WORKER_NAME` / `DEPLOYED_POD_NAME`, or `null`.
    #[serde(default)]
    pub worker_name: Option<String>,
    /// The workloop's ordered queue preference; `*` means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
}

fn one() -> u32 {
    1
}

/// The `claim` OK reply: `{"runs":[{"id","token"}]}`; empty means no work.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClaimReply {
    /// Claimed runs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub runs: Vec<ClaimedRun>,
}

/// One claimed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedRun {
    /// Run id.
    pub id: String,
    /// Run JWT (join payload of `run:<id>`, collections token).
    pub token: String,
}

// ---------------------------------------------------------------------------------------------
// Run channel

/// The `run:<id>` join payload: `{"token": "<run JWT>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJoin {
    /// The run JWT.
    pub token: String,
}

/// `fetch:credential` / `fetch:dataclip` payload: `{"id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPayload {
    /// Credential or dataclip id.
    pub id: String,
}

/// `run:start`: `{"versions": {...}, "timestamp": "<µs>"}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunStart {
    /// `worker`, `node`, `engine`, `compiler`, `runtime`, plus adaptor name → `[versions]`.
    #[serde(default)]
    pub versions: Map<String, Value>,
    /// 16-digit µs string (Lightning defaults it to now when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// `step:start`: `{step_id, job_id, timestamp, input_dataclip_id?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStart {
    /// New uuid made by the worker.
    pub step_id: String,
    /// The job.
    pub job_id: String,
    /// µs string.
    pub timestamp: String,
    /// The input dataclip, omitted when it was withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_dataclip_id: Option<String>,
}

/// Memory use of a step, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mem {
    /// Heap used by the job.
    pub job: u64,
    /// Process resident size.
    pub system: u64,
    /// Peak resident size during the step; only with the worker's `--profile` (the kit sends
    /// it then too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<u64>,
}

/// `webhook_response` of `step:complete`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WebhookResponse {
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// The value of `output_dataclip_error` for a dataclip over the payload limit.
pub const DATACLIP_TOO_LARGE: &str = "DATACLIP_TOO_LARGE";

/// `step:complete`, keys in the observed order (docs/protocol.md §3.10). Absent options are absent
/// keys; `error_type`/`error_message` are always present (`null` on success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepComplete {
    /// The step.
    pub step_id: String,
    /// The job.
    pub job_id: String,
    /// Absent when the step ended with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<Mem>,
    /// Duration in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// The engine's thread id (a number from the kit engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Value>,
    /// µs string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// [`DATACLIP_TOO_LARGE`] when the output was withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclip_error: Option<String>,
    /// New uuid of the output dataclip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclip_id: Option<String>,
    /// The output state as compact JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclip: Option<String>,
    /// `reason`, `error_type`, `error_message`.
    #[serde(flatten)]
    pub exit: ExitReason,
    /// Copied from the output state's `webhookResponse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_response: Option<WebhookResponse>,
}

/// One log line as sent to Lightning: `{message, source, level, timestamp, step_id?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLogLine {
    /// Strings and JSON values.
    pub message: Vec<Value>,
    /// Logger name (`JOB`, `R/T`…).
    pub source: String,
    /// Level.
    pub level: Level,
    /// µs string.
    pub timestamp: String,
    /// The active step, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
}

impl RunLogLine {
    /// A Lightning log line from an engine log line: `name` becomes `source`, the ns `time`
    /// becomes the µs `timestamp`.
    pub fn from_log_line(line: &LogLine, step_id: Option<&str>) -> Self {
        Self {
            message: line.message.clone(),
            source: line.name.clone(),
            level: line.level,
            timestamp: micros_from_nanos(&line.time),
            step_id: step_id.map(str::to_owned),
        }
    }
}

/// Legacy `run:log`: `{"run_id", ...line}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// The run.
    pub run_id: String,
    /// The line.
    #[serde(flatten)]
    pub line: RunLogLine,
}

/// `run:batch_logs`: `{"run_id", "logs": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLogs {
    /// The run.
    pub run_id: String,
    /// The lines.
    pub logs: Vec<RunLogLine>,
}

/// `run:complete`, both shapes (docs/protocol.md §3.12): normal completion
/// `{timestamp, final_state, reason, error_type, error_message, final_dataclip_id?}` and error
/// completion `{reason, error_type, error_message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComplete {
    /// µs string; absent on the error shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The final state (may be JSON `null`); absent on the error shape.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub final_state: Option<Value>,
    /// `reason`, `error_type`, `error_message`.
    #[serde(flatten)]
    pub exit: ExitReason,
    /// Only with exactly one leaf whose dataclip was not withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_dataclip_id: Option<String>,
}

impl RunComplete {
    /// The normal-completion shape.
    pub fn completed(
        timestamp: String,
        final_state: Value,
        exit: ExitReason,
        final_dataclip_id: Option<String>,
    ) -> Self {
        Self {
            timestamp: Some(timestamp),
            final_state: Some(final_state),
            exit,
            final_dataclip_id,
        }
    }

    /// The error shape: only the three reason keys.
    pub fn errored(exit: ExitReason) -> Self {
        Self {
            timestamp: None,
            final_state: None,
            exit,
            final_dataclip_id: None,
        }
    }
}

/// The keys the mock accepts in `run:complete`.
pub const RUN_COMPLETE_KEYS: [&str; 6] = [
    "final_dataclip_id",
    "final_state",
    "reason",
    "error_type",
    "error_message",
    "timestamp",
];

/// A push from the worker to Lightning, typed by event.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerPush {
    /// `claim`.
    Claim(ClaimRequest),
    /// `fetch:plan` (payload `{}`).
    FetchPlan,
    /// `fetch:credential`.
    FetchCredential(IdPayload),
    /// `fetch:dataclip`.
    FetchDataclip(IdPayload),
    /// `run:start`.
    RunStart(RunStart),
    /// `step:start`.
    StepStart(StepStart),
    /// `step:complete`.
    StepComplete(StepComplete),
    /// `run:log`.
    RunLog(RunLog),
    /// `run:batch_logs`.
    RunBatchLogs(BatchLogs),
    /// `run:complete`.
    RunComplete(RunComplete),
}

impl WorkerPush {
    /// The event name.
    pub fn event(&self) -> Event {
        match self {
            Self::Claim(_) => Event::Claim,
            Self::FetchPlan => Event::FetchPlan,
            Self::FetchCredential(_) => Event::FetchCredential,
            Self::FetchDataclip(_) => Event::FetchDataclip,
            Self::RunStart(_) => Event::RunStart,
            Self::StepStart(_) => Event::StepStart,
            Self::StepComplete(_) => Event::StepComplete,
            Self::RunLog(_) => Event::RunLog,
            Self::RunBatchLogs(_) => Event::RunBatchLogs,
            Self::RunComplete(_) => Event::RunComplete,
        }
    }

    /// The payload as JSON.
    pub fn to_payload(&self) -> Value {
        let value = match self {
            Self::Claim(p) => serde_json::to_value(p),
            Self::FetchPlan => Ok(json!({})),
            Self::FetchCredential(p) | Self::FetchDataclip(p) => serde_json::to_value(p),
            Self::RunStart(p) => serde_json::to_value(p),
            Self::StepStart(p) => serde_json::to_value(p),
            Self::StepComplete(p) => serde_json::to_value(p),
            Self::RunLog(p) => serde_json::to_value(p),
            Self::RunBatchLogs(p) => serde_json::to_value(p),
            Self::RunComplete(p) => serde_json::to_value(p),
        };
        value.unwrap_or(Value::Null)
    }

    /// The push as a frame on `topic` (`run:<id>` or `worker:queue`) with the given refs.
    pub fn to_frame(&self, topic: &str, join_ref: Option<&str>, r#ref: &str) -> Frame {
        Frame::new(topic, self.event().as_str(), self.to_payload()).with_refs(join_ref, Some(r#ref))
    }

    /// Decodes a worker push from its event name and payload.
    ///
    /// # Errors
    /// [`Error::UnknownEvent`] for a name that is not a worker→Lightning event;
    /// [`Error::Decode`] naming the event and the field for a payload of the wrong shape.
    pub fn decode(event: &str, payload: Value) -> Result<Self> {
        let event: Event = event.parse()?;
        let what = event.as_str();
        Ok(match event {
            Event::Claim => Self::Claim(decode_value(what, payload)?),
            Event::FetchPlan => Self::FetchPlan,
            Event::FetchCredential => Self::FetchCredential(decode_value(what, payload)?),
            Event::FetchDataclip => Self::FetchDataclip(decode_value(what, payload)?),
            Event::RunStart => Self::RunStart(decode_value(what, payload)?),
            Event::StepStart => Self::StepStart(decode_value(what, payload)?),
            Event::StepComplete => Self::StepComplete(decode_value(what, payload)?),
            Event::RunLog => Self::RunLog(decode_value(what, payload)?),
            Event::RunBatchLogs => Self::RunBatchLogs(decode_value(what, payload)?),
            Event::RunComplete => Self::RunComplete(decode_value(what, payload)?),
            Event::WorkAvailable => return Err(Error::UnknownEvent(what.to_owned())),
        })
    }
}
