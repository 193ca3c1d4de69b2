//! Loading what the user asked to run into an execution plan: a job expression plus `-a`
//! adaptors, or a workflow file in any of the kit's three shapes (JSON or YAML), with step
//! expressions, configurations and states given as file paths relative to the workflow file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value, json};

use crate::logger::Logger;

/// What was loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The execution plan, as JSON (`{id?, workflow: {...}, options: {...}}`).
    pub plan: Value,
    /// Whether the input was a workflow file (as opposed to a job expression).
    pub is_workflow: bool,
    /// The folder paths in the plan are relative to.
    pub base_dir: PathBuf,
    /// Where each step's expression came from, by step position (for compile errors): its
    /// file, or `<workflow file> step <id>` for an expression written inline.
    pub sources: Vec<Source>,
}

/// Where an expression's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file, as the user named it (relative to the working directory).
    pub file: PathBuf,
    /// The step, when the expression is written inside the workflow file (its line numbers
    /// count from the expression's first line).
    pub inline_step: Option<String>,
}

/// An adaptor given on the command line, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdaptorArg {
    /// `@openfn/language-http@7.2.10`, or `@openfn/language-http` without a version.
    pub specifier: String,
    /// Package name without version.
    pub name: String,
    /// A local build to load instead of installing (`http=/path`).
    pub path: Option<PathBuf>,
}

/// Expands `common` → `@openfn/language-common`, `http@7.2.10` →
/// `@openfn/language-http@7.2.10`, keeps `@scope/x` and anything with a `/` or ending in `.js`;
/// `x=/path` points at a local build.
pub fn expand_adaptor(arg: &str, expand: bool) -> AdaptorArg {
    let (spec, path) = match arg.split_once('=') {
        Some((spec, path)) => (spec.trim(), Some(PathBuf::from(path.trim()))),
        None => (arg.trim(), None),
    };
    let expanded =
        if expand && !spec.starts_with('@') && !spec.contains('/') && !spec.ends_with(".js") {
            format!("@openfn/language-{spec}")
        } else {
            spec.to_owned()
        };
    let name = match expanded.rfind('@') {
        Some(i) if i > 0 => expanded[..i].to_owned(),
        _ => expanded.clone(),
    };
    AdaptorArg {
        specifier: expanded,
        name,
        path,
    }
}

/// Whether a path names a workflow file (by extension).
pub fn is_workflow_path(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("json" | "yaml" | "yml")
    )
}

/// Loads a job expression or a workflow.
pub fn load(path: &Path, adaptors: &[AdaptorArg], logger: &Logger) -> Result<Loaded> {
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    if !is_workflow_path(path) {
        logger.cli(
            "debug",
            format!("Loading expression from {}", path.display()),
        );
    }
    let text = read_text(path)?;
    if is_workflow_path(path) {
        if !adaptors.is_empty() {
            bail!(
                "adaptor and workflow provided: set adaptors on the workflow's steps, not with -a (hint: remove -a)"
            );
        }
        let doc = parse_document(path, &text)?;
        let (plan, sources) = workflow_plan(doc, path, &base_dir, logger)?;
        Ok(Loaded {
            plan,
            is_workflow: true,
            base_dir,
            sources,
        })
    } else {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("job");
        let mut step = Map::new();
        step.insert("expression".into(), Value::String(text));
        set_step_adaptors(&mut step, adaptors);
        let plan = json!({
            "workflow": { "name": name, "steps": [Value::Object(step)] },
            "options": {},
        });
        Ok(Loaded {
            plan,
            is_workflow: false,
            base_dir,
            sources: vec![Source {
                file: path.to_path_buf(),
                inline_step: None,
            }],
        })
    }
}

fn set_step_adaptors(step: &mut Map<String, Value>, adaptors: &[AdaptorArg]) {
    if adaptors.is_empty() {
        return;
    }
    step.insert(
        "adaptors".into(),
        Value::Array(
            adaptors
                .iter()
                .map(|a| Value::String(a.specifier.clone()))
                .collect(),
        ),
    );
    let mut linker = Map::new();
    for a in adaptors {
        if let Some(path) = &a.path {
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            linker.insert(a.name.clone(), json!({ "path": abs.to_string_lossy() }));
        }
    }
    if !linker.is_empty() {
        step.insert("linker".into(), Value::Object(linker));
    }
}

/// Reads a UTF-8 text file with a clear error.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow!("file not found: {} (hint: check the path)", path.display())
        }
        _ => anyhow!("cannot read {}: {e}", path.display()),
    })?;
    String::from_utf8(bytes).map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))
}

/// Parses JSON or YAML (by extension; YAML also accepts JSON) with line and column on error.
pub fn parse_document(path: &Path, text: &str) -> Result<Value> {
    if is_yaml(path) {
        serde_norway::from_str::<Value>(text).map_err(|e| match e.location() {
            Some(loc) => anyhow!(
                "invalid YAML in {} at line {}, column {}: {e}",
                path.display(),
                loc.line(),
                loc.column()
            ),
            None => anyhow!("invalid YAML in {}: {e}", path.display()),
        })
    } else {
        serde_json::from_str::<Value>(text).map_err(|e| {
            anyhow!(
                "invalid JSON in {} at line {}, column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })
    }
}

/// A state file as JSON text for the engine: a JSON file is validated and kept as read (no
/// tree is built); YAML is parsed as [`parse_document`] does and written as JSON.
pub fn parse_state(path: &Path, text: String) -> Result<Box<serde_json::value::RawValue>> {
    if is_yaml(path) {
        let value = parse_document(path, &text)?;
        return serde_json::value::to_raw_value(&value).context("encoding the input state");
    }
    serde_json::value::RawValue::from_string(text).map_err(|e| {
        anyhow!(
            "invalid JSON in {} at line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml" | "yml")
    )
}

/// Normalises the three workflow shapes into an execution plan and resolves file paths.
fn workflow_plan(
    doc: Value,
    path: &Path,
    base_dir: &Path,
    logger: &Logger,
) -> Result<(Value, Vec<Source>)> {
    let Value::Object(mut doc) = doc else {
        bail!(
            "{} must contain an object with `steps` (a workflow)",
            path.display()
        );
    };
    let (mut workflow, mut options) = if let Some(Value::Object(workflow)) = doc.remove("workflow")
    {
        // Shape 2: an execution plan.
        let options = match doc.remove("options") {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        if let Some(id) = doc.remove("id") {
            let mut w = workflow;
            w.entry("id").or_insert(id);
            (w, options)
        } else {
            (workflow, options)
        }
    } else if let Some(jobs) = doc.remove("jobs") {
        // Shape 3: legacy `{ jobs: [...], start? }`.
        logger.cli(
            "warn",
            "WARNING: the `jobs` key is deprecated; rename it to `steps` (the workflow still runs)",
        );
        let mut options = Map::new();
        if let Some(start) = doc.remove("start") {
            options.insert("start".into(), start);
        }
        let mut workflow = doc;
        workflow.insert("steps".into(), jobs);
        (workflow, options)
    } else {
        // Shape 1: the workflow itself, with `start` and `options` lifted into plan options.
        let mut options = match doc.remove("options") {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        if let Some(start) = doc.remove("start") {
            options.insert("start".into(), start);
        }
        (doc, options)
    };
    let Some(Value::Array(steps)) = workflow.get_mut("steps") else {
        bail!("{}: the workflow has no `steps` array", path.display());
    };
    let mut sources = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter_mut().enumerate() {
        let Value::Object(step) = step else {
            bail!("{}: step {} is not an object", path.display(), i + 1);
        };
        sources.push(match step.get("expression") {
            Some(Value::String(expr)) if openfn_compiler::is_path(expr) => Source {
                file: base_dir.join(expr),
                inline_step: None,
            },
            _ => Source {
                file: path.to_path_buf(),
                inline_step: Some(step_label(step, i)),
            },
        });
        normalise_step(step, base_dir).with_context(|| {
            let id = step_label(step, i);
            format!("{}: step {id}", path.display())
        })?;
    }
    if let Some(Value::String(globals)) = workflow.get("globals").cloned()
        && openfn_compiler::is_path(&globals)
    {
        let file = base_dir.join(&globals);
        workflow.insert("globals".into(), Value::String(read_text(&file)?));
    }
    if !workflow.contains_key("name") {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("workflow");
        workflow.insert("name".into(), Value::String(name.to_owned()));
    }
    options.retain(|_, v| !v.is_null());
    let mut plan = Map::new();
    if let Some(id) = workflow.get("id").cloned() {
        plan.insert("id".into(), id);
    }
    plan.insert("workflow".into(), Value::Object(workflow));
    plan.insert("options".into(), Value::Object(options));
    Ok((Value::Object(plan), sources))
}

fn step_label(step: &Map<String, Value>, i: usize) -> String {
    step.get("id")
        .or_else(|| step.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("#{}", i + 1))
}

fn normalise_step(step: &mut Map<String, Value>, base_dir: &Path) -> Result<()> {
    if let Some(adaptor) = step.remove("adaptor")
        && !step.contains_key("adaptors")
    {
        step.insert("adaptors".into(), Value::Array(vec![adaptor]));
    }
    if let Some(Value::Array(adaptors)) = step.get("adaptors").cloned() {
        let parsed: Vec<AdaptorArg> = adaptors
            .iter()
            .filter_map(Value::as_str)
            .map(|a| expand_adaptor(a, true))
            .collect();
        // replaced in place, so the step keeps the file's key order (as the kit's output does)
        if parsed.is_empty() {
            step.shift_remove("adaptors");
        }
        set_step_adaptors(step, &parsed);
    }
    if let Some(Value::String(expr)) = step.get("expression")
        && openfn_compiler::is_path(expr)
    {
        let file = base_dir.join(expr);
        let text = read_text(&file)?;
        step.insert("expression".into(), Value::String(text));
    }
    for key in ["configuration", "state"] {
        if let Some(Value::String(value)) = step.get(key)
            && (value.ends_with(".json") || value.ends_with(".yaml") || value.ends_with(".yml"))
        {
            let file = base_dir.join(value);
            let text = read_text(&file)?;
            let parsed = parse_document(&file, &text)?;
            step.insert(key.into(), parsed);
        }
    }
    Ok(())
}

/// Finds the step `pattern` names, as the kit: an exact id, else the one step whose id or name
/// contains it. Where the kit stops, ours also tries the same match ignoring case (`keep`
/// finds "Keep adults"). A pattern that matches no step lists the steps there are.
pub fn match_step(plan: &Value, pattern: &str, option: &str) -> Result<String> {
    let steps = plan["workflow"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if steps.iter().any(|s| s["id"].as_str() == Some(pattern)) {
        return Ok(pattern.to_owned());
    }
    let lower = pattern.to_lowercase();
    let rules: [&dyn Fn(&str) -> bool; 2] =
        [&|text: &str| text.contains(pattern), &|text: &str| {
            text.to_lowercase().contains(&lower)
        }];
    for rule in rules {
        let mut matches: Vec<String> = Vec::new();
        for step in &steps {
            let id = step["id"].as_str();
            let name = step["name"].as_str();
            if (id.is_some_and(rule) || name.is_some_and(rule))
                && let Some(id) = id
                && !matches.iter().any(|m| m == id)
            {
                matches.push(id.to_owned());
            }
        }
        match matches.len() {
            0 => continue,
            1 => return Ok(matches.remove(0)),
            _ => bail!(
                "{option} pattern matched multiple steps ({}): the {option} option can contain an exact match of a step id, or a partial match of a name or id so long as it is unique",
                matches.join(", ")
            ),
        }
    }
    let known: Vec<String> = steps
        .iter()
        .filter_map(|s| {
            let id = s["id"].as_str()?;
            Some(match s["name"].as_str().filter(|n| *n != id) {
                Some(name) => format!("{id} ({name:?})"),
                None => id.to_owned(),
            })
        })
        .collect();
    bail!(
        "{option} step not found: no step of the workflow matches \"{pattern}\"; its steps are: {} (hint: use a step id, or a unique part of an id or name)",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

/// Replaces every string `configuration` found in `credentials` with its value.
pub fn apply_credential_map(plan: &mut Value, credentials: &Map<String, Value>, logger: &Logger) {
    let Some(steps) = plan["workflow"]["steps"].as_array_mut() else {
        return;
    };
    let mut missing = Vec::new();
    for step in steps {
        if let Some(Value::String(id)) = step.get("configuration").cloned() {
            match credentials.get(&id) {
                Some(value) => step["configuration"] = value.clone(),
                None => missing.push(id),
            }
        }
    }
    if !missing.is_empty() {
        logger.cli(
            "warn",
            format!(
                "WARNING: credentials not found in the credential map: {}",
                missing.join(", ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptors_expand_like_the_kit() {
        assert_eq!(
            expand_adaptor("common", true).specifier,
            "@openfn/language-common"
        );
        let http = expand_adaptor("http@7.2.10", true);
        assert_eq!(http.specifier, "@openfn/language-http@7.2.10");
        assert_eq!(http.name, "@openfn/language-http");
        assert_eq!(
            expand_adaptor("@openfn/language-x@1", true).name,
            "@openfn/language-x"
        );
        assert_eq!(expand_adaptor("common", false).specifier, "common");
        let local = expand_adaptor("http=/tmp/http", true);
        assert_eq!(local.path, Some(PathBuf::from("/tmp/http")));
        assert_eq!(local.name, "@openfn/language-http");
    }

    #[test]
    fn fuzzy_matching() {
        let plan = json!({"workflow": {"steps": [
            {"id": "get-patients", "name": "Get patients"},
            {"id": "upload", "name": "Upload to DHIS2"},
            {"id": "upload-2"},
        ]}});
        assert_eq!(match_step(&plan, "get", "start").unwrap(), "get-patients");
        assert_eq!(match_step(&plan, "upload", "start").unwrap(), "upload");
        assert_eq!(match_step(&plan, "DHIS2", "start").unwrap(), "upload");
        let err = match_step(&plan, "pat", "only").unwrap();
        assert_eq!(err, "get-patients");
        assert!(
            match_step(&plan, "zzz", "only")
                .unwrap_err()
                .to_string()
                .contains("not found")
        );
        assert!(
            match_step(&plan, "u", "end")
                .unwrap_err()
                .to_string()
                .contains("multiple")
        );
    }
}
