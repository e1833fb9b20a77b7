//! Imports an Apple Health export (`export.xml`, or `export.zip` holding it) for one user:
//! the domain's pull parser runs on a blocking thread and hands batches of items over a
//! bounded channel to the one write path ([`write_batch`]), so roll-ups, sleep sessions,
//! scores, counters and outgoing webhooks follow as for SDK pushes. Memory stays constant
//! whatever the file size: at most [`CHANNEL_BATCHES`] batches of `APPLE_IMPORT_BATCH_ITEMS` items are in
//! flight. The run is a sync run of the user (source `apple_xml`, provider `apple`): started,
//! progress after every batch (records read, bytes), and a final summary.
//!
//! The same pipeline reads an object of the import bucket in ranges ([`Input::Object`]);
//! for an `export.xml` it then saves checkpoints at top-level element boundaries and can
//! continue from one in another invocation ([`Resumable`], used by `services::s3_import`).
//!
//! A fault of the file (malformed, truncated, over a bound, a zip bomb) stops the import where
//! it occurred: everything before it is stored and the summary says at which byte it stopped.
//! Re-importing adds nothing: samples are keyed by (source, series, instant), workouts by
//! (source, start, end), and sleep segments rebuild the same sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::app::AppState;
use crate::config::AppleImportSettings;
use crate::domain::apple_export::{
    ExportFault, ExportItem, ExportLimits, ExportReader, ExportStats, RESUME_PRIME, ReaderState,
    RouteRef, read_gpx,
};
use crate::domain::sdk::{ParsedBatch, SourceInfo};
use crate::domain::states::{SyncStage, SyncStatus};
use crate::ingest::{data_source_for, device_batch, touch_sdk_connection, write_batch};
use crate::repo::health::SampleWrite;
use crate::repo::imports::ImportCheckpoint;
use crate::repo::sync_runs::SyncRun;
use crate::store::StoreError;
use crate::store::objects::{ObjectInfo, ObjectSource, RangeReader};

/// The sync-status source of an import.
pub const SOURCE: &str = "apple_xml";
/// Batches parsed ahead of the writer.
pub const CHANNEL_BATCHES: usize = 2;
/// Read buffer of the file.
const READ_BUFFER: usize = 256 * 1024;

/// What an import did (the final sync event's metadata and the benchmark's figures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// `completed` (the whole document), `stopped` (a fault of the file; what came before it
    /// is stored) or `failed` (storage failed).
    pub status: String,
    /// `xml` or `zip`.
    pub format: String,
    /// Bytes of the upload.
    pub file_bytes: u64,
    /// Bytes of XML read.
    pub xml_bytes: u64,
    pub records: u64,
    pub samples: u64,
    /// Samples at instants not stored before.
    pub new_samples: u64,
    pub workouts: u64,
    /// Workouts not stored before.
    pub workouts_saved: u64,
    pub workout_events: u64,
    pub sleep_segments: u64,
    pub activity_summaries: u64,
    pub skipped: u64,
    pub skipped_types: BTreeMap<String, u64>,
    pub dropped: u64,
    pub dropped_reasons: BTreeMap<String, u64>,
    /// Workout route files read from an `export.zip` and their track points (each a
    /// latitude, longitude and, where given, elevation sample).
    pub routes: u64,
    pub route_points: u64,
    /// The XML byte offset where the import stopped, when it did.
    pub stopped_at: Option<u64>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl ImportSummary {
    fn absorb(&mut self, s: &ExportStats) {
        self.records = s.records;
        self.samples = s.samples;
        self.workouts = s.workouts;
        self.workout_events = s.workout_events;
        self.sleep_segments = s.sleep_segments;
        self.activity_summaries = s.activity_summaries;
        self.skipped = s.skipped_total();
        self.skipped_types = s.skipped.clone();
        self.dropped = s.dropped_total();
        self.dropped_reasons = s.dropped.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        self.routes = s.routes;
        self.route_points = s.route_points;
    }

    /// One line for the sync run's message.
    pub fn message(&self) -> String {
        let head = match self.status.as_str() {
            "completed" => "Apple Health import completed".to_string(),
            "stopped" => format!(
                "Apple Health import stopped at byte {}",
                self.stopped_at.unwrap_or(0)
            ),
            _ => "Apple Health import failed".to_string(),
        };
        format!(
            "{head}: {} records ({} new samples), {} workouts ({} new), {} routes ({} points), {} sleep segments, {} skipped, {} dropped",
            self.records,
            self.new_samples,
            self.workouts,
            self.workouts_saved,
            self.routes,
            self.route_points,
            self.sleep_segments,
            self.skipped,
            self.dropped
        )
    }
}

/// The run a new import is recorded under (queued until it starts).
pub fn queued_run(user: Uuid, run_id: &str, now: DateTime<Utc>) -> SyncRun {
    SyncRun {
        run_id: run_id.to_string(),
        user_id: user,
        provider: "apple".into(),
        source: SOURCE.into(),
        stage: SyncStage::Queued,
        status: SyncStatus::InProgress,
        message: Some("Apple Health import queued".into()),
        error: None,
        progress: Some(0.0),
        items_processed: Some(0),
        items_total: None,
        primary_user_id: None,
        window_start: None,
        window_end: None,
        attempts: 0,
        next_attempt_at: None,
        started_at: Some(now),
        ended_at: None,
        last_update: now,
    }
}

/// One parsed batch.
struct Parsed {
    items: Vec<ExportItem>,
    /// The source table when it grew since the previous batch.
    sources: Option<Vec<SourceInfo>>,
    xml_bytes: u64,
    stats: ExportStats,
    /// The reader's state when `xml_bytes` is a top-level boundary of a checkpointed import.
    boundary: Option<ReaderState>,
}

/// Where an import reads from.
pub enum Input {
    /// A file on disk (the direct upload).
    File(PathBuf),
    /// An object of the import bucket, read in ranges.
    Object {
        objects: Arc<dyn ObjectSource>,
        bucket: String,
        key: String,
        info: ObjectInfo,
        /// Bytes of one ranged read.
        range: u64,
    },
}

/// How an import from the bucket checkpoints and when it stops early.
pub struct Resumable {
    /// The object version the checkpoints belong to.
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// The checkpoint of this object version to continue from, if any.
    pub from: Option<ImportCheckpoint>,
    /// Bytes of XML between two checkpoints.
    pub every_bytes: u64,
    /// Stop (after a checkpoint) when this instant is reached.
    pub stop_at: Option<std::time::Instant>,
    /// Stop after this many checkpoints (tests: an interrupted import without timing).
    pub max_checkpoints: Option<u32>,
}

/// How an import call ended.
#[derive(Debug)]
pub enum Outcome {
    /// The run ended (completed, stopped at a fault of the file, or failed): its summary.
    Finished(Box<ImportSummary>),
    /// A checkpoint at this XML offset was saved and the import stopped early: run it again
    /// to continue.
    Paused { offset: u64 },
}

/// The end of the parse.
struct Ended {
    fault: Option<ExportFault>,
    xml_bytes: u64,
    stats: ExportStats,
}

enum Msg {
    Batch(Parsed),
    End(Ended),
}

/// Imports the file at `path` for `user` under the run `run_id` (recorded with
/// [`queued_run`] before). Never fails: the outcome is the summary, also recorded as the
/// run's last event.
pub async fn import_file(state: &AppState, user: Uuid, path: &Path, run_id: &str) -> ImportSummary {
    match import_input(state, user, Input::File(path.to_path_buf()), run_id, None).await {
        Outcome::Finished(s) => *s,
        Outcome::Paused { offset } => ImportSummary {
            status: "stopped".into(),
            stopped_at: Some(offset),
            ..ImportSummary::default()
        },
    }
}

/// Imports `input` for `user` under the run `run_id`; with `resumable`, continues from its
/// checkpoint (an `export.xml`), saves checkpoints as it goes and may stop early
/// ([`Outcome::Paused`]). An `export.zip` is always read from its beginning (a deflate
/// stream cannot be entered in the middle) and never paused: a retry re-reads it and the
/// dedup keeps the store free of duplicates.
pub async fn import_input(
    state: &AppState,
    user: Uuid,
    input: Input,
    run_id: &str,
    resumable: Option<Resumable>,
) -> Outcome {
    let started = std::time::Instant::now();
    let now = state.now();
    let mut run = match state.db.sync_run(user, run_id).await {
        Ok(Some(r)) => r,
        _ => queued_run(user, run_id, now),
    };
    run.stage = SyncStage::Fetching;
    // A re-import of an object version continues its earlier run.
    run.status = SyncStatus::InProgress;
    run.error = None;
    run.ended_at = None;
    run.message = Some("Apple Health import running".into());
    run.last_update = now;
    if let Err(e) = state
        .db
        .record_sync(&run, json!({"phase": "started"}))
        .await
    {
        tracing::warn!(error = %e, "import start not recorded");
    }
    let resuming = resumable.as_ref().and_then(|r| r.from.as_ref()).is_some();
    if !resuming {
        super::webhooks::sync_changed_with(state, &run, true, json!({"run_id": run_id})).await;
    }

    let file_bytes = match &input {
        Input::File(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        Input::Object { info, .. } => info.size,
    };
    let mut summary = ImportSummary {
        file_bytes,
        ..ImportSummary::default()
    };
    let settings = state.config.apple_import.clone();
    let (tx, mut rx) = mpsc::channel::<Msg>(CHANNEL_BATCHES);
    let format = match sniff(&input).await {
        Ok(f) => f,
        Err(e) => {
            summary.status = "stopped".into();
            summary.stopped_at = Some(0);
            summary.error = Some(format!("the upload cannot be read: {e}"));
            return Outcome::Finished(Box::new(finish(state, run, summary, started).await));
        }
    };
    summary.format = format.to_string();
    // Only an export.xml continues from a checkpoint or takes new ones.
    let resumable = resumable.filter(|_| format == "xml");
    let mut total = Totals::default();
    let mut sources: Vec<SourceInfo> = Vec::new();
    let mut resume_from: Option<(u64, ReaderState)> = None;
    let mut checkpoint = resumable.as_ref().and_then(|r| r.from.clone());
    if let Some(c) = &checkpoint {
        total.new_samples = c.new_samples;
        total.workouts_saved = c.workouts_saved;
        sources = c.reader.sources.clone();
        summary.absorb(&c.reader.stats);
        summary.xml_bytes = c.offset;
        resume_from = Some((c.offset, c.reader.clone()));
    }
    let checkpointing = resumable.is_some();
    let runtime = tokio::runtime::Handle::current();
    let parser = tokio::task::spawn_blocking(move || {
        parse_input(
            input,
            format,
            resume_from,
            checkpointing,
            &settings,
            runtime,
            tx,
        )
    });

    let mut store_error: Option<StoreError> = None;
    let mut end: Option<Ended> = None;
    let mut last_checkpoint = checkpoint.as_ref().map_or(0, |c| c.offset);
    let mut checkpoints = 0u32;
    let mut paused: Option<u64> = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch(p) => {
                if let Some(s) = p.sources {
                    sources = s;
                }
                match store(state, user, &sources, p.items).await {
                    Ok(t) => total.add(&t),
                    Err(e) => {
                        // Dropping the receiver stops the parser.
                        store_error = Some(e);
                        break;
                    }
                }
                if let (Some(r), Some(reader)) = (resumable.as_ref(), p.boundary) {
                    let due_stop = r.stop_at.is_some_and(|t| std::time::Instant::now() >= t);
                    if due_stop || p.xml_bytes.saturating_sub(last_checkpoint) >= r.every_bytes {
                        let c = next_checkpoint(
                            checkpoint.take(),
                            &run,
                            r,
                            p.xml_bytes,
                            reader,
                            &total,
                            state.now(),
                        );
                        match state.db.save_import_checkpoint(&c).await {
                            Ok(()) => {
                                last_checkpoint = c.offset;
                                checkpoints += 1;
                                tracing::info!(
                                    run = run_id,
                                    offset = c.offset,
                                    "import checkpoint saved"
                                );
                            }
                            Err(e) => tracing::warn!(error = %e, "import checkpoint not saved"),
                        }
                        let stop_now =
                            due_stop || r.max_checkpoints.is_some_and(|m| checkpoints >= m);
                        let saved = last_checkpoint == c.offset;
                        checkpoint = Some(c);
                        if stop_now && saved {
                            paused = Some(last_checkpoint);
                            summary.absorb(&p.stats);
                            break;
                        }
                    }
                }
                summary.absorb(&p.stats);
                summary.xml_bytes = p.xml_bytes;
                run.items_processed = Some(p.stats.records as i64);
                run.progress = progress(p.xml_bytes, file_bytes, format);
                run.last_update = state.now();
                let meta = json!({"records": p.stats.records, "workouts": p.stats.workouts,
                    "sleep_segments": p.stats.sleep_segments, "xml_bytes": p.xml_bytes});
                if let Err(e) = state.db.record_sync(&run, meta).await {
                    tracing::warn!(error = %e, "import progress not recorded");
                }
            }
            Msg::End(e) => end = Some(e),
        }
    }
    drop(rx);
    if let Err(e) = parser.await {
        tracing::error!(error = %e, "the import parser ended abnormally");
    }
    if let Some(offset) = paused {
        run.message = Some(format!(
            "Apple Health import paused at byte {offset} of {file_bytes}; continuing"
        ));
        run.items_processed = Some(summary.records as i64);
        run.last_update = state.now();
        let meta = json!({"phase": "paused", "offset": offset, "records": summary.records});
        if let Err(e) = state.db.record_sync(&run, meta).await {
            tracing::warn!(error = %e, "import pause not recorded");
        }
        return Outcome::Paused { offset };
    }
    summary.new_samples = total.new_samples;
    summary.workouts_saved = total.workouts_saved;
    if let Some(e) = end {
        summary.absorb(&e.stats);
        summary.xml_bytes = e.xml_bytes;
        if let Some(f) = e.fault {
            // The bucket failing under a ranged read is no fault of the file: the import
            // failed, keeps its checkpoint and is retried from there.
            summary.status = if f.reason.contains(crate::store::objects::UNAVAILABLE) {
                "failed".into()
            } else {
                "stopped".into()
            };
            summary.stopped_at = Some(f.offset);
            summary.error = Some(f.to_string());
        }
    } else if store_error.is_none() {
        summary.status = "stopped".into();
        summary.error = Some("the parser ended without a result".into());
    }
    if let Some(e) = store_error {
        summary.status = "failed".into();
        summary.error = Some(format!("storage failed: {e}"));
    }
    if summary.status.is_empty() {
        summary.status = "completed".into();
    }
    if total.wrote_any
        && let Err(e) =
            touch_sdk_connection(state, user, crate::domain::provider::Provider::Apple).await
    {
        tracing::warn!(error = %e, "apple connection not updated after the import");
    }
    if checkpointing
        && summary.status != "failed"
        && let Err(e) = state.db.delete_import_checkpoint(user, run_id).await
    {
        tracing::warn!(error = %e, "import checkpoint not deleted");
    }
    Outcome::Finished(Box::new(finish(state, run, summary, started).await))
}

/// The checkpoint after `prev` at `offset`.
fn next_checkpoint(
    prev: Option<ImportCheckpoint>,
    run: &SyncRun,
    r: &Resumable,
    offset: u64,
    reader: ReaderState,
    total: &Totals,
    now: DateTime<Utc>,
) -> ImportCheckpoint {
    ImportCheckpoint {
        run_id: run.run_id.clone(),
        user_id: run.user_id,
        bucket: r.bucket.clone(),
        key: r.key.clone(),
        etag: r.etag.clone(),
        offset,
        reader,
        new_samples: total.new_samples,
        workouts_saved: total.workouts_saved,
        resumes: prev.map_or(0, |p| p.resumes),
        updated_at: now,
    }
}

async fn finish(
    state: &AppState,
    mut run: SyncRun,
    mut summary: ImportSummary,
    started: std::time::Instant,
) -> ImportSummary {
    summary.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let now = state.now();
    let ok = summary.status == "completed";
    run.stage = if ok {
        SyncStage::Completed
    } else {
        SyncStage::Failed
    };
    run.status = if ok {
        SyncStatus::Success
    } else {
        SyncStatus::Failed
    };
    run.message = Some(summary.message());
    run.error = summary.error.clone();
    run.items_processed = Some(summary.records as i64);
    run.progress = Some(1.0);
    run.ended_at = Some(now);
    run.last_update = now;
    let meta = serde_json::to_value(&summary).unwrap_or_default();
    if let Err(e) = state.db.record_sync(&run, meta.clone()).await {
        tracing::error!(error = %e, "import summary not recorded");
    }
    super::webhooks::sync_changed_with(state, &run, false, meta).await;
    tracing::info!(user = %run.user_id, run = run.run_id, status = summary.status,
        records = summary.records, new_samples = summary.new_samples,
        workouts = summary.workouts, sleep = summary.sleep_segments,
        dropped = summary.dropped, ms = summary.elapsed_ms, "apple health import finished");
    summary
}

fn progress(xml_bytes: u64, file_bytes: u64, format: &str) -> Option<f64> {
    (format == "xml" && file_bytes > 0).then(|| (xml_bytes as f64 / file_bytes as f64).min(1.0))
}

#[derive(Debug, Default)]
struct Totals {
    new_samples: u64,
    workouts_saved: u64,
    wrote_any: bool,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.new_samples += o.new_samples;
        self.workouts_saved += o.workouts_saved;
        self.wrote_any |= o.wrote_any;
    }
}

/// Stores one batch through the one write path.
async fn store(
    state: &AppState,
    user: Uuid,
    sources: &[SourceInfo],
    items: Vec<ExportItem>,
) -> Result<Totals, StoreError> {
    let now = state.now();
    let mut parsed = ParsedBatch::default();
    let mut plain: Vec<(usize, crate::domain::apple_export::ExportSample)> = Vec::new();
    for item in items {
        match item {
            ExportItem::Sample(s) => plain.push((s.source, s)),
            ExportItem::DailyTotals(v) => plain.extend(v.into_iter().map(|s| (s.source, s))),
            ExportItem::Sleep(seg) => parsed.sleep_segments.push(*seg),
            ExportItem::Workout(w, samples) => {
                parsed.samples.extend(samples);
                parsed.workouts.push(*w);
            }
        }
    }
    if plain.is_empty() && parsed.workouts.is_empty() && parsed.sleep_segments.is_empty() {
        return Ok(Totals::default());
    }
    let mut batch = device_batch(user, parsed, now);
    let used: BTreeSet<usize> = plain.iter().map(|(i, _)| *i).collect();
    let mut ids = BTreeMap::new();
    for i in used {
        let Some(info) = sources.get(i) else { continue };
        let ds = data_source_for(user, info, now);
        ids.insert(i, ds.id);
        if !batch.sources.iter().any(|s| s.id == ds.id) {
            batch.sources.push(ds);
        }
    }
    batch.samples.extend(plain.into_iter().filter_map(|(i, s)| {
        Some(SampleWrite {
            series: s.series,
            data_source_id: *ids.get(&i)?,
            at: s.at,
            value: s.value,
            zone_offset: s.zone_offset,
            is_daily_total: s.is_daily_total,
        })
    }));
    let out = write_batch(state, user, batch).await?;
    Ok(Totals {
        new_samples: out.new_samples.values().sum::<usize>() as u64,
        workouts_saved: out
            .new_events
            .iter()
            .filter(|e| e.category == "workout")
            .count() as u64,
        wrote_any: true,
    })
}

/// `zip` when the upload starts with a zip local header, else `xml`.
async fn sniff(input: &Input) -> std::io::Result<&'static str> {
    let magic: Vec<u8> = match input {
        Input::File(path) => {
            let mut f = std::fs::File::open(path)?;
            let mut magic = [0u8; 4];
            let n = f.read(&mut magic)?;
            magic[..n].to_vec()
        }
        Input::Object {
            objects,
            bucket,
            key,
            info,
            ..
        } => objects
            .read_range(bucket, key, &info.etag, 0, info.size.min(4))
            .await
            .map_err(std::io::Error::other)?
            .to_vec(),
    };
    Ok(if magic == *b"PK\x03\x04" {
        "zip"
    } else {
        "xml"
    })
}

/// The blocking half: reads the upload and sends batches until the end or a fault.
fn parse_input(
    input: Input,
    format: &str,
    resume: Option<(u64, ReaderState)>,
    checkpointing: bool,
    settings: &AppleImportSettings,
    runtime: tokio::runtime::Handle,
    tx: mpsc::Sender<Msg>,
) {
    match input {
        Input::File(path) => match std::fs::File::open(&path) {
            Ok(f) => parse_source(f, format, resume, checkpointing, settings, &tx),
            Err(e) => {
                let _ = tx.blocking_send(Msg::End(fault_end(format!(
                    "the upload cannot be read: {e}"
                ))));
            }
        },
        Input::Object {
            objects,
            bucket,
            key,
            info,
            range,
        } => {
            let reader = RangeReader::new(objects, runtime, &bucket, &key, &info, range, 0);
            parse_source(reader, format, resume, checkpointing, settings, &tx);
        }
    }
}

fn fault_end(reason: String) -> Ended {
    Ended {
        fault: Some(ExportFault { offset: 0, reason }),
        xml_bytes: 0,
        stats: ExportStats::default(),
    }
}

fn parse_source<R: Read + Seek>(
    mut src: R,
    format: &str,
    resume: Option<(u64, ReaderState)>,
    checkpointing: bool,
    settings: &AppleImportSettings,
    tx: &mpsc::Sender<Msg>,
) {
    let batch = settings.batch_items;
    if format == "xml" {
        match resume {
            Some((offset, state)) => {
                if let Err(e) = src.seek(SeekFrom::Start(offset)) {
                    let _ = tx.blocking_send(Msg::End(fault_end(format!(
                        "the upload cannot be read at byte {offset}: {e}"
                    ))));
                    return;
                }
                let primed = std::io::Cursor::new(RESUME_PRIME).chain(src);
                let reader = ExportReader::resume(
                    BufReader::with_capacity(READ_BUFFER, primed),
                    ExportLimits::default(),
                    offset,
                    state,
                );
                if let Some(end) = run_reader(reader, batch, checkpointing, tx) {
                    let _ = tx.blocking_send(Msg::End(end.without_routes()));
                }
            }
            None => {
                let reader = ExportReader::new(
                    BufReader::with_capacity(READ_BUFFER, src),
                    ExportLimits::default(),
                );
                if let Some(end) = run_reader(reader, batch, checkpointing, tx) {
                    let _ = tx.blocking_send(Msg::End(end.without_routes()));
                }
            }
        }
        return;
    }
    let mut archive = match zip::ZipArchive::new(src) {
        Ok(a) => a,
        Err(e) => {
            let _ = tx.blocking_send(Msg::End(fault_end(format!(
                "not a readable zip archive: {e}"
            ))));
            return;
        }
    };
    let entry = match export_entry(&mut archive, settings) {
        Ok(i) => i,
        Err(reason) => {
            let _ = tx.blocking_send(Msg::End(fault_end(reason)));
            return;
        }
    };
    let end = match archive.by_index(entry) {
        Ok(f) => {
            let declared = f.size();
            let limited = Capped {
                inner: f,
                left: declared,
            };
            let reader = ExportReader::new(
                BufReader::with_capacity(READ_BUFFER, limited),
                ExportLimits::default(),
            );
            // No checkpoints inside a deflate stream.
            run_reader(reader, batch, false, tx)
        }
        Err(e) => {
            let _ = tx.blocking_send(Msg::End(fault_end(format!(
                "export.xml cannot be read from the archive: {e}"
            ))));
            return;
        }
    };
    let Some(mut end) = end else { return };
    // The routes after the document (they name their workout's source and zone); not after
    // a fault of the document, whose end is unknown.
    if end.ended.fault.is_none() && read_routes(&mut archive, &mut end, settings, tx).is_err() {
        return;
    }
    let _ = tx.blocking_send(Msg::End(end.ended));
}

/// The index of `export.xml` in the archive, after the size and ratio checks.
fn export_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    settings: &AppleImportSettings,
) -> Result<usize, String> {
    let mut found = None;
    for i in 0..archive.len() {
        let Some(Ok(name)) = archive.name_for_index(i) else {
            continue;
        };
        let base = name.rsplit('/').next().unwrap_or(&name);
        let depth = name.matches('/').count();
        if base == "export.xml" && found.is_none_or(|(_, d)| depth < d) {
            found = Some((i, depth));
        }
    }
    let Some((i, _)) = found else {
        return Err("the archive holds no export.xml".into());
    };
    let meta = archive
        .by_index_raw(i)
        .map_err(|e| format!("export.xml cannot be read from the archive: {e}"))?;
    let (size, packed) = (meta.size(), meta.compressed_size());
    if size > settings.max_xml_bytes {
        return Err(format!(
            "export.xml is {size} bytes uncompressed, over the limit of {} bytes",
            settings.max_xml_bytes
        ));
    }
    if size > 1024 * 1024 && size / packed.max(1) > settings.max_ratio {
        return Err(format!(
            "export.xml expands {}:1 (over the limit of {}:1): refused as a zip bomb",
            size / packed.max(1),
            settings.max_ratio
        ));
    }
    Ok(i)
}

/// A reader that ends with an error past the entry's declared size (a lying header).
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more than declared is a lie: look for it.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "export.xml is larger than its zip header declares",
                )),
            };
        }
        let want = out
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads items into batches of `batch` and sends them; with `checkpointing`, each batch
/// ends at a top-level boundary and carries the reader's state there.
fn run_reader<R: BufRead>(
    mut reader: ExportReader<R>,
    batch: usize,
    checkpointing: bool,
    tx: &mpsc::Sender<Msg>,
) -> Option<ReaderEnd> {
    let mut items = Vec::with_capacity(batch.min(BATCH_CAPACITY));
    let mut sent_sources = reader.sources().len();
    // A resumed reader's sources are the checkpoint's, which the writer already has.
    let fault = loop {
        match reader.next_item() {
            Ok(Some(item)) => {
                items.push(item);
                if items.len() >= batch {
                    if checkpointing {
                        loop {
                            match reader.skip_to_boundary() {
                                Ok(Some(more)) => items.push(more),
                                Ok(None) => break,
                                Err(f) => {
                                    let _ = send_batch(
                                        &reader,
                                        &mut items,
                                        &mut sent_sources,
                                        false,
                                        tx,
                                    );
                                    return Some(ReaderEnd {
                                        ended: Ended {
                                            fault: Some(f),
                                            xml_bytes: reader.position(),
                                            stats: reader.stats().clone(),
                                        },
                                        routes: Vec::new(),
                                        sources: Vec::new(),
                                    });
                                }
                            }
                        }
                    }
                    let boundary = checkpointing && reader.at_boundary();
                    if send_batch(&reader, &mut items, &mut sent_sources, boundary, tx).is_err() {
                        return None;
                    }
                }
            }
            Ok(None) => break None,
            Err(f) => break Some(f),
        }
    };
    if !items.is_empty() && send_batch(&reader, &mut items, &mut sent_sources, false, tx).is_err() {
        return None;
    }
    Some(ReaderEnd {
        ended: Ended {
            fault,
            xml_bytes: reader.position(),
            stats: reader.stats().clone(),
        },
        routes: reader.routes().to_vec(),
        sources: reader.sources().to_vec(),
    })
}

/// How the document's read ended, with the route files it referenced.
struct ReaderEnd {
    ended: Ended,
    routes: Vec<RouteRef>,
    sources: Vec<SourceInfo>,
}

impl ReaderEnd {
    /// The end of an `export.xml` upload: route files it names cannot be in it.
    fn without_routes(mut self) -> Ended {
        if !self.routes.is_empty() {
            *self
                .ended
                .stats
                .dropped
                .entry("workout route file not in the upload (export.xml alone)".into())
                .or_default() += self.routes.len() as u64;
        }
        self.ended
    }
}

/// Largest route file read (uncompressed).
const MAX_ROUTE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the route files the workouts referenced from the archive, as latitude, longitude
/// and elevation samples of each route's source; bounded as `export.xml` is (size, ratio,
/// event size). A missing, oversized or unreadable file is dropped with its reason.
fn read_routes<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    end: &mut ReaderEnd,
    settings: &AppleImportSettings,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), ()> {
    let mut index: HashMap<String, usize> = HashMap::new();
    for i in 0..archive.len() {
        let Some(Ok(name)) = archive.name_for_index(i) else {
            continue;
        };
        if let Some((dir, base)) = name.rsplit_once('/')
            && (dir == "workout-routes" || dir.ends_with("/workout-routes"))
            && base.ends_with(".gpx")
        {
            index.entry(base.to_string()).or_insert(i);
        }
    }
    let batch = settings.batch_items;
    let mut items = Vec::with_capacity(batch.min(BATCH_CAPACITY));
    let mut sources = Some(end.sources.clone());
    let mut done: HashSet<String> = HashSet::new();
    let stats = &mut end.ended.stats;
    let mut send = |items: &mut Vec<ExportItem>, stats: &ExportStats, xml_bytes: u64| {
        if items.is_empty() {
            return Ok(());
        }
        let msg = Msg::Batch(Parsed {
            items: std::mem::take(items),
            sources: sources.take(),
            xml_bytes,
            stats: stats.clone(),
            boundary: None,
        });
        tx.blocking_send(msg).map_err(|_| ())
    };
    for r in &end.routes {
        if !done.insert(r.file.clone()) {
            continue;
        }
        let Some(&i) = index.get(&r.file) else {
            stats.drop_item("workout route file missing from the archive");
            continue;
        };
        let Ok((size, packed)) = archive
            .by_index_raw(i)
            .map(|m| (m.size(), m.compressed_size()))
        else {
            stats.drop_item("unreadable workout route");
            continue;
        };
        if size > MAX_ROUTE_BYTES
            || (size > 1024 * 1024 && size / packed.max(1) > settings.max_ratio)
        {
            stats.drop_item("workout route file over the size or ratio limit");
            continue;
        }
        let Ok(f) = archive.by_index(i) else {
            stats.drop_item("unreadable workout route");
            continue;
        };
        let capped = Capped {
            inner: f,
            left: size,
        };
        stats.routes += 1;
        let read = read_gpx(
            BufReader::new(capped),
            ExportLimits::default().max_event_bytes,
            r.source,
            r.zone.as_deref(),
            stats,
            |sample| items.push(ExportItem::Sample(sample)),
        );
        match read {
            Ok(points) => stats.route_points += points,
            Err(reason) => {
                tracing::warn!(file = %r.file, %reason, "workout route not fully read");
                stats.drop_item("unreadable workout route");
            }
        }
        if items.len() >= batch {
            send(&mut items, stats, end.ended.xml_bytes)?;
        }
    }
    send(&mut items, stats, end.ended.xml_bytes)
}

/// Largest preallocation of one batch.
const BATCH_CAPACITY: usize = 20_000;

fn send_batch<R: BufRead>(
    reader: &ExportReader<R>,
    items: &mut Vec<ExportItem>,
    sent_sources: &mut usize,
    boundary: bool,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), ()> {
    if items.is_empty() {
        return Ok(());
    }
    let grown = reader.sources().len() > *sent_sources;
    *sent_sources = reader.sources().len();
    let cap = items.capacity();
    let msg = Msg::Batch(Parsed {
        items: std::mem::replace(items, Vec::with_capacity(cap)),
        sources: grown.then(|| reader.sources().to_vec()),
        xml_bytes: reader.position(),
        stats: reader.stats().clone(),
        boundary: boundary.then(|| reader.state()),
    });
    tx.blocking_send(msg).map_err(|_| ())
}
