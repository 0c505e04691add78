//! The crate's modules depend on each other without cycles: every `crate::module` a file names,
//! followed from file to file, never leads back to the file itself.

use std::collections::{BTreeMap, BTreeSet};

/// The modules (files of src/, without `.rs`) a source text names through `crate::`.
fn named_modules(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
            None => vec![rest],
        };
        for n in names {
            let ident: String = n.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if modules.contains(&ident) {
                out.insert(ident);
            }
        }
    }
    out
}

/// A cycle through `start`'s dependencies, as the path of modules, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for dep in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(dep, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: BTreeMap<String, String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .filter(|(name, _)| name != "lib" && name != "main")
        .collect();
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(name, text)| {
            let mut deps = named_modules(text, &modules);
            deps.remove(name);
            (name.clone(), deps)
        })
        .collect()
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let modules: BTreeSet<String> = ["server", "watch", "store"].into_iter().map(String::from).collect();
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("server".to_string(), named_modules("use crate::watch::watch_response;\nuse crate::{store, error};", &modules)),
        ("watch".to_string(), named_modules("use crate::server::{Req, Shared};", &modules)),
        ("store".to_string(), BTreeSet::new()),
    ]
    .into_iter()
    .collect();
    assert_eq!(graph["server"], ["store", "watch"].into_iter().map(String::from).collect());
    assert_eq!(find_cycle(&graph), Some(vec!["server".to_string(), "watch".to_string(), "server".to_string()]));
}

#[test]
fn module_dependencies_form_a_dag() {
    let graph = module_graph();
    assert!(graph["server"].contains("store") && graph["watch"].contains("store"), "the graph is read: {graph:?}");
    assert_eq!(find_cycle(&graph), None, "modules import each other in a cycle; the graph: {graph:?}");
}
