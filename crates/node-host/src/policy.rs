//! The capability policy decided by the embedder: which hosts adaptor code may reach over HTTP
//! and under which directories modules may be read. Anything not granted is denied.

use std::path::{Path, PathBuf};

/// What the adaptor realm may do. The default policy allows nothing.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Host patterns HTTP requests may go to: `example.com`, `example.com:8080`, `*.example.com`
    /// or `*` for any host.
    pub allowed_hosts: Vec<String>,
    /// Directories (usually a repo's `node_modules`) that modules may be loaded from.
    pub module_roots: Vec<PathBuf>,
}

impl HostPolicy {
    /// A policy that denies every host and every module path.
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// Allows HTTP requests to hosts matching `pattern`.
    #[must_use]
    pub fn allow_host(mut self, pattern: impl Into<String>) -> Self {
        self.allowed_hosts.push(pattern.into());
        self
    }

    /// Allows loading modules from files under `dir`.
    #[must_use]
    pub fn allow_modules_under(mut self, dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        self.module_roots
            .push(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
        self
    }

    /// Whether a request to `host` (with `port`) is allowed.
    pub fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed_hosts.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            if pattern == "*" {
                return true;
            }
            let (pat_host, pat_port) = split_port(&pattern);
            if let Some(pp) = pat_port
                && Some(pp) != port
            {
                return false;
            }
            match pat_host.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => host == pat_host.trim_start_matches('[').trim_end_matches(']'),
            }
        })
    }

    /// Whether a module file may be read. `path` must be absolute.
    pub fn path_allowed(&self, path: &Path) -> bool {
        // Resolved paths are normalized real paths: check them as they are first, and only
        // canonicalize (a readlink per component) when that fails.
        let path = &normalize(path);
        if self.module_roots.iter().any(|root| path.starts_with(root)) {
            return true;
        }
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.module_roots.iter().any(|root| real.starts_with(root))
    }
}

fn split_port(pattern: &str) -> (&str, Option<u16>) {
    if let Some(idx) = pattern.rfind(':')
        && !pattern[..idx].contains(':')
        && let Ok(port) = pattern[idx + 1..].parse::<u16>()
    {
        return (&pattern[..idx], Some(port));
    }
    (pattern, None)
}

/// Removes `.` and `..` components lexically, so one file always has one module name.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::HostPolicy;

    #[test]
    fn hosts_fail_closed() {
        let p = HostPolicy::deny_all();
        assert!(!p.host_allowed("example.com", None));
        let p = HostPolicy::deny_all()
            .allow_host("*.example.com")
            .allow_host("127.0.0.1:8080");
        assert!(p.host_allowed("api.example.com", Some(443)));
        assert!(!p.host_allowed("example.com", Some(443)));
        assert!(!p.host_allowed("evilexample.com", Some(443)));
        assert!(p.host_allowed("127.0.0.1", Some(8080)));
        assert!(!p.host_allowed("127.0.0.1", Some(8081)));
    }
}
