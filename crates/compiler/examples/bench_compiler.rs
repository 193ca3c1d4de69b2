//! Compile-time and peak-memory benchmark: jobs of 100 KB, 1 MB and 10 MB, mostly a JSON
//! mapping table plus a few operations (the shape that blew the kit's memory). Each size runs
//! in a child process so its peak RSS (VmHWM) is its own. Prints the median of repeats.
//!
//! Run: `cargo run --release -p openfn-compiler --example bench_compiler`

use std::process::Command;
use std::time::Instant;

use openfn_compiler::{AdaptorImports, Options, compile};

/// (label, size, whether the mapping values are JS expressions rather than pure literals)
const SIZES: &[(&str, usize, bool)] = &[
    ("100KB", 100 * 1024, false),
    ("1MB", 1024 * 1024, false),
    ("10MB", 10 * 1024 * 1024, false),
    ("10MB-js", 10 * 1024 * 1024, true),
];
const REPEATS: usize = 7;

fn job(size: usize, js_values: bool) -> String {
    let mut s = String::with_capacity(size + 4096);
    s.push_str("// Generated mapping job\nconst mapping = {\n");
    let mut i = 0;
    while s.len() < size {
        if js_values {
            // Values that are expressions: the mapping must be fully parsed and walked.
            s.push_str(&format!(
                "  source_field_{i}: {{ target: prefix + \"{i}\", codes: [{i}, i * {i}] }},\n"
            ));
            i += 1;
            continue;
        }
        s.push_str(&format!(
            "  \"source_field_{i}\": {{ \"target\": \"dest_{i}\", \"type\": \"string\", \"required\": {}, \"codes\": [{i}, {}, \"x{i}\"] }},\n",
            i % 2 == 0,
            i * 7
        ));
        i += 1;
    }
    s.push_str("};\n\n");
    s.push_str("fn(state => ({ ...state, mapped: Object.keys(mapping).length }));\n");
    s.push_str("each($.data.items, post(\"/upsert\", state => state.data).then(s => s));\n");
    s.push_str("get($.configuration.baseUrl, { headers: { token: $.configuration.token } });\n");
    s.push_str(
        "fn(state => {\n  console.log(mapping[\"source_field_1\"]);\n  return state;\n});\n",
    );
    s
}

fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Child mode: compile one size REPEATS times, print `median_ms peak_delta_kb`.
fn child(size: usize, js_values: bool) {
    let src = job(size, js_values);
    let mut options = Options::default();
    options.imports.adaptors.push(AdaptorImports {
        name: "@openfn/language-common".into(),
        exports: Some(vec![
            "fn".into(),
            "each".into(),
            "post".into(),
            "get".into(),
        ]),
        export_all: true,
    });
    // Baseline after the source exists (it is the input, not compiler memory).
    let base = rss_kb().unwrap_or(0);
    let mut times = Vec::with_capacity(REPEATS);
    let mut out_len = 0;
    for _ in 0..REPEATS {
        let t = Instant::now();
        let out = compile(&src, &options).expect("bench job compiles");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        out_len = out.code.len() + out.map.mappings.len();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let peak = peak_rss_kb().unwrap_or(0);
    println!(
        "{} {} {} {}",
        times[REPEATS / 2],
        peak.saturating_sub(base),
        peak,
        out_len + src.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child" {
        child(args[2].parse().expect("size"), args[3] == "js");
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    println!("compiler benchmark (median of {REPEATS}, each size in its own process)");
    println!(
        "{:>8} {:>12} {:>10} {:>16} {:>10} {:>12}",
        "size", "compile ms", "MB/s", "peak over base", "x source", "process peak"
    );
    for (label, size, js) in SIZES {
        let kind = if *js { "js" } else { "json" };
        let out = Command::new(&exe)
            .args(["--child", &size.to_string(), kind])
            .output()
            .expect("run child");
        let text = String::from_utf8_lossy(&out.stdout);
        let parts: Vec<f64> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if parts.len() < 2 {
            eprintln!(
                "{label}: child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let (ms, delta_kb, peak_kb) = (parts[0], parts[1], parts.get(2).copied().unwrap_or(0.0));
        let mb = *size as f64 / (1024.0 * 1024.0);
        println!(
            "{label:>8} {ms:>12.2} {:>10.1} {:>13.1} MB {:>10.2} {:>9.1} MB",
            mb / (ms / 1000.0),
            delta_kb / 1024.0,
            delta_kb * 1024.0 / *size as f64,
            peak_kb / 1024.0
        );
    }
}
