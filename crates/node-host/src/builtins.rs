//! The JavaScript sources compiled into the binary: Node built-in module shims (`js/builtins`),
//! vendored MIT/BSD polyfills (`js/vendor`, license files kept beside them) and the realm
//! bootstrap. Built-ins are CommonJS-style files run by the bootstrap's module system.

/// The bootstrap script (see `js/bootstrap.js`).
pub(crate) const BOOTSTRAP: &str = include_str!("../js/bootstrap.js");

/// Names that resolve to built-in modules, with or without the `node:` prefix. `undici` is here
/// too: the host-backed implementation replaces the npm package for every importer.
pub(crate) const BUILTIN_NAMES: &[&str] = &[
    "assert",
    "assert/strict",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "dns/promises",
    "events",
    "fs",
    "fs/promises",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "path/posix",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "sqlite",
    "stream",
    "stream/promises",
    "stream/web",
    "string_decoder",
    "sys",
    "timers",
    "timers/promises",
    "tls",
    "tty",
    "undici",
    "url",
    "util",
    "util/types",
    "v8",
    "vm",
    "worker_threads",
    "zlib",
];

/// Whether `spec` (with or without `node:`, with an optional trailing `/`) names a built-in;
/// returns the canonical `node:<name>` id.
pub(crate) fn builtin_id(spec: &str) -> Option<String> {
    let name = spec.strip_prefix("node:").unwrap_or(spec);
    let name = if name.len() > 1 {
        name.strip_suffix('/').unwrap_or(name)
    } else {
        name
    };
    BUILTIN_NAMES
        .contains(&name)
        .then(|| format!("node:{name}"))
}

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../js/", $path)))),*]
    };
}

/// Every embedded CommonJS file, by its key (path under `js/`).
pub(crate) const FILES: &[(&str, &str)] = files![
    "builtins/assert.js",
    "builtins/assert_strict.js",
    "builtins/async_hooks.js",
    "builtins/buffer.js",
    "builtins/child_process.js",
    "builtins/cluster.js",
    "builtins/console.js",
    "builtins/constants.js",
    "builtins/crypto.js",
    "builtins/dgram.js",
    "builtins/diagnostics_channel.js",
    "builtins/dns.js",
    "builtins/dns_promises.js",
    "builtins/events.js",
    "builtins/fs.js",
    "builtins/fs_promises.js",
    "builtins/http.js",
    "builtins/http2.js",
    "builtins/https.js",
    "builtins/inspector.js",
    "builtins/module.js",
    "builtins/net.js",
    "builtins/os.js",
    "builtins/path.js",
    "builtins/path_posix.js",
    "builtins/perf_hooks.js",
    "builtins/process.js",
    "builtins/punycode.js",
    "builtins/querystring.js",
    "builtins/readline.js",
    "builtins/sqlite.js",
    "builtins/stream.js",
    "builtins/stream_promises.js",
    "builtins/stream_web.js",
    "builtins/string_decoder.js",
    "builtins/sys.js",
    "builtins/timers.js",
    "builtins/timers_promises.js",
    "builtins/tls.js",
    "builtins/tty.js",
    "builtins/undici.js",
    "builtins/url.js",
    "builtins/util.js",
    "builtins/util_types.js",
    "builtins/v8.js",
    "builtins/vm.js",
    "builtins/worker_threads.js",
    "builtins/zlib.js",
    "builtins/internal_encoding.js",
    "builtins/internal_fetch.js",
    "builtins/internal_inspect.js",
    "builtins/internal_stub.js",
    "builtins/internal_web.js",
    "vendor/base64-js/index.js",
    "vendor/buffer/index.js",
    "vendor/events/events.js",
    "vendor/ieee754/index.js",
    "vendor/inherits/inherits_browser.js",
    "vendor/readable-stream/errors.js",
    "vendor/readable-stream/readable-browser.js",
    "vendor/readable-stream/lib/_stream_duplex.js",
    "vendor/readable-stream/lib/_stream_passthrough.js",
    "vendor/readable-stream/lib/_stream_readable.js",
    "vendor/readable-stream/lib/_stream_transform.js",
    "vendor/readable-stream/lib/_stream_writable.js",
    "vendor/readable-stream/lib/internal/streams/async_iterator.js",
    "vendor/readable-stream/lib/internal/streams/buffer_list.js",
    "vendor/readable-stream/lib/internal/streams/destroy.js",
    "vendor/readable-stream/lib/internal/streams/end-of-stream.js",
    "vendor/readable-stream/lib/internal/streams/from.js",
    "vendor/readable-stream/lib/internal/streams/pipeline.js",
    "vendor/readable-stream/lib/internal/streams/state.js",
    "vendor/readable-stream/lib/internal/streams/stream.js",
    "vendor/string_decoder/string_decoder.js",
    "vendor/util-deprecate/browser.js",
];

/// The source of an embedded file.
pub(crate) fn file(key: &str) -> Option<&'static str> {
    FILES.iter().find(|(k, _)| *k == key).map(|(_, src)| *src)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_has_a_file() {
        for name in super::BUILTIN_NAMES {
            let key = format!("builtins/{}.js", name.replace('/', "_"));
            assert!(super::file(&key).is_some(), "{key}");
        }
    }
}
