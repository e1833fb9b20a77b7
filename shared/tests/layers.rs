//! The layer order of the crate (README "Layout"): a module may use modules of its own layer
//! and of the layers below it, never one above. This reads every source file of `src/` and
//! fails on a `crate::<module>` path that points upwards, and on a top-level module that is
//! not in the table (a new module must be given its place).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom to top.
const LAYERS: &[&[&str]] = &[
    // Pure rules and values, no I/O.
    &["domain", "clock"],
    // Settings and secrets.
    &["config", "keys", "limits"],
    // The table port with its adapters, and the error types over it.
    &["store", "error"],
    // Keys and load/save: the only place that builds sort keys.
    &["repo"],
    // The application context: ports only.
    &["app"],
    // Use cases: the write path, credentials, providers, synthetic data, queries.
    &["ingest", "auth", "providers", "seed", "services"],
    // Background work (runs the use cases).
    &["jobs"],
    // HTTP: handlers, the OpenAPI document and the developer portal (a client of the API).
    &["api", "openapi", "portal"],
    // Process entry points: the local server and the Lambda bootstraps.
    &["bootstrap", "server"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `crate::<name>` references in code (comments stripped, doc links included: a doc link to a
/// layer above is a dependency in prose and is not allowed either).
fn crate_refs(line: &str) -> Vec<String> {
    let code = match line.find("//") {
        Some(i) if !line[i..].starts_with("///") && !line[i..].starts_with("//!") => &line[..i],
        _ => line,
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // e.g. `$crate::` or `other_crate::`
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut unknown = BTreeSet::new();
    let mut upward = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("path")
            .trim_end_matches(".rs")
            .to_string();
        if first == "lib" {
            continue;
        }
        let Some(own) = layer_of(&first) else {
            unknown.insert(first);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for target in crate_refs(line) {
                match layer_of(&target) {
                    Some(t) if t > own => upward.push(format!(
                        "{}:{}: `{first}` (layer {own}) uses `{target}` (layer {t})",
                        rel.display(),
                        n + 1
                    )),
                    Some(_) => {}
                    None => {
                        unknown.insert(target);
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules without a layer (add them to LAYERS and to the README's Layout): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports pointing to a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reference_scanner_sees_paths_and_skips_comments() {
    assert_eq!(crate_refs("use crate::api::State;"), ["api"]);
    assert_eq!(
        crate_refs("let x = crate::repo::a(crate::keys::b);"),
        ["repo", "keys"]
    );
    assert!(crate_refs("// crate::api in a comment").is_empty());
    assert!(crate_refs("foo(); // crate::api trailing").is_empty());
    assert_eq!(crate_refs("/// see [`crate::app::AppState`]"), ["app"]);
    assert!(crate_refs("$crate::x and my_crate::y").is_empty());
}
