//! Files for tests, removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A file under the system's temporary directory, unique to this process and call.
pub(super) struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A new file holding `bytes`.
    pub(super) fn new(bytes: &[u8]) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let name = format!("transformer-load-{}-{n}.safetensors", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, bytes).expect("the temporary directory is writable");
        Self { path }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Nothing to do if it is gone already: a test may remove it itself.
        let _ = std::fs::remove_file(&self.path);
    }
}
