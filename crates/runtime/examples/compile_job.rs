//! Compiles one job file with openfn-compiler, as the adaptor corpus harness does, and prints
//! `{"code": <module text>, "map": <source map>}`: `compile_job <job.js> <adaptor-name> <adaptor-dir>`. Used by
//! `tests/adaptors/record.mjs` (the kit's `@openfn/compiler` is not on the registry here).

use std::path::Path;
use std::process::ExitCode;

use openfn_compiler::{AdaptorImports, AddImports, Options, adaptor_exports, compile};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [job, name, dir] = args.as_slice() else {
        eprintln!("usage: compile_job <job.js> <adaptor-name> <adaptor-dir>");
        return ExitCode::from(2);
    };
    let source = match std::fs::read_to_string(job) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{job}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = Options {
        name: "job".to_owned(),
        imports: AddImports {
            ignore: Vec::new(),
            adaptors: vec![AdaptorImports {
                name: name.clone(),
                exports: Some(adaptor_exports(Path::new(dir))),
                export_all: true,
            }],
        },
        ..Options::default()
    };
    match compile(&source, &options) {
        Ok(compiled) => {
            let out = serde_json::json!({"code": compiled.code, "map": compiled.map});
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{job}: {e}");
            ExitCode::FAILURE
        }
    }
}
