//! Where a loader's tensor bytes come from: a whole file already in memory, or a file on disk
//! read a chunk at a time, so that no buffer the size of a tensor is ever allocated.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::LoadError;
use super::decode::Float;
use super::header::{self, Header};

/// Bytes read from disk at a time: large enough that system calls cost nothing next to
/// decoding, small enough to vanish next to a model's weights.
pub(super) const CHUNK_BYTES: usize = 1 << 20;

/// The safetensors file a [`Loader`](super::Loader) reads from.
#[derive(Debug)]
pub(super) enum Source<'data> {
    /// The whole file, in memory.
    Bytes(&'data [u8]),
    /// The file at `path`, read `chunk_bytes` (rounded down to whole values) at a time.
    File {
        file: File,
        path: PathBuf,
        chunk_bytes: usize,
    },
}

impl Source<'static> {
    /// Opens the file at `path` and checks its header, reading the header's bytes only.
    pub(super) fn open(path: &Path, chunk_bytes: usize) -> Result<(Self, Header), LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut first = [0; 8];
        let first = &mut first[..file_len.min(8) as usize];
        read_at(&file, first, 0).map_err(io)?;
        // At most the file's length, and at most 8 bytes past the largest header allowed.
        let mut prefix = vec![0; header::prefix_len(first, file_len) as usize];
        read_at(&file, &mut prefix, 0).map_err(io)?;
        let header = header::parse_file(&prefix, file_len, Some(path))?;
        let source = Self::File {
            file,
            path: path.to_path_buf(),
            chunk_bytes,
        };
        Ok((source, header))
    }
}

impl Source<'_> {
    /// Decodes the values of tensor `name`, stored as `float` from byte `offset` of the file
    /// on, into `parts` laid end to end. The header check put all of them inside the file;
    /// reading a file that has since changed can still fail, with the `Io` error naming the
    /// file and the tensor.
    pub(super) fn read(
        &self,
        name: &str,
        float: Float,
        offset: u64,
        parts: &mut [&mut [f32]],
    ) -> Result<(), LoadError> {
        match self {
            Self::Bytes(bytes) => {
                let data = usize::try_from(offset).ok().and_then(|at| bytes.get(at..));
                decode_parts(float, data.unwrap_or_default(), parts);
                Ok(())
            }
            Self::File {
                file,
                path,
                chunk_bytes,
            } => {
                read_chunked(file, *chunk_bytes, float, offset, parts).map_err(|e| LoadError::Io {
                    path: path.clone(),
                    source: io::Error::new(e.kind(), format!("reading tensor \"{name}\": {e}")),
                })
            }
        }
    }
}

impl<'data> Source<'data> {
    /// The `len` bytes of tensor `name` from byte `offset` of the file on, as stored: borrowed
    /// from memory, or read from disk in one piece (the `Io` error names the file and the
    /// tensor). The header check put them inside the file.
    pub(super) fn bytes(
        &self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Cow<'data, [u8]>, LoadError> {
        match self {
            Self::Bytes(bytes) => {
                let data = usize::try_from(offset)
                    .ok()
                    .and_then(|at| bytes.get(at..)?.get(..len));
                Ok(Cow::Borrowed(data.unwrap_or_default()))
            }
            Self::File { file, path, .. } => {
                let mut buffer = vec![0; len];
                read_at(file, &mut buffer, offset).map_err(|e| LoadError::Io {
                    path: path.clone(),
                    source: io::Error::new(e.kind(), format!("reading tensor \"{name}\": {e}")),
                })?;
                Ok(Cow::Owned(buffer))
            }
        }
    }
}

/// Decodes `data` into `parts` laid end to end, as far as `data` goes.
fn decode_parts(float: Float, mut data: &[u8], parts: &mut [&mut [f32]]) {
    for part in parts {
        let split = data.split_at_checked(part.len().saturating_mul(float.width()));
        let (head, tail) = split.unwrap_or((data, &[]));
        float.decode(head, part);
        data = tail;
    }
}

/// Reads `parts` from `file` at `offset` on, a chunk of at most `chunk_bytes` (but at least
/// one value) at a time, each decoded into its place as it arrives.
fn read_chunked(
    file: &File,
    chunk_bytes: usize,
    float: Float,
    mut offset: u64,
    parts: &mut [&mut [f32]],
) -> io::Result<()> {
    let width = float.width();
    let chunk_values = (chunk_bytes / width).max(1);
    let values: usize = parts.iter().map(|part| part.len()).sum();
    let mut buffer = vec![0; chunk_values.min(values) * width];
    for part in parts {
        for out in part.chunks_mut(chunk_values) {
            let bytes = &mut buffer[..out.len() * width];
            read_at(file, bytes, offset)?;
            float.decode(bytes, out);
            offset += bytes.len() as u64;
        }
    }
    Ok(())
}

/// Fills `buf` from `file` at `offset`, without moving a shared cursor.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset`. `&File` reads and seeks, so no `&mut` is needed.
#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
