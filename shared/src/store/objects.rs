//! The object port of the import bucket: the size and ETag of an object and ranged reads of
//! it, so an upload of any size is read in bounded pieces (never downloaded whole). The S3
//! adapter ([`S3Objects`], feature `s3`) runs against AWS or any S3-compatible endpoint;
//! [`RangeReader`] turns ranged reads into a blocking `Read + Seek` for the parsers.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

/// What a ranged read needs to know about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// The object's ETag, without quotes.
    pub etag: String,
}

/// A failed object call.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// No such object (deleted, expired by the lifecycle rule), or it changed since its
    /// ETag was read: running the import again cannot help.
    #[error("object not found or changed: {0}")]
    Gone(String),
    /// The service failed or was unreachable: a retry may succeed.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

/// How an [`ObjectError::Unavailable`] reads in a message (a read error of the parser).
pub const UNAVAILABLE: &str = "object store unavailable:";

/// Read access to the import bucket.
#[async_trait]
pub trait ObjectSource: Send + Sync + 'static {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError>;

    /// Bytes `start..end` (end exclusive) of the object, provided its ETag is still `etag`.
    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        start: u64,
        end: u64,
    ) -> Result<Bytes, ObjectError>;
}

/// The S3 adapter.
#[cfg(feature = "s3")]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
}

#[cfg(feature = "s3")]
impl S3Objects {
    /// A client from the configuration alone (no credential chain): the S3 settings'
    /// region, endpoint (path-style addressing then) and credentials, with timeouts on
    /// every call.
    pub fn from_settings(s: &crate::config::S3Settings) -> Self {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, timeout::TimeoutConfig};
        use std::time::Duration;
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    // One ranged read of at most 64 MiB.
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(90))
                    .build(),
            );
        if let Some(c) = &s.credentials {
            b = b.credentials_provider(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                c.session_token.clone(),
                None,
                "environment",
            ));
        }
        if let Some(e) = &s.endpoint {
            b = b.endpoint_url(e.clone()).force_path_style(true);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(b.build()),
        }
    }
}

#[cfg(feature = "s3")]
fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

#[cfg(feature = "s3")]
#[async_trait]
impl ObjectSource for S3Objects {
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectInfo, ObjectError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_not_found() {
                    ObjectError::Gone(format!("{bucket}/{key}"))
                } else {
                    ObjectError::Unavailable(format!("HeadObject {bucket}/{key}: {e:?}"))
                }
            })?;
        Ok(ObjectInfo {
            size: u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0),
            etag: out.e_tag().map(unquote).unwrap_or_default(),
        })
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        start: u64,
        end: u64,
    ) -> Result<Bytes, ObjectError> {
        if end <= start {
            return Ok(Bytes::new());
        }
        let mut req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{}", end - 1));
        if !etag.is_empty() {
            req = req.if_match(format!("\"{etag}\""));
        }
        let out = req.send().await.map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let e = e.into_service_error();
            match status {
                Some(404 | 412) => ObjectError::Gone(format!("{bucket}/{key}: {e:?}")),
                _ => ObjectError::Unavailable(format!("GetObject {bucket}/{key}: {e:?}")),
            }
        })?;
        let body =
            out.body.collect().await.map_err(|e| {
                ObjectError::Unavailable(format!("GetObject body {bucket}/{key}: {e}"))
            })?;
        Ok(body.into_bytes())
    }
}

/// A blocking reader over ranged reads of one object, `range` bytes at a time (one piece in
/// memory). Used on a blocking thread: every read of a new piece waits on the runtime.
pub struct RangeReader {
    source: Arc<dyn ObjectSource>,
    runtime: tokio::runtime::Handle,
    bucket: String,
    key: String,
    etag: String,
    size: u64,
    range: u64,
    pos: u64,
    buf: Bytes,
    /// The object offset of `buf`'s first byte.
    buf_at: u64,
}

impl RangeReader {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: Arc<dyn ObjectSource>,
        runtime: tokio::runtime::Handle,
        bucket: &str,
        key: &str,
        info: &ObjectInfo,
        range: u64,
        start: u64,
    ) -> Self {
        Self {
            source,
            runtime,
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: info.etag.clone(),
            size: info.size,
            range: range.max(1),
            pos: start.min(info.size),
            buf: Bytes::new(),
            buf_at: 0,
        }
    }

    /// Bytes of the object read so far (the offset of the next byte).
    pub fn position(&self) -> u64 {
        self.pos
    }
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || out.is_empty() {
            return Ok(0);
        }
        let in_buf = self.pos >= self.buf_at && self.pos < self.buf_at + self.buf.len() as u64;
        if !in_buf {
            let end = (self.pos + self.range).min(self.size);
            let piece = self.runtime.block_on(self.source.read_range(
                &self.bucket,
                &self.key,
                &self.etag,
                self.pos,
                end,
            ));
            self.buf = piece.map_err(io::Error::other)?;
            self.buf_at = self.pos;
            if self.buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the object ended before its size",
                ));
            }
        }
        let from = usize::try_from(self.pos - self.buf_at).unwrap_or(usize::MAX);
        let avail = &self.buf[from.min(self.buf.len())..];
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangeReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(d) => i128::from(self.size) + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            ));
        }
        self.pos = u64::try_from(target).unwrap_or(u64::MAX);
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object in memory that counts its reads.
    struct Memory(Vec<u8>, std::sync::Mutex<Vec<(u64, u64)>>);

    #[async_trait]
    impl ObjectSource for Memory {
        async fn head(&self, _: &str, _: &str) -> Result<ObjectInfo, ObjectError> {
            Ok(ObjectInfo {
                size: self.0.len() as u64,
                etag: "e".into(),
            })
        }
        async fn read_range(
            &self,
            _: &str,
            _: &str,
            _: &str,
            start: u64,
            end: u64,
        ) -> Result<Bytes, ObjectError> {
            self.1.lock().expect("lock").push((start, end));
            Ok(Bytes::copy_from_slice(
                &self.0[start as usize..end as usize],
            ))
        }
    }

    #[test]
    fn reads_in_bounded_ranges_from_an_offset_and_seeks() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mem = Arc::new(Memory(data.clone(), Default::default()));
        let info = ObjectInfo {
            size: 10_000,
            etag: "e".into(),
        };
        let handle = rt.handle().clone();
        let src: Arc<dyn ObjectSource> = mem.clone();
        let out = std::thread::spawn(move || {
            let mut r = RangeReader::new(src, handle, "b", "k", &info, 4096, 1000);
            let mut all = Vec::new();
            r.read_to_end(&mut all).expect("read");
            r.seek(SeekFrom::End(-10)).expect("seek");
            let mut tail = Vec::new();
            r.read_to_end(&mut tail).expect("tail");
            (all, tail)
        })
        .join()
        .expect("thread");
        assert_eq!(out.0, data[1000..]);
        assert_eq!(out.1, data[9990..]);
        let reads = mem.1.lock().expect("lock").clone();
        // The tail was still in the last piece: no read for it.
        assert_eq!(reads, vec![(1000, 5096), (5096, 9192), (9192, 10_000)]);
    }
}
