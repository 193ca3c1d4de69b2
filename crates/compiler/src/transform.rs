//! The kit's transform pipeline, in its order (lazy-state, promises, ensure-exports,
//! top-level-operations, add-imports), expressed as edits on the original text and a new list
//! of top-level statements, then printed.

use std::collections::HashSet;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrayExpressionElement, ExportDefaultDeclarationKind, Expression, Program, Statement,
};
use oxc_span::{GetSpan, Span};

use crate::analyze::{self, Analysis, DollarOutcome};
use crate::error::CompileError;
use crate::print::{Edit, EditKind, Printer, Stmt};
use crate::sourcemap::{self, Operation, SourceMap};
use crate::text::{Doc, LineIndex, guess_tab_width};
use crate::{Compiled, Options};

/// Node globals never auto-imported in dumb mode (kit list, typo included).
const GLOBALS: &[&str] = &[
    "AggregateError",
    "Array",
    "ArrayBuffer",
    "AsyncFuction",
    "AsyncGenerator",
    "atob",
    "Atomics",
    "BigInt",
    "BigInt64Array",
    "BigUint64Array",
    "Blob",
    "Boolean",
    "btoa",
    "Buffer",
    "clearInterval",
    "clearTimeout",
    "console",
    "DataView",
    "Date",
    "decodeURI",
    "decodeURIComponent",
    "encodeURI",
    "encodeURIComponent",
    "Error",
    "eval",
    "EvalError",
    "Event",
    "exports",
    "FinalizationRegistry",
    "Float32Array",
    "Float64Array",
    "Function",
    "Generator",
    "global",
    "Infinity",
    "Int16Array",
    "Int32Array",
    "Int8Array",
    "isFinite",
    "isNaN",
    "JSON",
    "Map",
    "Math",
    "module",
    "Number",
    "Object",
    "parseFloat",
    "parseInt",
    "process",
    "Promise",
    "Proxy",
    "RangeError",
    "ReferenceError",
    "Reflect",
    "RegExp",
    "require",
    "Set",
    "setInterval",
    "setTimeout",
    "SharedArrayBuffer",
    "state",
    "String",
    "Symbol",
    "TypedArray",
    "Uint16Array",
    "Uint32Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "URIError",
    "URL",
    "WeakMap",
    "WeakRef",
    "WeakSet",
];

/// The kit's `new RegExp('^' + globals.join('|') + '$')`: the alternation is not grouped, so
/// the first name is only anchored at the start, the last only at the end, and every other
/// name matches anywhere in the identifier.
pub(crate) fn matches_globals_regex(name: &str) -> bool {
    let last = GLOBALS.len() - 1;
    GLOBALS.iter().enumerate().any(|(i, g)| {
        if i == 0 {
            name.starts_with(g)
        } else if i == last {
            name.ends_with(g)
        } else {
            name.contains(g)
        }
    })
}

/// What a top-level statement is, for the program-level transforms.
enum TopKind {
    /// `call(...);` — moved by top-level-operations.
    Op {
        expr: Span,
        name: Option<String>,
    },
    /// `export default [ ... ]`.
    ExportArray {
        elems: Vec<Span>,
    },
    /// Any other `export default`.
    ExportOther,
    /// `import … from "<source>"`.
    Import {
        source: String,
    },
    /// `;`
    Empty,
    Other,
}

/// A top-level statement. No comments are attached to it: the kit parses with acorn without
/// collecting comments, so recast reprints each moved or re-spaced statement from its own
/// range, and a comment outside every statement's range is dropped.
struct Top {
    span: Span,
    kind: TopKind,
}

/// An item of the output program.
enum Out {
    Orig(usize),
    DeferImport,
    Import(String),
    ExportAll(String),
    /// The created `export default [...]`.
    NewExport,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn classify(stmt: &Statement<'_>) -> TopKind {
    match stmt {
        Statement::ExpressionStatement(es) => match &es.expression {
            Expression::CallExpression(c) => TopKind::Op {
                expr: c.span,
                name: match &c.callee {
                    Expression::Identifier(id) => Some(id.name.to_string()),
                    _ => None,
                },
            },
            _ => TopKind::Other,
        },
        Statement::ExportDefaultDeclaration(ed) => match &ed.declaration {
            ExportDefaultDeclarationKind::ArrayExpression(a) => TopKind::ExportArray {
                elems: a
                    .elements
                    .iter()
                    .filter_map(|e| match e {
                        ArrayExpressionElement::Elision(_) => None,
                        other => Some(other.span()),
                    })
                    .collect(),
            },
            _ => TopKind::ExportOther,
        },
        Statement::ImportDeclaration(id) => TopKind::Import {
            source: id.source.value.to_string(),
        },
        Statement::EmptyStatement(_) => TopKind::Empty,
        _ => TopKind::Other,
    }
}

/// The source the kit actually parses: one trailing space is stripped.
pub(crate) fn effective_source(source: &str) -> &str {
    source.strip_suffix(' ').unwrap_or(source)
}

/// Compiles `source` (already bounded by the pre-scan `scan`): parse, analyse, run the
/// transforms in the kit's order, print.
pub(crate) fn compile_inner(
    source: &str,
    options: &Options,
    lines: &LineIndex<'_>,
    scan: &crate::scan::Scan,
) -> Result<Compiled, CompileError> {
    let src = effective_source(source);
    let blanked = crate::parse::blank_json_objects(src, &scan.object_inits);
    let parse_src: &str = blanked.as_deref().unwrap_or(src);
    let alloc = Allocator::default();
    let program = crate::parse::parse(&alloc, parse_src, lines)?;
    let blanked_bytes = blanked.as_ref().map_or(0, |b| {
        b.bytes().zip(src.bytes()).filter(|(x, y)| x != y).count()
    });
    if src.len() - blanked_bytes <= crate::parse::SEMANTIC_CHECK_LIMIT {
        crate::parse::semantic_check(&program, parse_src, lines)?;
    }
    let analysis = analyze::analyze(&program);
    analysis_syntax_error(&analysis, lines)?;
    let mut edits: Vec<Edit> = Vec::new();

    let lazy = if options.lazy_state {
        lazy_state(&analysis, lines, &mut edits)?
    } else {
        LazyState::default()
    };
    let promises = if options.promises {
        promises(&analysis, &lazy.wraps, &mut edits)
    } else {
        Promises::default()
    };

    let tops = top_level_statements(&program);
    let mut out: Vec<Out> = (0..tops.len()).map(Out::Orig).collect();
    if !promises.chains.is_empty() {
        insert_defer_import(&tops, &mut out);
    }

    // ensure-exports
    let has_default = tops
        .iter()
        .any(|t| matches!(t.kind, TopKind::ExportArray { .. } | TopKind::ExportOther));
    if options.ensure_exports && !has_default {
        out.push(Out::NewExport);
    }

    let (moved, operations) = if options.top_level_operations {
        let (moved, ops) = top_level_operations(&tops, &mut out, &promises.deferred, lines);
        (moved, Some(ops))
    } else {
        (Vec::new(), None)
    };

    let tab = guess_tab_width(src);

    // add-imports
    if options.add_imports && !options.imports.adaptors.is_empty() {
        let dangling = dangling_identifiers(
            &analysis,
            &out,
            &tops,
            &moved,
            &lazy.renamed,
            &lazy.wraps,
            &promises.chains,
            &promises.lifted,
        );
        add_imports(options, &dangling, tab, &mut out);
    }

    // The AST is not needed any more: free it before building the output.
    drop(analysis);
    drop(alloc);
    drop(blanked);

    // Print.
    let printer = Printer::new(src, lines, edits, tab);
    let doc = print_program(&printer, src, &out, &tops, &moved);
    let code = doc.render(src);
    let mappings = sourcemap::mappings(&doc, src, lines);
    Ok(Compiled {
        code,
        map: source_map(source, options, mappings, operations),
    })
}

/// The syntax error the analysis found (one oxc does not report), if any.
fn analysis_syntax_error(
    analysis: &Analysis<'_>,
    lines: &LineIndex<'_>,
) -> Result<(), CompileError> {
    if let Some((message, at)) = &analysis.syntax_error {
        let (line, column) = lines.line_col(*at);
        return Err(CompileError::Syntax {
            message: message.clone(),
            line,
            column,
        });
    }
    Ok(())
}

/// What lazy-state changed: the `$` renamed to `state` and the expressions wrapped.
#[derive(Default)]
struct LazyState {
    renamed: HashSet<u32>,
    wraps: Vec<Span>,
}

/// The lazy-state transform: renames `$` and wraps the expressions using it, as edits.
fn lazy_state(
    analysis: &Analysis<'_>,
    lines: &LineIndex<'_>,
    edits: &mut Vec<Edit>,
) -> Result<LazyState, CompileError> {
    let mut lazy = LazyState::default();
    let mut wrapped: HashSet<(u32, u32)> = HashSet::new();
    for d in &analysis.dollars {
        if analysis.declared(d.scope, "$", true) {
            continue;
        }
        match &d.outcome {
            DollarOutcome::Error {
                message,
                details,
                span,
            } => {
                let (line, column) = lines.line_col(span.start);
                return Err(CompileError::LazyState {
                    message: message.clone(),
                    details: details.map(str::to_string),
                    line,
                    column,
                    start: span.start,
                    end: span.end,
                });
            }
            DollarOutcome::Keep => {}
            DollarOutcome::Wrap(t) => {
                if wrapped.insert((t.span.start, t.span.end)) {
                    lazy.wraps.push(t.span);
                    edits.push(Edit {
                        start: t.span.start,
                        end: t.span.end,
                        kind: EditKind::Wrap {
                            object_props: t
                                .object_props
                                .as_ref()
                                .map(|p| p.iter().map(|s| (s.start, s.end)).collect()),
                            parens: t.is_callee,
                        },
                    });
                }
            }
        }
        if lazy.renamed.insert(d.dollar.start) {
            edits.push(Edit {
                start: d.dollar.start,
                end: d.dollar.end,
                kind: EditKind::Replace("state"),
            });
        }
    }
    Ok(lazy)
}

/// What the promises transform changed: the deferred chains and the lifted catch handlers.
#[derive(Default)]
struct Promises {
    chains: Vec<Span>,
    deferred: HashSet<u32>,
    lifted: Vec<(Span, Span)>,
}

/// The promises transform: defers the operation chains outside lazy-state wraps, as edits.
fn promises(analysis: &Analysis<'_>, wraps: &[Span], edits: &mut Vec<Edit>) -> Promises {
    let mut promises = Promises::default();
    for p in &analysis.promises {
        let inside_wrap = wraps
            .iter()
            .any(|w| w.start <= p.expr.start && p.expr.end <= w.end);
        if inside_wrap {
            continue;
        }
        promises.chains.push(p.expr);
        promises.deferred.insert(p.expr.start);
        if let Some((call, Some(handler))) = p.catch
            && call != p.expr
        {
            promises.lifted.push((p.expr, handler));
        }
        edits.push(Edit {
            start: p.expr.start,
            end: p.expr.end,
            kind: EditKind::Defer {
                op: (p.op.start, p.op.end),
                catch: p
                    .catch
                    .map(|(c, h)| ((c.start, c.end), h.map(|h| (h.start, h.end)))),
            },
        });
    }
    promises
}

/// The top-level statements (directives first, as acorn puts them in the body).
fn top_level_statements(program: &Program<'_>) -> Vec<Top> {
    let mut tops: Vec<Top> = Vec::with_capacity(program.directives.len() + program.body.len());
    for d in &program.directives {
        tops.push(Top {
            span: d.span,
            kind: TopKind::Other,
        });
    }
    for s in &program.body {
        let span = s.span();
        tops.push(Top {
            span,
            kind: classify(s),
        });
    }
    tops
}

/// Adds the runtime's `defer` import after the leading imports, unless the program has one.
fn insert_defer_import(tops: &[Top], out: &mut Vec<Out>) {
    let has_runtime_import = tops
        .iter()
        .any(|t| matches!(&t.kind, TopKind::Import { source } if source == "@openfn/runtime"));
    if !has_runtime_import {
        let leading_imports = tops
            .iter()
            .take_while(|t| matches!(t.kind, TopKind::Import { .. }))
            .count();
        out.insert(leading_imports, Out::DeferImport);
    }
}

/// The top-level-operations transform: moves the operation statements into the export array
/// (when the program ends with one). Returns the moved statements and the operations.
fn top_level_operations(
    tops: &[Top],
    out: &mut Vec<Out>,
    deferred: &HashSet<u32>,
    lines: &LineIndex<'_>,
) -> (Vec<usize>, Vec<Operation>) {
    let mut moved: Vec<usize> = Vec::new();
    let target_ok = match out.last() {
        Some(Out::NewExport) => true,
        Some(Out::Orig(i)) => matches!(tops[*i].kind, TopKind::ExportArray { .. }),
        _ => false,
    };
    let mut ops = Vec::new();
    if target_ok {
        for (i, t) in tops.iter().enumerate() {
            if let TopKind::Op { expr, name } = &t.kind {
                let order = ops.len() + 1;
                if deferred.contains(&expr.start) {
                    ops.push(Operation {
                        name: Some("_defer".to_string()),
                        line: -1,
                        order,
                    });
                } else {
                    ops.push(Operation {
                        name: name.clone(),
                        line: i64::from(lines.line_col(expr.start).0),
                        order,
                    });
                }
                moved.push(i);
            }
        }
        if !moved.is_empty() {
            let moved_set: HashSet<usize> = moved.iter().copied().collect();
            out.retain(|o| !matches!(o, Out::Orig(i) if moved_set.contains(i)));
        }
    }
    (moved, ops)
}

/// The add-imports transform: imports each adaptor's names among the `dangling` identifiers.
fn add_imports(options: &Options, dangling: &[&str], tab: usize, out: &mut Vec<Out>) {
    let ignore: HashSet<&str> = options.imports.ignore.iter().map(String::as_str).collect();
    for adaptor in &options.imports.adaptors {
        if adaptor.name.is_empty() {
            continue;
        }
        let used: Vec<&str> = match &adaptor.exports {
            Some(exports) if !exports.is_empty() => exports
                .iter()
                .map(String::as_str)
                .filter(|e| !ignore.contains(e) && dangling.contains(e))
                .collect(),
            _ => dangling
                .iter()
                .copied()
                .filter(|i| !ignore.contains(i) && !matches_globals_regex(i))
                .collect(),
        };
        if used.is_empty() {
            continue;
        }
        out.insert(0, Out::Import(import_text(&used, &adaptor.name, tab)));
        if adaptor.export_all {
            out.insert(1, Out::ExportAll(adaptor.name.clone()));
        }
    }
}

/// The source map of the compiled `source`, named after the job.
fn source_map(
    source: &str,
    options: &Options,
    mappings: String,
    operations: Option<Vec<Operation>>,
) -> SourceMap {
    let name = if options.name.is_empty() {
        "src"
    } else {
        options.name.as_str()
    };
    SourceMap {
        version: 3,
        sources: vec![format!("{name}.js")],
        names: Vec::new(),
        mappings,
        file: format!("{name}.map.js"),
        sources_content: vec![source.to_string()],
        operations,
    }
}

/// recast reprints the whole program (the kit always sets `program.errors` and
/// `program.operations`, so the program never matches the parsed original): the statements of
/// `out` joined by recast's statement spacing, inside the program's true extent.
fn print_program(
    printer: &Printer<'_>,
    src: &str,
    out: &[Out],
    tops: &[Top],
    moved: &[usize],
) -> Doc {
    let mut stmts = Vec::with_capacity(out.len());
    for o in out {
        let stmt = match o {
            Out::Orig(i) => {
                let t = &tops[*i];
                if matches!(t.kind, TopKind::Empty) {
                    continue;
                }
                if let (TopKind::ExportArray { elems, .. }, false) = (&t.kind, moved.is_empty())
                    && out
                        .last()
                        .is_some_and(|l| matches!(l, Out::Orig(j) if j == i))
                {
                    {
                        let mut docs: Vec<Doc> = elems
                            .iter()
                            .map(|e| printer.reuse(e.start, e.end))
                            .collect();
                        docs.extend(moved.iter().map(|m| op_doc(printer, &tops[*m])));
                        // recast reprints the changed declaration generically.
                        let mut d = Doc::text("export default ");
                        d.append(printer.print_array(docs));
                        d.push_str(";");
                        stmts.push(Stmt {
                            doc: d,
                            loc: Some((t.span.start, t.span.end)),
                        });
                        continue;
                    }
                }
                Stmt {
                    doc: printer.render_range(t.span.start, t.span.end, None, &[]),
                    loc: Some((t.span.start, t.span.end)),
                }
            }
            Out::DeferImport => Stmt {
                doc: Doc::text("import { defer as _defer } from \"@openfn/runtime\";"),
                loc: None,
            },
            Out::Import(text) => Stmt {
                doc: Doc::text(text.as_str()),
                loc: None,
            },
            Out::ExportAll(name) => Stmt {
                doc: Doc::text(format!("export * from {};", quote(name))),
                loc: None,
            },
            Out::NewExport => {
                let docs: Vec<Doc> = moved.iter().map(|m| op_doc(printer, &tops[*m])).collect();
                let mut d = Doc::text("export default ");
                d.append(printer.print_array(docs));
                d.push_str(";");
                Stmt { doc: d, loc: None }
            }
        };
        stmts.push(stmt);
    }
    let body = printer.print_statements(stmts);
    // The program's true extent: first to last non-space (comments included); what is
    // outside it is kept as it was.
    let (start, end) = if src.trim().is_empty() {
        (0, 0)
    } else {
        (src.len() - src.trim_start().len(), src.trim_end().len())
    };
    let mut d = Doc::new();
    d.push_orig(0, start as u32);
    d.append(body);
    d.push_orig(end as u32, src.len() as u32);
    d
}

fn op_doc(printer: &Printer<'_>, top: &Top) -> Doc {
    match &top.kind {
        TopKind::Op { expr, .. } => printer.reuse(expr.start, expr.end),
        _ => Doc::new(),
    }
}

/// recast's import declaration with braced specifiers, wrapped one per line past column 74.
fn import_text(names: &[&str], source: &str, tab: usize) -> String {
    let joined = names.join(", ");
    if joined.chars().count() > 74 {
        let pad = " ".repeat(tab);
        let inner: Vec<String> = names.iter().map(|n| format!("{pad}{n}")).collect();
        format!(
            "import {{\n{},\n}} from {};",
            inner.join(",\n"),
            quote(source)
        )
    } else {
        format!("import {{ {joined} }} from {};", quote(source))
    }
}

/// The kit's findAllDanglingIdentifiers, in first-seen order of the transformed program.
#[allow(clippy::too_many_arguments)]
fn dangling_identifiers<'a>(
    analysis: &Analysis<'a>,
    out: &[Out],
    tops: &[Top],
    moved: &[usize],
    renamed: &HashSet<u32>,
    wraps: &[Span],
    chains: &[Span],
    lifted: &[(Span, Span)],
) -> Vec<&'a str> {
    // Order of top-level statements in the output (moved ops at the export array).
    let mut order: Vec<usize> = Vec::with_capacity(tops.len());
    for o in out {
        match o {
            Out::Orig(i) => {
                order.push(*i);
                if matches!(tops[*i].kind, TopKind::ExportArray { .. })
                    && out
                        .last()
                        .is_some_and(|l| matches!(l, Out::Orig(j) if j == i))
                {
                    order.extend_from_slice(moved);
                }
            }
            Out::NewExport => order.extend_from_slice(moved),
            _ => {}
        }
    }
    let mut rank = vec![usize::MAX; tops.len()];
    for (r, i) in order.iter().enumerate() {
        rank[*i] = r;
    }
    // `_defer(op, p => chain, handler)` puts a lifted `.catch` handler after the chain.
    let key = |start: u32| -> (u32, u32) {
        for (expr, handler) in lifted {
            if handler.start <= start && start < handler.end {
                return (expr.end, start);
            }
        }
        (start, 0)
    };
    let mut refs: Vec<(usize, (u32, u32), usize)> = analysis
        .refs
        .iter()
        .enumerate()
        .map(|(k, r)| {
            (
                rank.get(r.top).copied().unwrap_or(usize::MAX),
                key(r.span.start),
                k,
            )
        })
        .collect();
    refs.sort_unstable();
    let mut seen: HashSet<&'a str> = HashSet::new();
    let mut result = Vec::new();
    for (_, _, k) in refs {
        let r = &analysis.refs[k];
        let name = if r.name == "$" && renamed.contains(&r.span.start) {
            "state"
        } else {
            r.name
        };
        if seen.contains(name) {
            continue;
        }
        if analysis.declared(r.scope, name, false) {
            continue;
        }
        // Created arrows declare `state` (lazy state) and `p` (promises).
        if name == "state"
            && wraps
                .iter()
                .any(|w| w.start <= r.span.start && r.span.end <= w.end)
        {
            continue;
        }
        if name == "p"
            && chains
                .iter()
                .any(|c| c.start <= r.span.start && r.span.end <= c.end)
        {
            continue;
        }
        seen.insert(name);
        result.push(name);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_regex_quirk() {
        assert!(matches_globals_regex("console"));
        assert!(matches_globals_regex("formatDate"));
        assert!(matches_globals_regex("myArray"));
        assert!(matches_globals_regex("stateful"));
        assert!(matches_globals_regex("AggregateErrorX"));
        assert!(matches_globals_regex("xWeakSet"));
        assert!(!matches_globals_regex("x"));
        assert!(!matches_globals_regex("fn"));
    }
}
