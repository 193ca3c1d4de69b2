//! A client for lightning-mock's dev API: enqueue runs, store dataclips, inject and clear
//! faults, read runs and connected workers.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// What the harness keeps of one run as the mock records it (`GET /runs/<id>`): small, so a
/// run with 200,000 log lines or a 20 MB state is read once and dropped.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub status: String,
    pub reason: Option<String>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// Whether `run:start` was accepted.
    pub started: bool,
    /// Steps started, and how many of them completed (have a reason).
    pub steps: usize,
    pub steps_complete: usize,
    pub logs: usize,
    /// `final_state.data`, unless it is big (then only its length as `{"len": n}`).
    pub final_data: Value,
    pub worker: Option<String>,
}

impl RunRecord {
    fn from_view(view: &Value) -> Self {
        let text = |k: &str| view.get(k).and_then(Value::as_str).map(str::to_owned);
        let steps = view.get("steps").and_then(Value::as_array);
        let data = view.get("final_state").and_then(|s| s.get("data"));
        let final_data = match data {
            Some(Value::Object(map)) if map.len() <= 8 => Value::Object(
                map.iter()
                    .map(|(k, v)| match v {
                        Value::String(s) if s.len() > 256 => (k.clone(), json!({"len": s.len()})),
                        other => (k.clone(), other.clone()),
                    })
                    .collect(),
            ),
            Some(Value::String(s)) if s.len() <= 256 => Value::String(s.clone()),
            Some(other) => json!({"len": other.to_string().len()}),
            None => Value::Null,
        };
        Self {
            status: text("status").unwrap_or_default(),
            reason: text("reason"),
            error_type: text("error_type"),
            error_message: text("error_message"),
            started: view
                .get("times")
                .and_then(|t| t.get("started_at"))
                .is_some(),
            steps: steps.map_or(0, Vec::len),
            steps_complete: steps.map_or(0, |s| {
                s.iter()
                    .filter(|step| step.get("reason").is_some_and(|r| !r.is_null()))
                    .count()
            }),
            logs: view
                .get("logs")
                .and_then(Value::as_array)
                .map_or(0, Vec::len),
            final_data,
            worker: text("worker_name"),
        }
    }

    /// Whether the mock considers the run finished (`complete` or `lost`).
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "complete" | "lost")
    }
}

/// The dev API of one mock.
#[derive(Debug, Clone)]
pub struct DevApi {
    base: String,
    http: reqwest::Client,
}

impl DevApi {
    pub fn new(port: u16) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building an HTTP client")?;
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            http,
        })
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn json(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("{what}: request"))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("{what}: body"))?;
        if !status.is_success() {
            bail!("{what}: {status}: {}", String::from_utf8_lossy(&body));
        }
        serde_json::from_slice(&body).with_context(|| format!("{what}: JSON"))
    }

    /// `POST /run`: enqueues a Lightning plan; returns the run id.
    pub async fn enqueue(&self, plan: &Value) -> Result<String> {
        self.enqueue_to(plan, "").await
    }

    /// `POST /run?<query>` (`queue=…`, `priority=…`): enqueues a Lightning plan; returns the
    /// run id.
    pub async fn enqueue_to(&self, plan: &Value, query: &str) -> Result<String> {
        let url = match query {
            "" => format!("{}/run", self.base),
            q => format!("{}/run?{q}", self.base),
        };
        let v = self
            .json(self.http.post(url).json(plan), "POST /run")
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("POST /run answered without an id")
    }

    /// `POST /dataclips`: stores `body` under `id`.
    pub async fn add_dataclip(&self, id: &str, body: &Value) -> Result<()> {
        let url = format!("{}/dataclips", self.base);
        let payload = json!({"id": id, "body": body});
        self.json(self.http.post(url).json(&payload), "POST /dataclips")
            .await
            .map(drop)
    }

    /// `POST /credentials`: stores `body` under `id`.
    pub async fn add_credential(&self, id: &str, body: &Value) -> Result<()> {
        let url = format!("{}/credentials", self.base);
        let payload = json!({"id": id, "body": body});
        self.json(self.http.post(url).json(&payload), "POST /credentials")
            .await
            .map(drop)
    }

    /// `GET /runs/<id>` as the mock shows it (steps, logs, final state, times).
    pub async fn view(&self, id: &str) -> Result<Value> {
        let url = format!("{}/runs/{id}", self.base);
        self.json(self.http.get(url), "GET /runs/<id>").await
    }

    /// `POST /faults`: adds faults on top of the current ones.
    pub async fn faults(&self, faults: &Value) -> Result<Value> {
        let url = format!("{}/faults", self.base);
        self.json(self.http.post(url).json(faults), "POST /faults")
            .await
    }

    /// `GET /faults`.
    pub async fn current_faults(&self) -> Result<Value> {
        let url = format!("{}/faults", self.base);
        self.json(self.http.get(url), "GET /faults").await
    }

    /// `DELETE /faults`.
    pub async fn clear_faults(&self) -> Result<()> {
        let url = format!("{}/faults", self.base);
        self.json(self.http.delete(url), "DELETE /faults")
            .await
            .map(drop)
    }

    /// `GET /runs/<id>`, reduced to what the harness checks.
    pub async fn run(&self, id: &str) -> Result<RunRecord> {
        let url = format!("{}/runs/{id}", self.base);
        let view = self.json(self.http.get(url), "GET /runs/<id>").await?;
        Ok(RunRecord::from_view(&view))
    }

    /// `GET /workers`: connections that joined `worker:queue`, newest connection id first.
    pub async fn queue_connections(&self) -> Result<Vec<u64>> {
        let url = format!("{}/workers", self.base);
        let v = self.json(self.http.get(url), "GET /workers").await?;
        let mut ids: Vec<u64> = v
            .get("workers")
            .and_then(Value::as_array)
            .map(|ws| {
                ws.iter()
                    .filter(|w| w.get("queue_join").is_some_and(|j| !j.is_null()))
                    .filter_map(|w| w.get("connection").and_then(Value::as_u64))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }
}
