//! Dependency resolution: builds the full tree of one adaptor with node-semver semantics and
//! places every package as high as it can go inside the adaptor's own `node_modules`, npm-style
//! (de-duplicated; a conflicting version is nested under the package that needs it).
//!
//! The tree is rooted at the adaptor itself (the alias directory). A package placed in the
//! `children` of node `p` lives at `<p>/node_modules/<name>`, so Node's resolution (walk up
//! the ancestors' `node_modules`) finds, from any package, the nearest placement of a name. The
//! placement rule keeps that nearest placement satisfying for every dependency edge.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::join_all;
use nodejs_semver::{Range, Version};

use crate::error::InstallError;
use crate::registry::{Manifest, Packument, Registry};
use crate::spec::{Requirement, parse_requirement, validate_name};

/// One placed package.
#[derive(Debug)]
pub(crate) struct Node {
    /// The directory name under `node_modules` (differs from `name` for `npm:` aliases).
    pub dir_name: String,
    /// The real package name.
    pub name: String,
    pub version: Version,
    pub manifest: Arc<Manifest>,
    pub parent: Option<usize>,
    pub children: BTreeMap<String, usize>,
    /// Reached only through optional dependencies: a failure to fetch it is not fatal.
    pub optional: bool,
    /// An optional package left out because one of its own dependencies failed.
    pub pruned: bool,
}

/// The resolved tree of one adaptor; `nodes[0]` is the adaptor.
#[derive(Debug)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
}

#[derive(Debug)]
struct Edge {
    from: usize,
    dir_name: String,
    name: String,
    range: Range,
    to: usize,
}

/// One dependency entry being resolved.
struct Dep {
    from: usize,
    dir_name: String,
    spec: String,
    name: String,
    kind: Kind,
    optional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Required,
    Optional,
    Peer,
}

impl Tree {
    /// Whether `id` or one of its ancestors was pruned (and so is not installed).
    pub(crate) fn is_pruned(&self, mut id: usize) -> bool {
        loop {
            if self.nodes[id].pruned {
                return true;
            }
            match self.nodes[id].parent {
                Some(parent) => id = parent,
                None => return false,
            }
        }
    }

    /// The directory of `id` relative to the adaptor root.
    pub(crate) fn relative_path(&self, id: usize) -> PathBuf {
        let mut chain = Vec::new();
        let mut current = id;
        while let Some(parent) = self.nodes[current].parent {
            chain.push(&self.nodes[current].dir_name);
            current = parent;
        }
        let mut path = PathBuf::new();
        for name in chain.into_iter().rev() {
            path.push("node_modules");
            path.push(name);
        }
        path
    }

    /// Resolves the dependency tree of `root` (already chosen by the caller).
    pub(crate) async fn resolve(
        registry: &Registry,
        root_name: &str,
        root_version: Version,
        root: Arc<Manifest>,
    ) -> Result<Tree, InstallError> {
        let mut tree = Tree {
            nodes: vec![Node {
                dir_name: root_name.to_owned(),
                name: root_name.to_owned(),
                version: root_version,
                manifest: root,
                parent: None,
                children: BTreeMap::new(),
                optional: false,
                pruned: false,
            }],
        };
        let mut edges: Vec<Edge> = Vec::new();
        let mut queue = VecDeque::from([0usize]);
        let mut prefetched = vec![false];
        while let Some(id) = queue.pop_front() {
            if !prefetched[id] {
                let wave: Vec<usize> = std::iter::once(id).chain(queue.iter().copied()).collect();
                for &n in &wave {
                    prefetched[n] = true;
                }
                tree.prefetch(registry, &wave).await;
            }
            let pending = tree.unplaced_dependencies(id, &mut edges)?;
            for new in tree.fetch_and_place(registry, pending, &mut edges).await? {
                prefetched.push(false);
                queue.push_back(new);
            }
        }
        Ok(tree)
    }

    /// One wave of concurrent packument requests for the dependencies of every node in `wave`
    /// (the node at hand and the queue), so the tree costs one round trip per depth level
    /// rather than one per package.
    async fn prefetch(&self, registry: &Registry, wave: &[usize]) {
        let names: BTreeSet<String> = wave
            .iter()
            .flat_map(|&n| dependencies_of(&self.nodes[n].manifest))
            .filter_map(|(dir, spec, _)| real_name(&dir, &spec).ok().map(|(n, _)| n))
            .collect();
        join_all(names.iter().map(|n| registry.packument(n))).await;
    }

    /// The dependencies of node `id` that no package placed earlier satisfies (those that one
    /// does get their edge with no registry request at all); a bad optional one is skipped.
    fn unplaced_dependencies(
        &mut self,
        id: usize,
        edges: &mut Vec<Edge>,
    ) -> Result<Vec<(Dep, Requirement)>, InstallError> {
        let node_optional = self.nodes[id].optional;
        let mut pending = Vec::new();
        for (dir_name, spec, kind) in dependencies_of(&self.nodes[id].manifest) {
            let optional = node_optional || kind == Kind::Optional;
            let parsed = validate_name(&dir_name)
                .map_err(|reason| InstallError::InvalidMetadata {
                    name: self.nodes[id].name.clone(),
                    reason: format!("dependency name {dir_name:?}: {reason}"),
                })
                .and_then(|()| real_name(&dir_name, &spec));
            let (name, requirement) = match parsed {
                Ok(parsed) => parsed,
                Err(e) if optional => {
                    tracing::debug!(dependency = dir_name, "skipping optional dependency: {e}");
                    if kind != Kind::Optional {
                        self.nodes[id].pruned = true;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let dep = Dep {
                from: id,
                dir_name,
                spec,
                name,
                kind,
                optional,
            };
            // Already satisfied by a package placed earlier: no registry request at all.
            let range = match &requirement {
                Requirement::Any => Some(Range::any()),
                Requirement::Range(r) => Some(r.clone()),
                Requirement::Exact(v) => Some(exact_range(v, &dep.name)?),
                Requirement::Tag(_) => None,
            };
            if let Some(range) = range
                && self.use_existing(&dep, &range, edges)
            {
                continue;
            }
            pending.push((dep, requirement));
        }
        Ok(pending)
    }

    /// Fetches the packuments the `pending` dependencies need, all at once, and places each;
    /// the new nodes (whose dependencies are still to resolve). A failed optional dependency is
    /// left out (and its optional parent pruned when it was a required dependency of it).
    async fn fetch_and_place(
        &mut self,
        registry: &Registry,
        pending: Vec<(Dep, Requirement)>,
        edges: &mut Vec<Edge>,
    ) -> Result<Vec<usize>, InstallError> {
        let mut placed_new = Vec::new();
        let fetched = join_all(pending.iter().map(|(dep, _)| registry.packument(&dep.name))).await;
        for ((dep, requirement), packument) in pending.into_iter().zip(fetched) {
            let placed =
                packument.and_then(|packument| self.place(&dep, requirement, &packument, edges));
            match placed {
                Ok(Some(new)) => placed_new.push(new),
                Ok(None) => {}
                Err(e) if dep.optional => {
                    tracing::debug!(
                        dependency = dep.dir_name,
                        "skipping optional dependency: {e}"
                    );
                    // A required dependency of an optional package failed: npm leaves the
                    // optional package out altogether.
                    if dep.kind != Kind::Optional {
                        self.nodes[dep.from].pruned = true;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(placed_new)
    }

    fn start_of(&self, dep: &Dep) -> usize {
        // Peers must be found from the dependent's parent (they are its siblings or higher).
        match dep.kind {
            Kind::Peer => self.nodes[dep.from].parent.unwrap_or(dep.from),
            _ => dep.from,
        }
    }

    /// Records the edge and returns true when Node's lookup from the dependent already finds a
    /// version the range accepts.
    fn use_existing(&mut self, dep: &Dep, range: &Range, edges: &mut Vec<Edge>) -> bool {
        let Some(found) = self.lookup(self.start_of(dep), &dep.dir_name) else {
            return false;
        };
        let node = &mut self.nodes[found];
        if node.name != dep.name || !range.satisfies(&node.version) {
            return false;
        }
        if !dep.optional {
            node.optional = false;
        }
        edges.push(Edge {
            from: dep.from,
            dir_name: dep.dir_name.clone(),
            name: dep.name.clone(),
            range: range.clone(),
            to: found,
        });
        true
    }

    /// Picks a version for `dep` and places it; returns the id of the new node, or `None`
    /// when an existing placement satisfies it or an optional package does not fit this
    /// platform.
    fn place(
        &mut self,
        dep: &Dep,
        requirement: Requirement,
        packument: &Packument,
        edges: &mut Vec<Edge>,
    ) -> Result<Option<usize>, InstallError> {
        let name = &dep.name;
        let range = match requirement {
            Requirement::Any => Range::any(),
            Requirement::Range(r) => r,
            Requirement::Exact(v) => exact_range(&v, name)?,
            Requirement::Tag(tag) => {
                let version = packument.dist_tags.get(&tag).ok_or_else(|| {
                    InstallError::NoMatchingVersion {
                        name: name.clone(),
                        requirement: tag.clone(),
                        nearest: packument.nearest(&tag),
                    }
                })?;
                let version =
                    Version::parse(version).map_err(|e| InstallError::InvalidMetadata {
                        name: name.clone(),
                        reason: format!("dist-tag {tag} is {version:?}: {e}"),
                    })?;
                let range = exact_range(&version, name)?;
                if self.use_existing(dep, &range, edges) {
                    return Ok(None);
                }
                range
            }
        };
        let (version, manifest) =
            pick(packument, &range).ok_or_else(|| InstallError::NoMatchingVersion {
                name: name.clone(),
                requirement: dep.spec.clone(),
                nearest: packument.nearest(&dep.spec),
            })?;
        if dep.optional && !platform_matches(&manifest) {
            return Ok(None);
        }
        let from = dep.from;
        let level = self
            .placement(self.start_of(dep), &dep.dir_name, name, &version, edges)
            .or_else(|| (!self.nodes[from].children.contains_key(&dep.dir_name)).then_some(from))
            .ok_or_else(|| InstallError::InvalidMetadata {
                name: self.nodes[from].name.clone(),
                reason: format!(
                    "cannot place {name}@{version} without breaking another dependency"
                ),
            })?;
        let id = self.nodes.len();
        self.nodes.push(Node {
            dir_name: dep.dir_name.clone(),
            name: name.clone(),
            version,
            manifest,
            parent: Some(level),
            children: BTreeMap::new(),
            optional: dep.optional,
            pruned: false,
        });
        self.nodes[level].children.insert(dep.dir_name.clone(), id);
        edges.push(Edge {
            from,
            dir_name: dep.dir_name.clone(),
            name: name.clone(),
            range,
            to: id,
        });
        Ok(Some(id))
    }

    /// Node's lookup of `dir_name` from the package `start`: its own `node_modules`, then each
    /// ancestor's.
    fn lookup(&self, start: usize, dir_name: &str) -> Option<usize> {
        let mut current = Some(start);
        while let Some(id) = current {
            if let Some(&found) = self.nodes[id].children.get(dir_name) {
                return Some(found);
            }
            current = self.nodes[id].parent;
        }
        None
    }

    /// The highest ancestor of `start` (inclusive) whose `node_modules` can take the package:
    /// the name is free there and at every level in between, and putting it there does not
    /// change what an already resolved dependency below would find into a version it rejects.
    fn placement(
        &self,
        start: usize,
        dir_name: &str,
        name: &str,
        version: &Version,
        edges: &[Edge],
    ) -> Option<usize> {
        let mut best = None;
        let mut current = Some(start);
        while let Some(level) = current {
            if self.nodes[level].children.contains_key(dir_name)
                || self.would_shadow(level, dir_name, name, version, edges)
            {
                break;
            }
            best = Some(level);
            current = self.nodes[level].parent;
        }
        best
    }

    fn would_shadow(
        &self,
        level: usize,
        dir_name: &str,
        name: &str,
        version: &Version,
        edges: &[Edge],
    ) -> bool {
        edges.iter().any(|edge| {
            if edge.dir_name != dir_name || !self.is_ancestor_or_self(level, edge.from) {
                return false;
            }
            // Unaffected when the current target sits strictly below `level`.
            let holder = self.nodes[edge.to].parent.unwrap_or(0);
            if holder != level && self.is_ancestor_or_self(level, holder) {
                return false;
            }
            !(edge.name == name && edge.range.satisfies(version))
        })
    }

    fn is_ancestor_or_self(&self, ancestor: usize, mut id: usize) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.nodes[id].parent {
                Some(parent) => id = parent,
                None => return false,
            }
        }
    }

    /// Checks that every edge still resolves, by Node's walk-up, to a version it accepts.
    pub(crate) fn verify(&self) -> Result<(), String> {
        for node_id in 0..self.nodes.len() {
            if self.is_pruned(node_id) {
                continue;
            }
            for (dir_name, spec, kind) in dependencies_of(&self.nodes[node_id].manifest) {
                let start = match kind {
                    Kind::Peer => self.nodes[node_id].parent.unwrap_or(node_id),
                    _ => node_id,
                };
                let Ok((name, Requirement::Range(range))) = real_name(&dir_name, &spec) else {
                    continue;
                };
                match self.lookup(start, &dir_name) {
                    Some(found) if self.is_pruned(found) => {}
                    Some(found) => {
                        let node = &self.nodes[found];
                        if node.name != name || !range.satisfies(&node.version) {
                            return Err(format!(
                                "{}@{} needs {dir_name}@{spec} but finds {}@{}",
                                self.nodes[node_id].name,
                                self.nodes[node_id].version,
                                node.name,
                                node.version
                            ));
                        }
                    }
                    // Optional packages may lack what failed to resolve below them.
                    None if kind == Kind::Required && !self.nodes[node_id].optional => {
                        return Err(format!(
                            "{} cannot find {dir_name}",
                            self.nodes[node_id].name
                        ));
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }
}

fn exact_range(version: &Version, name: &str) -> Result<Range, InstallError> {
    Range::parse(format!("={version}")).map_err(|e| InstallError::InvalidMetadata {
        name: name.to_owned(),
        reason: format!("version {version}: {e}"),
    })
}

/// The dependencies npm installs for a package: `dependencies` and `optionalDependencies`
/// (the optional entry wins), and non-optional `peerDependencies` (npm 7+). Never
/// `devDependencies`. Sorted by name for a deterministic tree.
fn dependencies_of(manifest: &Manifest) -> Vec<(String, String, Kind)> {
    let mut deps: BTreeMap<String, (String, Kind)> = BTreeMap::new();
    for (name, spec) in &manifest.peer_dependencies {
        if !manifest.peer_is_optional(name) {
            deps.insert(name.clone(), (spec.clone(), Kind::Peer));
        }
    }
    for (name, spec) in &manifest.dependencies {
        deps.insert(name.clone(), (spec.clone(), Kind::Required));
    }
    for (name, spec) in &manifest.optional_dependencies {
        deps.insert(name.clone(), (spec.clone(), Kind::Optional));
    }
    deps.into_iter()
        .map(|(name, (spec, kind))| (name, spec, kind))
        .collect()
}

/// The real package name and the requirement of a dependency entry, unwrapping
/// `npm:<name>@<range>` aliases. Git, file and URL specs are rejected.
fn real_name(dir_name: &str, spec: &str) -> Result<(String, Requirement), InstallError> {
    let unsupported = || InstallError::UnsupportedDependency {
        name: dir_name.to_owned(),
        spec: spec.to_owned(),
    };
    let spec = spec.trim();
    if let Some(target) = spec.strip_prefix("npm:") {
        let (name, range) = match target.rfind('@') {
            Some(i) if i > 0 => (&target[..i], &target[i + 1..]),
            _ => (target, ""),
        };
        validate_name(name).map_err(|_| unsupported())?;
        return Ok((name.to_owned(), parse_requirement(range)));
    }
    let looks_like_location = spec.contains(':') || spec.contains('/') || spec.starts_with('.');
    if looks_like_location {
        return Err(unsupported());
    }
    match parse_requirement(spec) {
        Requirement::Tag(tag)
            if !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            Err(unsupported())
        }
        requirement => Ok((dir_name.to_owned(), requirement)),
    }
}

/// npm-pick-manifest's choice: the `latest` tag if it satisfies the range, else the highest
/// satisfying non-deprecated version, else the highest satisfying deprecated one.
/// Prereleases only match ranges that name a prerelease of the same version (node-semver).
pub(crate) fn pick(packument: &Packument, range: &Range) -> Option<(Version, Arc<Manifest>)> {
    if let Some(latest) = packument
        .dist_tags
        .get("latest")
        .and_then(|v| Version::parse(v).ok())
        && range.satisfies(&latest)
        && let Some(manifest) = packument.version(&latest)
    {
        return Some((latest, manifest.clone()));
    }
    let satisfying = || {
        packument
            .versions
            .iter()
            .rev()
            .filter(|(v, _)| range.satisfies(v))
    };
    satisfying()
        .find(|(_, m)| !m.is_deprecated())
        .or_else(|| satisfying().next())
        .map(|(v, m)| (v.clone(), m.clone()))
}

/// Whether a package's `os`/`cpu` lists (with `!` negations) admit this machine.
fn platform_matches(manifest: &Manifest) -> bool {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let cpu = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        "powerpc64" => "ppc64",
        other => other,
    };
    allowed(&manifest.os, os) && allowed(&manifest.cpu, cpu)
}

fn allowed(list: &[String], current: &str) -> bool {
    if list.is_empty() {
        return true;
    }
    if list.iter().any(|e| e.strip_prefix('!') == Some(current)) {
        return false;
    }
    let positives: Vec<&String> = list.iter().filter(|e| !e.starts_with('!')).collect();
    positives.is_empty() || positives.iter().any(|e| *e == current)
}
