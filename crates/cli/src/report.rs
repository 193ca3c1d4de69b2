//! The kit CLI's fixed blocks, line for line: the versions block, the missing-adaptor warning,
//! the install lines and the compile-error report.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use openfn_compiler::{CompileError, Options as CompileOptions};
use serde_json::{Map, Value};

use crate::load::{AdaptorArg, Source};
use crate::logger::Logger;

/// The Node.js API version the adaptor host implements (`process.version` in the sandbox).
const NODE_API: &str = "20.20.0";

/// `Versions:` with node.js, cli and each `-a` adaptor (a workflow's adaptors are not listed,
/// as in the kit), padded to the longest name; in JSON mode one `{versions: {…}}` object.
pub fn versions(logger: &Logger, adaptors: &[AdaptorArg], monorepo: bool) {
    let rows: Vec<(String, String)> = adaptors
        .iter()
        .map(|a| {
            let version = if let Some(path) = &a.path {
                local_version(path)
            } else if monorepo {
                "monorepo".to_owned()
            } else {
                a.specifier
                    .strip_prefix(&a.name)
                    .and_then(|v| v.strip_prefix('@'))
                    .filter(|v| !v.is_empty())
                    .unwrap_or("latest")
                    .to_owned()
            };
            (a.name.clone(), version)
        })
        .collect();
    let cli = env!("CARGO_PKG_VERSION");
    if logger.json() {
        let mut map = Map::new();
        map.insert("node.js".into(), Value::from(NODE_API));
        map.insert("cli".into(), Value::from(cli));
        for (name, version) in &rows {
            map.insert(name.clone(), Value::from(version.as_str()));
        }
        let mut wrapper = Map::new();
        wrapper.insert("versions".into(), Value::Object(map));
        logger.cli_value("always", Value::Object(wrapper));
        return;
    }
    let longest = ["node.js", "cli", "runtime", "compiler"]
        .iter()
        .map(|s| s.chars().count())
        .chain(rows.iter().map(|(n, _)| n.chars().count()))
        .max()
        .unwrap_or(0);
    let row =
        |name: &str, version: &str| format!("\n         ▸ {name:<w$}{version}", w = longest + 4);
    let mut text = String::from("Versions:");
    text.push_str(&row("node.js", NODE_API));
    text.push_str(&row("cli", cli));
    for (name, version) in &rows {
        text.push_str(&row(name, version));
    }
    logger.cli("always", text);
}

fn local_version(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The kit's warning for a job run without `-a`.
pub fn no_adaptor_warning(logger: &Logger) {
    logger.cli("warn", "WARNING: No adaptor provided!");
    logger.cli(
        "warn",
        "This job will probably fail. Pass an adaptor with the -a flag, eg:",
    );
    logger.blank();
    logger.plain("          openfn job.js -a common");
    logger.blank();
}

/// Installs every step's adaptor that is not linked to a local build, between the kit's
/// `Installing packages...` and `Installation complete in …` lines.
pub fn install(logger: &Logger, plan: &Value, repo_dir: &Path) -> Result<()> {
    let mut specs = Vec::new();
    for step in plan["workflow"]["steps"].as_array().into_iter().flatten() {
        for spec in step["adaptors"].as_array().into_iter().flatten() {
            let Some(spec) = spec.as_str() else { continue };
            let name = crate::load::expand_adaptor(spec, false).name;
            if step["linker"][&name].is_object() || specs.iter().any(|s: &String| s == spec) {
                continue;
            }
            specs.push(spec.to_owned());
        }
    }
    if specs.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    logger.cli("info", "Auto-installing language adaptors");
    logger.cli("success", "Installing packages...");
    logger.cli(
        "debug",
        format!("repoDir is set to: {}", repo_dir.display()),
    );
    let parsed = specs
        .iter()
        .map(|s| openfn_repo::Specifier::parse(s).map_err(|e| anyhow!("{e}")))
        .collect::<Result<Vec<_>>>()?;
    let view = crate::progress::InstallView::start(&specs.join(", "));
    let repo = openfn_repo::Repo::open(repo_dir, openfn_repo::RegistryConfig::from_env())
        .map_err(|e| {
            anyhow!(
                "cannot open the adaptor repo at {}: {e}",
                repo_dir.display()
            )
        })?
        .with_progress(view.observer());
    for (text, spec) in specs.iter().zip(&parsed) {
        if repo.resolve(spec).is_some() {
            logger.cli("info", format!("Skipping {text} as already installed"));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(repo.install(&parsed));
    let installed = view.finish();
    result.map_err(|e| install_error(&e))?;
    for one in &installed {
        logger.cli("success", crate::progress::describe(one));
    }
    let took = openfn_lexicon::log::print_duration(started.elapsed());
    logger.cli("success", format!("Installation complete in {took}"));
    Ok(())
}

/// One line for a failed install: what failed and why (the reason says "not found … did you
/// mean", "no version … nearest published versions", or "registry unreachable"), and a hint
/// for its kind.
pub fn install_error(e: &openfn_repo::RepoError) -> anyhow::Error {
    let what = match e {
        openfn_repo::RepoError::Install { specifier, reason } => {
            format!("cannot install {specifier}: {reason}")
        }
        other => other.to_string(),
    };
    anyhow!("{what} (hint: {})", e.kind().hint())
}

/// Compiles every step as a check before the run and, on the first error, prints the kit's
/// abort report (`Failed to compile job [<step>]`, the compiler's message, its details, the
/// source, `Critical error: aborting command`). Returns whether everything compiled.
pub fn check_compiles(
    logger: &Logger,
    plan: &Value,
    is_workflow: bool,
    sources: &[Source],
) -> bool {
    let all = Instant::now();
    for (i, step) in plan["workflow"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(source) = step["expression"].as_str() else {
            continue;
        };
        let options = CompileOptions {
            add_imports: false,
            ..CompileOptions::default()
        };
        // as the kit: one line per adaptor whose exports the compiler looks up
        for spec in step["adaptors"].as_array().into_iter().flatten() {
            if let Some(spec) = spec.as_str().and_then(|s| s.split('=').next()) {
                logger.cli("debug", format!("Trying to preload types for {spec}"));
            }
        }
        let started = Instant::now();
        let Err(error) = openfn_compiler::compile(source, &options) else {
            // the kit compiler's own line
            let took = openfn_lexicon::log::print_duration(started.elapsed());
            logger.cli("debug", format!("Finished in {took}"));
            if is_workflow {
                let name = step["name"].as_str().or(step["id"].as_str()).unwrap_or("");
                let took = openfn_lexicon::log::print_duration(started.elapsed());
                logger.cli("info", format!("Compiled {name} in {took}"));
            }
            continue;
        };
        let reason = match step["id"].as_str().filter(|_| is_workflow) {
            Some(id) => format!("Failed to compile job {id}"),
            None => "Failed to compile job".to_owned(),
        };
        compile_failure(logger, &reason, &error, source, sources.get(i), source);
        return false;
    }
    if !is_workflow {
        let took = openfn_lexicon::log::print_duration(all.elapsed());
        logger.cli("info", format!("Compilation complete in {took}"));
    }
    true
}

/// Reports a compile error: a diagnostic on stderr naming the file, with the source line and
/// a caret; in the kit layout (or JSON logs, or with no file to name) the kit's report.
/// `kit_help` is what the kit shows after `Check the syntax of the job expression:`.
pub fn compile_failure(
    logger: &Logger,
    reason: &str,
    error: &CompileError,
    source: &str,
    from: Option<&Source>,
    kit_help: &str,
) {
    match from {
        Some(from) if !crate::out::kit_layout() && !logger.json() => {
            crate::out::write(
                crate::out::Stream::Stderr,
                &crate::diagnostic::render(error, source, from),
            );
        }
        _ => compile_abort(logger, reason, error, kit_help),
    }
}

/// The kit's `abort()` for a compile error.
fn compile_abort(logger: &Logger, reason: &str, error: &CompileError, source: &str) {
    logger.blank();
    logger.cli("error", reason);
    logger.cli("error", error.to_string());
    logger.blank();
    if let CompileError::LazyState {
        details: Some(details),
        ..
    } = error
    {
        logger.cli("error", "ERROR DETAILS:");
        logger.cli("error", details.clone());
        logger.blank();
    }
    logger.cli(
        "always",
        format!("Check the syntax of the job expression:\n\n{source}"),
    );
    logger.blank();
    logger.cli("error", "Critical error: aborting command");
}

/// The runtime's hints (`error.fix`), which the kit's error report follows with a break.
const KIT_FIXES: [&str; 2] = [
    "Ensure all top-level function or method calls are wrapped in an operation, like fn()",
    "Ensure job code has been compiled before calling the runtime",
];

/// Where the kit's runtime prints an empty line (`logger.break()`) in an error report: after
/// `<step> aborted with error (…)`, after a positioned error's stack, after the hint of how to
/// fix it and after the additional details. Our runtime sends only the lines, so the CLI puts
/// them back.
#[derive(Debug, Default)]

pub struct Breaks {
    /// The previous runtime error line (an adaptor error's `Error reported by …` is not
    /// followed by a break after its stack; the details follow their heading).
    previous: String,
    /// The runtime reported a crash (`CRITICAL ERROR! Aborting execution`).
    crash: bool,
}

impl Breaks {
    /// Whether the runtime already reported the run's crash.
    pub fn crash_reported(&self) -> bool {
        self.crash
    }

    pub fn after(&mut self, name: &str, level: &str, parts: &[Value]) -> bool {
        if name != "R/T" || level != "error" {
            return false;
        }
        let first = parts.first().and_then(Value::as_str).unwrap_or("");
        self.crash |= first == "CRITICAL ERROR! Aborting execution";
        let previous = std::mem::replace(&mut self.previous, first.to_owned());
        if previous == "Additional error details:" {
            return true;
        }
        if parts.len() != 1 {
            return false;
        }
        let aborted = first.contains(" aborted with error (");
        let stack = first.contains("\n    at ") && !previous.starts_with("Error reported by \"");
        aborted || stack || KIT_FIXES.contains(&first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_break_follows_the_runtimes_fix_hint() {
        let mut breaks = Breaks::default();
        let line = |b: &mut Breaks, text: &str| b.after("R/T", "error", &[Value::from(text)]);
        assert!(!line(&mut breaks, "CRITICAL ERROR! Aborting execution"));
        assert!(!line(
            &mut breaks,
            "InvalidOperationError: Invalid operation at statement 1"
        ));
        assert!(line(&mut breaks, KIT_FIXES[0]));
        assert!(breaks.crash_reported());
        assert!(!breaks.after("JOB", "error", &[Value::from(KIT_FIXES[0])]));
    }
}
