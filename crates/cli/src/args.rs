//! Command-line arguments of `openfn`, with the kit CLI's names, aliases and defaults. `execute`
//! is the default command (`openfn job.js` is `openfn execute job.js`), which clap cannot express
//! directly, so [`normalize`] inserts it before parsing.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The subcommands, for [`normalize`].
const COMMANDS: &[&str] = &[
    "execute", "compile", "test", "repo", "install", "version", "help",
];

/// Inserts `execute` when the first argument is not a command or a top-level flag, so that
/// `openfn job.js -a common` works as in the kit.
pub fn normalize(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let first = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
    let is_top_level = match first.as_deref() {
        None => true,
        Some(f) => COMMANDS.contains(&f) || matches!(f, "-h" | "--help" | "-V" | "--version"),
    };
    if !is_top_level {
        args.insert(1, OsString::from("execute"));
    }
    args
}

#[derive(Debug, Parser)]
#[command(
    name = "openfn",
    version,
    about = "Run OpenFn jobs and workflows locally",
    long_about = "Run OpenFn jobs and workflows locally, in the same sandbox and with the same \
                  limits as the worker.",
    after_help = "Examples:\n  \
        openfn job.js -a common              run a job with the latest language-common\n  \
        openfn job.js -a http@7.2.10 -s state.json -O\n  \
        openfn workflow.json --only transform\n  \
        openfn compile job.js -a common      print the compiled job\n  \
        openfn repo install http@7.2.10      install an adaptor into the repo\n  \
        openfn test                          check that everything works"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a job (.js) or a workflow (.json/.yaml). The default command.
    #[command(after_help = "Examples:\n  \
        openfn job.js -a common\n  \
        openfn job.js -a http=/path/to/adaptors/packages/http -S '{\"data\":{}}' -O\n  \
        openfn workflow.yaml --start b --end c -o out.json")]
    Execute(ExecuteArgs),
    /// Compile a job or a workflow and print the result (or write it with -o).
    Compile(CompileArgs),
    /// Run a built-in test workflow: checks the install works. Prints `Result: 42`.
    Test(TestArgs),
    /// Manage the adaptor repository.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Install adaptors into the repository (the same as `repo install`).
    Install(InstallArgs),
    /// Print the versions of this CLI and its components.
    Version(LogArgs),
}

/// Logging flags shared by every command.
#[derive(Debug, Clone, Args, Default)]
pub struct LogArgs {
    /// Log level: `none|debug|info|default`, or `component=level` pairs (components `cli`,
    /// `compiler`, `runtime`, `job`), comma separated.
    #[arg(short = 'l', long = "log", value_name = "SPEC", global = true)]
    pub log: Vec<String>,
    /// Print logs as JSON lines.
    #[arg(long = "log-json", env = "OPENFN_LOG_JSON", global = true, value_parser = parse_bool_env, num_args = 0..=1, default_missing_value = "true")]
    pub log_json: Option<bool>,
}

#[derive(Debug, Args)]
pub struct ExecuteArgs {
    /// Path to a job expression (.js) or a workflow (.json, .yaml).
    pub path: PathBuf,
    /// Adaptor for a job: `common`, `http@7.2.10`, `@openfn/language-http`, `http=/path`.
    #[arg(short = 'a', long = "adaptor", visible_aliases = ["adaptors"], value_name = "ADAPTOR")]
    pub adaptors: Vec<String>,
    /// Don't expand `x` into `@openfn/language-x`.
    #[arg(long = "no-expand-adaptors")]
    pub no_expand_adaptors: bool,
    /// Install missing adaptors (on by default).
    #[arg(short = 'i', long = "autoinstall", overrides_with = "no_autoinstall")]
    pub autoinstall: bool,
    /// Don't install missing adaptors.
    #[arg(long = "no-autoinstall")]
    pub no_autoinstall: bool,
    /// Path to a JSON file with the input state.
    #[arg(short = 's', long = "state-path", value_name = "FILE")]
    pub state_path: Option<PathBuf>,
    /// The input state as JSON text.
    #[arg(short = 'S', long = "state-stdin", value_name = "JSON")]
    pub state_stdin: Option<String>,
    /// Where to write the output (default: output.json beside the input).
    #[arg(short = 'o', long = "output-path", value_name = "FILE")]
    pub output_path: Option<PathBuf>,
    /// Print the output to stdout instead of writing a file.
    #[arg(short = 'O', long = "output-stdout")]
    pub output_stdout: bool,
    /// Start the workflow at this step (id, or a unique part of an id or name).
    #[arg(long)]
    pub start: Option<String>,
    /// End the workflow at this step.
    #[arg(long)]
    pub end: Option<String>,
    /// Run only this step.
    #[arg(long)]
    pub only: Option<String>,
    /// Write each step's output to .cli-cache/<workflow>/<step>.json.
    #[arg(long = "cache-steps", env = "OPENFN_ALWAYS_CACHE_STEPS", value_parser = parse_bool_env, num_args = 0..=1, default_missing_value = "true")]
    pub cache_steps: Option<bool>,
    /// Skip compilation: the source is already an ES module with `export default [...]`.
    #[arg(long = "no-compile")]
    pub no_compile: bool,
    /// Clone the state before each operation.
    #[arg(long)]
    pub immutable: bool,
    /// Timeout of each step, in ms.
    #[arg(short = 't', long, default_value_t = 300_000, value_name = "MS")]
    pub timeout: u64,
    /// Don't add imports (`--ignore-imports`), or don't import these names (`--ignore-imports=a,b`).
    #[arg(long = "ignore-imports", num_args = 0..=1, default_missing_value = "true", value_name = "NAMES")]
    pub ignore_imports: Option<String>,
    /// A JSON or YAML file mapping credential ids to credentials.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// How to show objects and arrays in logs.
    #[arg(long, value_enum)]
    pub sanitize: Option<Sanitize>,
    /// The adaptor repository.
    #[arg(long = "repo-dir", env = "OPENFN_REPO_DIR", value_name = "DIR", value_parser = absolute_path)]
    pub repo_dir: Option<PathBuf>,
    /// Load adaptors from a local adaptors monorepo (`<dir>/packages/<name>`).
    #[arg(
        short = 'm',
        long = "use-adaptors-monorepo",
        env = "OPENFN_ADAPTORS_REPO",
        value_name = "DIR",
        value_parser = absolute_path
    )]
    pub monorepo: Option<PathBuf>,
    /// Memory limit of the run, in MB.
    #[arg(long = "memory-limit", default_value_t = 500, value_name = "MB")]
    pub memory_limit_mb: u64,
    /// The sandbox tier: native, or wasm (preview: QuickJS in wasmtime, same runtime).
    #[cfg(feature = "wasm")]
    #[arg(long, value_enum, default_value = "native", env = "OPENFN_SANDBOX")]
    pub sandbox: Sandbox,
    #[command(flatten)]
    pub log: LogArgs,
}

/// Which sandbox tier runs the job.
#[cfg(feature = "wasm")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Sandbox {
    /// QuickJS in an engine child process (the default).
    #[default]
    Native,
    /// QuickJS compiled to WebAssembly, run by wasmtime in the engine's child (preview).
    Wasm,
}

#[cfg(feature = "wasm")]
impl From<Sandbox> for openfn_engine::Sandbox {
    fn from(tier: Sandbox) -> Self {
        match tier {
            Sandbox::Native => openfn_engine::Sandbox::Native,
            Sandbox::Wasm => openfn_engine::Sandbox::Wasm,
        }
    }
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Path to a job expression (.js) or a workflow (.json, .yaml).
    pub path: PathBuf,
    /// Adaptor whose exports are imported: `common`, `http@7.2.10`, `x=/path`.
    #[arg(short = 'a', long = "adaptor", visible_aliases = ["adaptors"], value_name = "ADAPTOR")]
    pub adaptors: Vec<String>,
    /// Don't expand `x` into `@openfn/language-x`.
    #[arg(long = "no-expand-adaptors")]
    pub no_expand_adaptors: bool,
    /// Write the result here instead of stdout.
    #[arg(short = 'o', long = "output-path", value_name = "FILE")]
    pub output_path: Option<PathBuf>,
    /// Don't add imports, or don't import these names.
    #[arg(long = "ignore-imports", num_args = 0..=1, default_missing_value = "true", value_name = "NAMES")]
    pub ignore_imports: Option<String>,
    /// The adaptor repository (to read installed adaptors' exports).
    #[arg(long = "repo-dir", env = "OPENFN_REPO_DIR", value_name = "DIR", value_parser = absolute_path)]
    pub repo_dir: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Input state as JSON text; `{"data": {"answer": n}}` makes the answer n (default 42).
    #[arg(short = 'S', long = "state-stdin", value_name = "JSON")]
    pub state_stdin: Option<String>,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Install adaptors: `openfn repo install http@7.2.10 common`.
    Install(InstallArgs),
    /// List the installed adaptors and where the repo is.
    List(RepoDirArgs),
    /// Delete the repo.
    Clean(CleanArgs),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Packages to install (`common`, `http@7.2.10`, `@openfn/language-x@^1`).
    pub packages: Vec<String>,
    /// Install adaptors given in short form (the same as listing them as packages).
    #[arg(short = 'a', long = "adaptor", value_name = "ADAPTOR")]
    pub adaptors: Vec<String>,
    /// Don't expand `x` into `@openfn/language-x`.
    #[arg(long = "no-expand-adaptors")]
    pub no_expand_adaptors: bool,
    #[command(flatten)]
    pub repo: RepoDirArgs,
}

#[derive(Debug, Args)]
pub struct RepoDirArgs {
    /// The adaptor repository.
    #[arg(long = "repo-dir", env = "OPENFN_REPO_DIR", value_name = "DIR", value_parser = absolute_path)]
    pub repo_dir: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Don't ask for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    #[command(flatten)]
    pub repo: RepoDirArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sanitize {
    None,
    Remove,
    Summarize,
    Obfuscate,
}

impl Sanitize {
    pub fn as_str(self) -> &'static str {
        match self {
            Sanitize::None => "none",
            Sanitize::Remove => "remove",
            Sanitize::Summarize => "summarize",
            Sanitize::Obfuscate => "obfuscate",
        }
    }
}

/// Env booleans as the kit reads them: `true`/`1` are true, anything else false.
/// A directory given on the command line, made absolute against the working directory once, at
/// the edge: the engine's child and the module loader only take absolute paths.
fn absolute_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("an empty path".to_owned());
    }
    std::path::absolute(text).map_err(|e| format!("{text}: {e}"))
}

fn parse_bool_env(text: &str) -> Result<bool, String> {
    Ok(matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = normalize(args.iter().map(OsString::from));
        Cli::try_parse_from(argv).expect("parse")
    }

    #[test]
    fn execute_is_the_default_command() {
        let cli = parse(&["openfn", "job.js", "-a", "common", "-O"]);
        let Command::Execute(args) = cli.command else {
            panic!("expected execute");
        };
        assert_eq!(args.path, PathBuf::from("job.js"));
        assert_eq!(args.adaptors, vec!["common"]);
        assert!(args.output_stdout);
        assert_eq!(args.timeout, 300_000);
    }

    #[test]
    fn flags_before_the_path_still_mean_execute() {
        let cli = parse(&[
            "openfn",
            "-a",
            "http@7.2.10",
            "job.js",
            "--ignore-imports=a,b",
        ]);
        let Command::Execute(args) = cli.command else {
            panic!("expected execute");
        };
        assert_eq!(args.ignore_imports.as_deref(), Some("a,b"));
    }

    #[test]
    fn bare_ignore_imports_means_all() {
        let cli = parse(&["openfn", "job.js", "--ignore-imports"]);
        let Command::Execute(args) = cli.command else {
            panic!("expected execute");
        };
        assert_eq!(args.ignore_imports.as_deref(), Some("true"));
    }

    #[test]
    fn repo_subcommands_parse() {
        let cli = parse(&["openfn", "repo", "install", "common", "http@7.2.10"]);
        let Command::Repo(RepoCommand::Install(args)) = cli.command else {
            panic!("expected repo install");
        };
        assert_eq!(args.packages, vec!["common", "http@7.2.10"]);
    }
}
