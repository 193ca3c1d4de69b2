//! The adaptor repository: installs `name@version` adaptors with their dependency trees from the
//! npm registry into a repo directory (aliased `name_version` so versions live side by side),
//! resolves installed adaptors from disk, lists and cleans the repo.
//!
//! Not here: loading or running adaptor code (the runtime does that from the installed tree).
