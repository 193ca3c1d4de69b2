//! Export discovery and the kit's small path helpers: `get_exports` (names a JS module
//! exports, for the CLI's ignore list), `adaptor_exports` (the kit's `preloadAdaptorExports`:
//! names from an installed adaptor's type declarations), `is_path`, `is_relative_specifier`.
//! `adaptor_exports` is the only function of this crate that touches the file system.

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_ast::ast::{Declaration, Statement, TSNamespaceDeclarationBody};
use oxc_parser::Parser;
use oxc_span::SourceType;

/// The kit's `isPath`: one line ending in `ts`, `js`, `json`, `jso`, `jsn` (so also `ojs`).
pub fn is_path(path_or_code: &str) -> bool {
    !path_or_code.contains(['\r', '\n'])
        && ["ts", "js", "json", "jso", "jsn"]
            .iter()
            .any(|ext| path_or_code.ends_with(ext))
}

/// The kit's `isRelativeSpecifier`: `/x`, `./x`, `~/x`, `.`, `C:\x`.
pub fn is_relative_specifier(specifier: &str) -> bool {
    let b = specifier.as_bytes();
    match b.first() {
        Some(b'/' | b'.' | b'~') => true,
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {
            b.get(1) == Some(&b':') && b.get(2) == Some(&b'\\')
        }
        _ => false,
    }
}

/// Names exported by a JS module (`export const a, b`, `export function`, `export class`,
/// `export { a, b as c } [from …]`); the default export is ignored. Empty if it does not parse.
pub fn get_exports(src: &str) -> Vec<String> {
    let alloc = Allocator::default();
    let ret = Parser::new(&alloc, src, SourceType::mjs()).parse();
    if !ret.diagnostics.is_empty() {
        return Vec::new();
    }
    let mut names = Vec::new();
    for stmt in &ret.program.body {
        match stmt {
            Statement::ExportDeclaration(e) => match &e.declaration {
                Declaration::VariableDeclaration(v) => {
                    for d in &v.declarations {
                        for id in d.id.get_binding_identifiers() {
                            names.push(id.name.to_string());
                        }
                    }
                }
                Declaration::FunctionDeclaration(f) => {
                    if let Some(id) = &f.id {
                        names.push(id.name.to_string());
                    }
                }
                Declaration::ClassDeclaration(c) => {
                    if let Some(id) = &c.id {
                        names.push(id.name.to_string());
                    }
                }
                _ => {}
            },
            Statement::ExportNamedDeclaration(e) => push_specifiers(&mut names, &e.specifiers),
            Statement::ExportFromDeclaration(e) => push_specifiers(&mut names, &e.specifiers),
            _ => {}
        }
    }
    names
}

fn push_specifiers(names: &mut Vec<String>, specs: &[oxc_ast::ast::ExportSpecifier<'_>]) {
    for s in specs {
        let name = s.exported.name();
        if name != "default" {
            names.push(name.to_string());
        }
    }
}

fn namespace_functions(names: &mut Vec<String>, ns: &oxc_ast::ast::TSNamespaceDeclaration<'_>) {
    let prefix = ns.id.name.as_str();
    if let TSNamespaceDeclarationBody::TSModuleBlock(block) = &ns.body {
        for s in &block.body {
            let f = match s {
                Statement::FunctionDeclaration(f) => Some(f),
                Statement::ExportDeclaration(e) => match &e.declaration {
                    Declaration::FunctionDeclaration(f) => Some(f),
                    _ => None,
                },
                _ => None,
            };
            if let Some(id) = f.and_then(|f| f.id.as_ref()) {
                names.push(format!("{prefix}.{}", id.name));
            }
        }
    }
}

/// Names a type declaration file exports, as the kit's `describeDts` lists them: exported
/// function declarations, export aliases (`export * as ns`, `export { a, b as c }`), and the
/// functions of exported namespaces as `ns.fn`. Not types, interfaces or `export const`.
pub fn adaptor_exports_from_dts(dts: &str) -> Vec<String> {
    let alloc = Allocator::default();
    let ret = Parser::new(&alloc, dts, SourceType::d_ts()).parse();
    let mut names = Vec::new();
    for stmt in &ret.program.body {
        match stmt {
            Statement::ExportDeclaration(e) => match &e.declaration {
                Declaration::FunctionDeclaration(f) => {
                    if let Some(id) = &f.id {
                        names.push(id.name.to_string());
                    }
                }
                Declaration::TSNamespaceDeclaration(ns) => namespace_functions(&mut names, ns),
                _ => {}
            },
            Statement::ExportNamedDeclaration(e) => {
                names.extend(e.specifiers.iter().map(|s| s.exported.name().to_string()));
            }
            Statement::ExportFromDeclaration(e) => {
                names.extend(e.specifiers.iter().map(|s| s.exported.name().to_string()));
            }
            Statement::ExportAllDeclaration(e) => {
                if let Some(alias) = &e.exported {
                    names.push(alias.name().to_string());
                }
            }
            _ => {}
        }
    }
    names
}

/// The kit's `preloadAdaptorExports(path)`: for a relative/absolute path to an installed
/// adaptor, the names exported by its `types` d.ts plus a sibling `adaptor.d.ts` or
/// `Adaptor.d.ts` (first that exists), without `default`, deduplicated in first-seen order.
/// Empty for bare specifiers, missing files or packages without `types`.
pub fn adaptor_exports(path_to_adaptor: &Path) -> Vec<String> {
    let Some(spec) = path_to_adaptor.to_str() else {
        return Vec::new();
    };
    if !is_relative_specifier(spec) {
        return Vec::new();
    }
    let Ok(pkg_text) = std::fs::read_to_string(path_to_adaptor.join("package.json")) else {
        return Vec::new();
    };
    let Ok(pkg) = serde_json::from_str::<serde_json::Value>(&pkg_text) else {
        return Vec::new();
    };
    let Some(types) = pkg.get("types").and_then(serde_json::Value::as_str) else {
        return Vec::new();
    };
    let mut all = Vec::new();
    if let Ok(dts) = std::fs::read_to_string(path_to_adaptor.join(types)) {
        all.extend(adaptor_exports_from_dts(&dts));
    }
    let types_root = Path::new(types).parent().unwrap_or(Path::new(""));
    for name in ["adaptor.d.ts", "Adaptor.d.ts"] {
        if let Ok(dts) = std::fs::read_to_string(path_to_adaptor.join(types_root).join(name)) {
            all.extend(adaptor_exports_from_dts(&dts));
            break;
        }
    }
    let mut seen = std::collections::HashSet::new();
    all.into_iter()
        .filter(|n| n != "default" && seen.insert(n.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for p in [
            "script.js",
            "my script.js",
            "../x.js",
            "/p/x.ojs",
            "/p/x.ts",
            "/p/x.json",
        ] {
            assert!(is_path(p), "{p}");
        }
        for p in [
            "a\nb.js",
            "const x = 10",
            "export default \"script.js\";",
            "thing.ex",
            "x.java",
            "config.yaml",
        ] {
            assert!(!is_path(p), "{p}");
        }
    }

    #[test]
    fn relative_specifiers() {
        for s in ["./x", "/x", "~/x", ".", "..", "C:\\repo\\x"] {
            assert!(is_relative_specifier(s), "{s}");
        }
        for s in [
            "module",
            "module/sub",
            "namespace@module",
            "module@^3.2.1",
            "@ns@module@=3.2.1",
            "ab:\\repo\\module",
        ] {
            assert!(!is_relative_specifier(s), "{s}");
        }
    }

    #[test]
    fn exports_of_js() {
        let src = "export const x = 1, y = 2;\nexport function zomething() {}\nexport default 10;";
        assert_eq!(get_exports(src), ["x", "y", "zomething"]);
        assert_eq!(
            get_exports("const a = 1; export { a, a as b }; export { c } from 'z';"),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn exports_of_dts() {
        let dts = "export declare function fn(f: any): any;\nexport declare const x: number;\nexport interface Foo {}\nexport type T = string;\nexport * as beta from './beta';\nexport { each, _ } from './x';\nexport default fn;\nexport declare namespace util { function helper(): void; }\n";
        assert_eq!(
            adaptor_exports_from_dts(dts),
            ["fn", "beta", "each", "_", "util.helper"]
        );
    }
}
