//! The crate's modules as the actors' rule has them (see `messages`): no
//! actor's module imports another actor's, only `sandbox` knows them all and
//! nothing imports it, and no two top-level modules import each other,
//! directly or round a cycle. Read from the sources: every `crate::`
//! path outside comments.

#![deny(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules an actor (or the bridge that feeds one) lives in.
const ACTORS: [&str; 6] = ["bridge", "container", "controller", "loader", "signals", "watchdog"];

/// The module that starts the system and so knows every actor.
const WIRING: &str = "sandbox";

/// Top-level module → the top-level modules it names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("a source folder")
                    .map(|entry| entry.expect("an entry").path()),
            );
            continue;
        }
        let relative = path.strip_prefix(&src).expect("under src");
        let top = relative
            .components()
            .next()
            .expect("a file")
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        let named = graph.entry(top.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let group = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or_default(),
                    None => rest,
                };
                for item in group.split(',') {
                    let module: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !module.is_empty() && module != top {
                        named.insert(module);
                    }
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for named in graph.values_mut() {
        named.retain(|module| modules.contains(module));
    }
    graph
}

#[test]
fn no_actor_imports_another_and_none_imports_the_wiring() {
    let graph = imports();
    assert!(graph.contains_key(WIRING) && ACTORS.iter().all(|actor| graph.contains_key(*actor)));
    for (module, named) in &graph {
        if ACTORS.contains(&module.as_str()) {
            let actors: Vec<_> = named.iter().filter(|other| ACTORS.contains(&other.as_str())).collect();
            assert!(actors.is_empty(), "the actor module {module} imports {actors:?}");
        }
        assert!(!named.contains(WIRING), "{module} imports {WIRING}");
    }
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = imports();
    // Kahn's algorithm: what cannot be ordered is on a cycle.
    let mut pending: BTreeMap<&str, usize> = graph
        .iter()
        .map(|(module, named)| (module.as_str(), named.len()))
        .collect();
    let mut ordered = Vec::new();
    while let Some(leaf) = pending
        .iter()
        .find(|(_, count)| **count == 0)
        .map(|(module, _)| *module)
    {
        pending.remove(leaf);
        ordered.push(leaf);
        for (module, count) in &mut pending {
            if graph[*module].contains(leaf) {
                *count -= 1;
            }
        }
    }
    assert!(
        pending.is_empty(),
        "modules on a cycle: {:?}",
        pending.keys().collect::<Vec<_>>()
    );
}
