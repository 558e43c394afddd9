//! The structure of the workspace, checked from its source: the kernel's
//! top-level modules are layers, each importing only the layers below it
//! (DESIGN.md §2), and no crate has a cycle between its top-level modules.
//!
//! A reference is any path the code names (`use`, or a path in an
//! expression or a type) that starts at `crate::`, or at `super::` and
//! climbs out of its top-level module; comments are not read. The crate
//! roots (lib.rs, main.rs) declare and wire the modules, and are not
//! checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules of cordon-actors an actor (or the bridge that feeds one)
/// lives in: they reach each other through the messages in `messages`.
const ACTORS: &[&str] = &["bridge", "container", "controller", "loader", "signals", "watchdog"];

/// The module of cordon-actors that starts the system and so knows every
/// actor; nothing imports it.
const ACTOR_WIRING: &str = "sandbox";

/// The kernel's layers, lowest first.
const KERNEL_LAYERS: &[&str] = &[
    "abi", "seccomp", "sync", "sys", "memory", "platform", "mm", "vfs", "fsimpl", "net", "task", "kernel", "syscalls",
    "control",
];

/// One reference from a file to a top-level module of its crate.
#[derive(Debug)]
struct Reference {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
}

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("read {}: {err}", dir.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file below the crate's `src`: `vfs/lookup.rs` is
/// `[vfs, lookup]`, `vfs/mod.rs` is `[vfs]`; None for the crate root.
fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let relative = file.strip_prefix(src).expect("below src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    match parts.as_slice() {
        [] => None,
        [root] if root == "lib" || root == "main" => None,
        _ => Some(parts),
    }
}

/// The code of a line, without a trailing `//` comment (string literals
/// holding `//` are rare enough in paths to ignore).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

/// The first segment of each path in `code` that starts at `start`
/// (`crate::`), including every member of a `crate::{a, b::c}` group.
fn first_segments<'a>(code: &'a str, start: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(start) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + start.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for member in group[..end].split(',') {
                let name = member.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() && name != "self" {
                    found.push(name);
                }
            }
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            found.push(&rest[..end]);
        }
    }
    found
}

/// The top-level modules a `super::super::x` path of a module at `depth`
/// (the file's module path length, plus inline modules around the line)
/// names when it climbs to the crate root: `x`.
fn climbing_references(code: &str, depth: usize) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        let before = rest[..at].chars().next_back();
        let path = &rest[at..];
        rest = &rest[at + "super::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let mut climbs = 0;
        let mut tail = path;
        while let Some(next) = tail.strip_prefix("super::") {
            climbs += 1;
            tail = next;
        }
        if climbs == depth {
            for name in first_segments(&format!("crate::{tail}"), "crate::") {
                found.push(&tail[tail.find(name).expect("segment of the tail")..][..name.len()]);
            }
        }
    }
    found
}

/// Every reference between different top-level modules of the crate whose
/// sources are in `src`.
fn references(src: &Path) -> Vec<Reference> {
    let mut out = Vec::new();
    for file in sources(src) {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let top = module[0].clone();
        let text = std::fs::read_to_string(&file).expect("read a source file");
        // Inline modules (`mod tests { … }`) deepen `super::` by one while
        // their braces are open.
        let mut inline: Vec<usize> = Vec::new();
        let mut depth_braces = 0usize;
        for (index, line) in text.lines().enumerate() {
            let code = code_of(line);
            let trimmed = code.trim_start();
            let opens_module =
                (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ")) && trimmed.trim_end().ends_with('{');
            let mut names: Vec<&str> = first_segments(code, "crate::");
            names.extend(climbing_references(code, module.len() + inline.len()));
            for name in names {
                if name != top {
                    out.push(Reference {
                        file: file.clone(),
                        line: index + 1,
                        from: top.clone(),
                        to: name.to_string(),
                    });
                }
            }
            if opens_module {
                inline.push(depth_braces);
            }
            for c in code.chars() {
                match c {
                    '{' => depth_braces += 1,
                    '}' => {
                        depth_braces = depth_braces.saturating_sub(1);
                        if inline.last() == Some(&depth_braces) {
                            inline.pop();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// A cycle among the top-level modules `edges` links, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn assert_no_cycle(src: &Path) {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for reference in references(src) {
        edges.entry(reference.from).or_default().insert(reference.to);
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!(
            "{}: top-level modules import each other: {}",
            src.display(),
            cycle.join(" -> ")
        );
    }
}

#[test]
fn kernel_layers_import_only_the_layers_below() {
    let src = workspace().join("kernel/src");
    let rank = |module: &str| KERNEL_LAYERS.iter().position(|layer| *layer == module);
    let mut wrong = Vec::new();
    for module in std::fs::read_dir(&src).expect("kernel/src") {
        let path = module.expect("entry").path();
        let name = path.file_stem().expect("a name").to_string_lossy().to_string();
        if name != "lib" {
            assert!(
                rank(&name).is_some(),
                "kernel/src/{name} is in no layer: add it to KERNEL_LAYERS"
            );
        }
    }
    for reference in references(&src) {
        let from = rank(&reference.from).expect("checked above");
        match rank(&reference.to) {
            Some(to) if to < from => {}
            _ => wrong.push(format!(
                "{}:{}: {} imports {}",
                reference.file.strip_prefix(&src).expect("below src").display(),
                reference.line,
                reference.from,
                reference.to
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "imports of a layer that is not below (order: {}):\n{}",
        KERNEL_LAYERS.join(" < "),
        wrong.join("\n")
    );
}

#[test]
fn no_crate_has_a_cycle_between_its_top_level_modules() {
    for crate_src in ["src", "actors/src", "kernel/src"] {
        assert_no_cycle(&workspace().join(crate_src));
    }
}

#[test]
fn no_actor_module_imports_another_nor_the_wiring() {
    let src = workspace().join("actors/src");
    let found = references(&src);
    for module in ACTORS.iter().chain([&ACTOR_WIRING]) {
        assert!(
            found.iter().any(|r| r.from == *module),
            "actors/src/{module} is gone or imports nothing: update ACTORS"
        );
    }
    let wrong: Vec<String> = found
        .iter()
        .filter(|r| (ACTORS.contains(&r.from.as_str()) && ACTORS.contains(&r.to.as_str())) || r.to == ACTOR_WIRING)
        .map(|r| format!("{}:{}: {} imports {}", r.file.display(), r.line, r.from, r.to))
        .collect();
    assert!(
        wrong.is_empty(),
        "actors reach each other only through messages:\n{}",
        wrong.join("\n")
    );
}

/// The kernel's modules that may hold `unsafe` (DESIGN.md §2): host calls,
/// the memory file, the platform.
const UNSAFE_MODULES: &[&str] = &["memory", "platform", "sys"];

#[test]
fn unsafe_code_is_denied_but_in_the_low_layers() {
    for root in ["src/lib.rs", "src/main.rs", "actors/src/lib.rs", "kernel/src/lib.rs"] {
        let text = std::fs::read_to_string(workspace().join(root)).expect("a crate root");
        assert!(
            text.contains("#![deny(unsafe_code)]"),
            "{root} does not deny unsafe code"
        );
    }
    let lib = std::fs::read_to_string(workspace().join("kernel/src/lib.rs")).expect("the kernel's root");
    let mut allowed = Vec::new();
    let mut lines = lib.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[allow(unsafe_code)]" {
            let module = lines
                .next()
                .unwrap_or("")
                .trim()
                .trim_start_matches("pub mod ")
                .trim_end_matches(';');
            allowed.push(module.to_string());
        }
    }
    allowed.sort();
    assert_eq!(allowed, UNSAFE_MODULES, "the kernel modules allowed unsafe code");
    for crate_src in ["src", "actors/src", "kernel/src", "tests"] {
        for file in sources(&workspace().join(crate_src)) {
            if file.ends_with("kernel/src/lib.rs") || file.ends_with("tests/layers.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("a source file");
            assert!(
                !text.contains("allow(unsafe_code)"),
                "{} allows unsafe code",
                file.display()
            );
        }
    }
}

#[test]
fn the_checks_see_what_they_check() {
    // The parser finds paths in every form the code uses them.
    assert_eq!(first_segments("use crate::vfs::File;", "crate::"), ["vfs"]);
    assert_eq!(
        first_segments("use crate::{abi, sync::Waker};", "crate::"),
        ["abi", "sync"]
    );
    assert_eq!(first_segments("x(crate::task::INIT_PID)", "crate::"), ["task"]);
    assert!(first_segments("cordon_kernel::vfs::File", "crate::").is_empty());
    assert_eq!(climbing_references("use super::super::task::Task;", 2), ["task"]);
    assert!(climbing_references("use super::super::task::Task;", 3).is_empty());
    // And a cycle is a cycle.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert!(find_cycle(&edges).is_none());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    // The kernel's modules are read.
    let found = references(&workspace().join("kernel/src"));
    assert!(
        found.iter().any(|r| r.from == "syscalls" && r.to == "task"),
        "the system-call handlers reach tasks"
    );
}
