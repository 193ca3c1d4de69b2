//! The runtime execution plan (docs/execution.md §2.2): what the runtime runs, the engine schedules
//! and the worker builds from a Lightning plan.
//!
//! The kit is loose about this JSON (CLI workflow files carry extra keys, step metadata, …), so
//! every object keeps unknown keys in an `extra` map and writes them back out unchanged.
//! Absent optional keys stay absent when serialised.

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

use crate::de::null_as_default;
use crate::failure::{Result, decode_str, decode_value};
use crate::ordered::OrderedMap;

/// A runtime execution plan: `{id?, workflow, options?}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecutionPlan {
    /// The plan id; the worker uses the run id. The engine requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The workflow to run.
    pub workflow: Workflow,
    /// Runtime options (`null` reads as none).
    #[serde(
        default,
        skip_serializing_if = "PlanOptions::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub options: PlanOptions,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ExecutionPlan {
    /// Parses a plan from JSON text.
    ///
    /// # Errors
    /// [`crate::Error::Json`] for bad JSON, [`crate::Error::Decode`] naming the field path for
    /// a value of the wrong shape.
    pub fn from_json_str(text: &str) -> Result<Self> {
        decode_str("execution plan", text)
    }

    /// Parses a plan from a JSON value.
    ///
    /// # Errors
    /// As [`ExecutionPlan::from_json_str`].
    pub fn from_value(value: Value) -> Result<Self> {
        decode_value("execution plan", value)
    }

    /// The plan as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The step with `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.workflow
            .steps
            .iter()
            .find(|s| s.id.as_deref() == Some(id))
    }

    /// The start step id as the runtime picks it: `options.start`, else `workflow.start`,
    /// else the first step's id.
    pub fn start_id(&self) -> Option<&str> {
        self.options
            .start
            .as_deref()
            .or(self.workflow.start.as_deref())
            .or_else(|| self.workflow.steps.first().and_then(|s| s.id.as_deref()))
    }
}

/// The workflow of a plan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Workflow {
    /// Workflow id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Human-readable name (`Executing <name||id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ESM source whose exports become job globals. The kit keeps it only if it is a string;
    /// any other JSON value is dropped on decode, as the kit does.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_drop"
    )]
    pub globals: Option<String>,
    /// Default start step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Merged into every step's configuration (collections token, endpoint…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Map<String, Value>>,
    /// Jobs and triggers, in plan order (`null` reads as none).
    #[serde(default, deserialize_with = "null_as_default")]
    pub steps: Vec<Step>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn string_or_drop<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A step: a job (it has an `expression`) or a trigger (it has none).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Step id (the runtime names id-less steps `job-1`, `job-2`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Job source (compiled ESM once compiled). Absent on triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Adaptor specifiers (`@openfn/language-http@7.2.10`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptors: Option<Vec<String>>,
    /// Module path/version overrides for the linker, by module name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linker: Option<OrderedMap<ModuleInfo>>,
    /// Credentials: an object used as is, or a credential id to resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Lazy>,
    /// Default input state: an object, or a dataclip id to resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Lazy>,
    /// The compiler's source map (with `operations`), opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_map: Option<Value>,
    /// Outgoing edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Next>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Step {
    /// Whether this step is a job (has an expression) rather than a trigger.
    pub fn is_job(&self) -> bool {
        self.expression.is_some()
    }
}

/// Where the linker finds a module.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModuleInfo {
    /// Directory of the module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A value given inline or by id, resolved later (`configuration`, `state`, the run input).
#[derive(Debug, Clone, PartialEq)]
pub enum Lazy {
    /// An id to resolve (credential id, dataclip id).
    Id(String),
    /// The value itself (any non-string JSON).
    Value(Value),
}

impl Serialize for Lazy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Id(id) => s.serialize_str(id),
            Self::Value(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Lazy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(id) => Self::Id(id),
            other => Self::Value(other),
        })
    }
}

/// A step's `next`: a single step id, or a map of target id → edge rule (in key order).
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// `"next": "b"`, the same as `{"b": true}`.
    Id(String),
    /// `"next": {"b": true, "c": "state.x", …}`.
    Edges(OrderedMap<EdgeRule>),
}

impl Next {
    /// The edges as a map (`Id(b)` becomes `{b: true}`).
    pub fn to_edges(&self) -> OrderedMap<EdgeRule> {
        match self {
            Self::Id(id) => std::iter::once((id.clone(), EdgeRule::Bool(true))).collect(),
            Self::Edges(map) => map.clone(),
        }
    }

    /// Target step ids, in order.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Self::Id(id) => vec![id.as_str()],
            Self::Edges(map) => map.keys().collect(),
        }
    }
}

impl Serialize for Next {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Id(id) => s.serialize_str(id),
            Self::Edges(map) => map.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Next {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Next;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step id or an object of edges")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Next, E> {
                Ok(Next::Id(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Next, A::Error> {
                OrderedMap::deserialize(MapAccessDeserializer::new(map)).map(Next::Edges)
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of one entry of `next`.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeRule {
    /// `true` follows the edge, `false` never does (`null` decodes as `false`, as the kit
    /// treats any falsy value).
    Bool(bool),
    /// A condition: `always`, `on_job_success`, `on_job_failure`, the `on_upstream_*` aliases,
    /// or a JS expression.
    Condition(String),
    /// `{condition?, label?, disabled?}`. An edge object without `condition` is skipped.
    Edge(ConditionalEdge),
}

impl EdgeRule {
    /// A `{condition}` edge object.
    pub fn condition(condition: impl Into<String>) -> Self {
        Self::Edge(ConditionalEdge {
            condition: Some(condition.into()),
            ..ConditionalEdge::default()
        })
    }
}

impl Serialize for EdgeRule {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Bool(b) => s.serialize_bool(*b),
            Self::Condition(c) => s.serialize_str(c),
            Self::Edge(e) => e.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EdgeRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EdgeRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean, a condition string or an edge object")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<EdgeRule, E> {
                Ok(EdgeRule::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<EdgeRule, E> {
                Ok(EdgeRule::Bool(false))
            }
            fn visit_none<E: de::Error>(self) -> std::result::Result<EdgeRule, E> {
                Ok(EdgeRule::Bool(false))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<EdgeRule, E> {
                Ok(EdgeRule::Condition(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<EdgeRule, A::Error> {
                ConditionalEdge::deserialize(MapAccessDeserializer::new(map)).map(EdgeRule::Edge)
            }
        }
        d.deserialize_any(V)
    }
}

/// An edge object in `next`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConditionalEdge {
    /// The condition (see [`EdgeRule::Condition`]); without one the edge is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// A label for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// A disabled edge is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Log sanitising policy for JSON log arguments (docs/protocol.md §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanitizePolicy {
    /// Unchanged.
    #[default]
    None,
    /// Objects and arrays dropped.
    Remove,
    /// `[object]` / `[array]`.
    Obfuscate,
    /// `(object with keys a, b)`, `(array with N items)`…
    Summarize,
}

/// The plan's runtime options (`WorkflowOptions` in the kit).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    /// Start step id (overrides `workflow.start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Stop after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Per-step timeout in ms in the runtime (the CLI's `--timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Step timeout in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<u64>,
    /// Log sanitising policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitize: Option<SanitizePolicy>,
    /// Keys this type does not know, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl PlanOptions {
    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Per-run engine options (the kit's `engine.execute(plan, input, options)`), which the worker
/// derives from the Lightning plan's options and its own defaults. `None` means "use the
/// engine default".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOptions {
    /// Kill timer for the whole run, in ms (`run_timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
    /// Memory limit of the run, in MB (`run_memory_limit_mb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mb: Option<u64>,
    /// Payload limit for dataclips and events, in MB (`payload_limit_mb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_limit_mb: Option<u64>,
    /// Payload limit for log lines, in MB (`log_payload_limit_mb`); falls back to
    /// `payload_limit_mb` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_payload_limit_mb: Option<u64>,
    /// Runtime state size limit, in MB (default: a quarter of the memory limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_limit_mb: Option<u64>,
    /// Log sanitising policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sanitize: Option<SanitizePolicy>,
    /// Job logger level (`debug`, `info`, `warn`, `error`, `none`…), as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_log_level: Option<String>,
    /// `Some(false)` withholds step output dataclips from Lightning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclips: Option<bool>,
    /// Extra job globals (the worker sets `meta: {runId, startTime}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<Map<String, Value>>,
}
