//! Shared by the hostile-job suite (`security_*.rs`): runs of hand-written job modules against
//! the real `@openfn/language-common` (and `language-http`) from npm plus a careless fixture
//! adaptor (`fixtures/hostile`) that hands jobs its realm's `require` and `import()`, and the
//! check every attack ends with: a following run on the same host is unaffected.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;
use std::rc::Rc;

use openfn_runtime::{ExecutionPlan, Input, ModuleInfo, NodeAdaptorHost, RunOptions, StateJson};
use serde_json::{Value, json};

use crate::node;

pub const HOSTILE: &str = "@openfn/hostile-fixture";

pub fn hostile_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

/// One host shared by the runs of a test, as an engine child shares one per process.
pub struct Sandbox {
    pub repo: PathBuf,
    pub common: openfn_repo::Installed,
    pub http: openfn_repo::Installed,
    pub host: NodeAdaptorHost,
    pub rt: tokio::runtime::Runtime,
}

impl Sandbox {
    pub fn new() -> Self {
        let repo = node::repo_dir();
        let common = node::installed(&repo, node::COMMON);
        let http = node::installed(&repo, node::HTTP);
        let host =
            NodeAdaptorHost::for_repo_and_links(&repo, &[hostile_dir()], &["127.0.0.1"], false);
        Sandbox {
            repo,
            common,
            http,
            host,
            rt: node::tokio_rt(),
        }
    }

    /// Where ajv is installed for language-common.
    pub fn ajv_dir(&self) -> PathBuf {
        let nested = self.common.path.join("node_modules/ajv");
        if nested.exists() {
            return nested;
        }
        self.repo.join("node_modules/ajv")
    }

    pub fn options(&self) -> RunOptions {
        let mut options = RunOptions::with_node_host(&self.repo, self.host.clone());
        for adaptor in [&self.common, &self.http] {
            options.modules.insert(
                adaptor.name.clone(),
                ModuleInfo {
                    path: Some(adaptor.path.to_string_lossy().into_owned()),
                    version: Some(adaptor.version.clone()),
                },
            );
        }
        options.modules.insert(
            HOSTILE.into(),
            ModuleInfo {
                path: Some(hostile_dir().to_string_lossy().into_owned()),
                version: None,
            },
        );
        options.default_run_timeout_ms = Some(20_000);
        options
    }

    /// Runs the ES module `module` (a compiled job: imports, `export default [ops]`) as the one
    /// step `job`; the final state or `{"thrown": {name, message, severity}}`.
    pub fn run(&self, module: &str, input: Value) -> Value {
        self.run_with(module, input, self.options())
    }

    pub fn run_with(&self, module: &str, input: Value, options: RunOptions) -> Value {
        let plan: ExecutionPlan = serde_json::from_value(json!({"workflow": {"steps": [
            {"id": "job", "expression": module}
        ]}}))
        .expect("plan");
        self.run_plan(&plan, input, options)
    }

    pub fn run_plan(&self, plan: &ExecutionPlan, input: Value, options: RunOptions) -> Value {
        let logs = Rc::new(node::Logs::default());
        let input = Input::State(StateJson::from_value(&input));
        let result = self.rt.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(60),
                openfn_runtime::run(plan, input, options, logs.clone()),
            )
            .await
            .expect("run finished in time")
        });
        match result {
            Ok(outcome) => outcome
                .state
                .map(|s| s.to_value().expect("state json"))
                .unwrap_or(Value::Null),
            Err(openfn_runtime::RunError::Aborted(e)) => json!({"thrown": {
                "name": e.name, "message": e.message, "severity": e.severity,
            }}),
            Err(e) => json!({"thrown": {"name": "RunError", "message": e.to_string()}}),
        }
    }

    /// A benign run after an attack: language-common, lodash, jsonpath and ajv behave as on a
    /// fresh host, and the adaptor realm is a fresh one (nothing the attack left behind).
    pub fn assert_next_run_unaffected(&self) {
        let out = self.run(
            &job(
                "fn, each, validate, _",
                "import { probe } from '@openfn/hostile-fixture';",
                r#"validate({ type: 'object', required: ['items'] }, 'data'),
                   each('$.data.items[*]', fn((s) => { s.seen = (s.seen || []).concat(s.data); return s; })),
                   fn((s) => ({ ...s, chunks: _.chunk([1, 2, 3], 2),
                     clean: [probe('polluted'), typeof probe('constructor'), typeof globalThis.attacked,
                       typeof _.noConflict.call(undefined).attacked, typeof _.noConflict.call(undefined).stash, typeof _.polluted] }))"#,
            ),
            json!({"data": {"items": [1, 2]}}),
        );
        assert_eq!(out["seen"], json!([1, 2]), "{out}");
        assert_eq!(out["validationErrors"], json!([]), "{out}");
        assert_eq!(out["chunks"], json!([[1, 2], [3]]), "{out}");
        assert_eq!(
            out["clean"],
            json!([
                null,
                "function",
                "undefined",
                "undefined",
                "undefined",
                "undefined"
            ]),
            "{out}"
        );
    }
}

/// A job module: imports `names` from language-common, `extra` import lines, and `ops`.
pub fn job(names: &str, extra: &str, ops: &str) -> String {
    format!(
        "import {{ {names} }} from '@openfn/language-common';\n{extra}\nexport * from '@openfn/language-common';\nexport default [{ops}];"
    )
}

/// The SecurityError every refused code generation ends with.
pub fn assert_security_error(out: &Value, what: &str) {
    assert_eq!(
        out["thrown"],
        json!({"name": "SecurityError", "message": "Illegal eval statement detected", "severity": "kill"}),
        "{what}: {out}"
    );
}
