//! Service-map rollups (spec traces.md §7.5): per-minute service graphs (nodes, edges,
//! statistics, histograms), so GetServiceGraph over an hour merges sixty small aggregates
//! instead of compiling every trace.
//!
//! A rollup is a cache of a pure function of the stored documents: minute M's graph holds the
//! items (segments, calls) whose end falls in M. Ingest marks the minutes a document can affect
//! dirty (its own span plus one minute either side, where its caller's subsegment usually
//! ends); the roller recomputes dirty minutes once no document touched them for the settle
//! time; reads use rollups for clean minutes and compute dirty ones from the documents. So the
//! map is fresh at once and exact for settled data, also after a backfill of old data.
//!
//! Restart: the catalog keeps, with the rollups, a seq below which every document is reflected
//! in them; documents at or above it mark their minutes dirty again on the first pass.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fluoro_proto::xray::Trace;
use fluoro_proto::xray::graph::Graph;
use parking_lot::Mutex;

use crate::log_store::{LogStore, StoreError};

const ROLLUP_KIND: &str = "xray-rollups";
const META_KIND: &str = "xray-rollup-meta";
/// Documents are read this far before a rolled range (long traces start earlier)...
const LEAD_MINUTES: i64 = 15;
/// ...and this far after it.
const TRAIL_MINUTES: i64 = 5;
/// Dirty minutes closer than this are rolled from one read...
const MERGE_GAP_MINUTES: i64 = 20;
/// ...of at most this many minutes (a read holds their documents plus the lead and trail).
const MAX_RANGE_MINUTES: i64 = 5;

#[derive(Debug, Clone, Copy)]
struct Dirty {
    last_touch: Instant,
    first_seq: u64,
}

#[derive(Debug, Default)]
struct State {
    dirty: BTreeMap<i64, Dirty>,
    max_seq: u64,
    recovered: bool,
}

#[derive(Debug, Default)]
pub(crate) struct ServiceMap {
    state: Mutex<State>,
}

fn minute_key(minute: i64) -> String {
    format!("{minute:012}")
}

/// The minutes a document can change: its own, plus one either side.
fn touched(start_ns: i64, end_ns: Option<i64>) -> (i64, i64) {
    let minute = |ns: i64| ns.div_euclid(60_000_000_000);
    (minute(start_ns) - 1, minute(end_ns.unwrap_or(start_ns).max(start_ns)) + 1)
}

impl ServiceMap {
    /// Marks the minutes of documents `(start ns, end ns)` numbered from `first_seq` dirty.
    pub(crate) fn touch(&self, rows: &[(i64, Option<i64>)], first_seq: u64) {
        let now = Instant::now();
        let mut state = self.state.lock();
        for (i, (start_ns, end_ns)) in rows.iter().enumerate() {
            let seq = first_seq + i as u64;
            state.max_seq = state.max_seq.max(seq);
            let (lo, hi) = touched(*start_ns, *end_ns);
            // A span over many hours only dirties its ends' neighbourhoods and the hours
            // between, bounded so one bad document cannot flood the map.
            for minute in (lo..=hi).take(24 * 60) {
                let entry = state.dirty.entry(minute).or_insert(Dirty { last_touch: now, first_seq: seq });
                entry.last_touch = now;
                entry.first_seq = entry.first_seq.min(seq);
            }
        }
    }
}

/// Where a service-graph read gets its data: rolled minutes and ranges to compute.
#[derive(Debug, Default)]
pub struct MapView {
    /// Rolled graphs of clean minutes inside the window (minutes without data are absent).
    pub rolled: Vec<(i64, Graph)>,
    /// Sub-windows (epoch seconds, `[start, end)`) to compute from the documents.
    pub live: Vec<(f64, f64)>,
}

impl LogStore {
    /// What a read of `[start, end)` (epoch seconds) needs: rollups of the clean whole minutes,
    /// and the rest as windows to compute. Before the first roller pass everything is live.
    pub fn service_map_view(&self, start: f64, end: f64) -> Result<MapView, StoreError> {
        let first_full = (start / 60.0).ceil() as i64;
        let last_full = (end / 60.0).floor() as i64; // exclusive
        let state = self.service_map().state.lock();
        if !state.recovered || first_full >= last_full {
            return Ok(MapView { rolled: Vec::new(), live: vec![(start, end)] });
        }
        let mut live = Vec::new();
        if start < first_full as f64 * 60.0 {
            live.push((start, first_full as f64 * 60.0));
        }
        for (&minute, _) in state.dirty.range(first_full..last_full) {
            let (lo, hi) = (minute as f64 * 60.0, (minute + 1) as f64 * 60.0);
            match live.last_mut() {
                Some(last) if last.1 == lo => last.1 = hi,
                _ => live.push((lo, hi)),
            }
        }
        if (last_full as f64 * 60.0) < end {
            let lo = last_full as f64 * 60.0;
            match live.last_mut() {
                Some(last) if last.1 == lo => last.1 = end,
                _ => live.push((lo, end)),
            }
        }
        let dirty: Vec<i64> = state.dirty.range(first_full..last_full).map(|(m, _)| *m).collect();
        drop(state);
        let docs = self.catalog().docs_range(ROLLUP_KIND, &minute_key(first_full), &minute_key(last_full))?;
        let mut rolled = Vec::with_capacity(docs.len());
        for (key, bytes) in docs {
            let Ok(minute) = key.parse::<i64>() else { continue };
            if dirty.contains(&minute) {
                continue;
            }
            match serde_json::from_slice::<Graph>(&bytes) {
                Ok(graph) => rolled.push((minute, graph)),
                Err(error) => {
                    // A rollup that does not read back is recomputed.
                    tracing::warn!(%error, minute, "service-map rollup unreadable; computing it");
                    live.push((minute as f64 * 60.0, (minute + 1) as f64 * 60.0));
                }
            }
        }
        Ok(MapView { rolled, live })
    }

    /// One roller pass: recovery on the first call, retention, then every dirty minute that
    /// settled is recomputed and stored. Returns the number of minutes rolled.
    pub async fn roll_service_map(&self, account_id: &str, settle: Duration, now_ms: i64) -> Result<usize, StoreError> {
        let started = Instant::now();
        if !self.service_map().state.lock().recovered {
            self.recover_service_map(settle).await?;
        }
        let cutoff = (now_ms / 60_000) - self.config().trace_retention_days as i64 * 1440;
        let expired = self.catalog().docs_range(ROLLUP_KIND, &minute_key(0), &minute_key(cutoff))?;
        if !expired.is_empty() {
            let deletes: Vec<(String, Option<Vec<u8>>)> = expired.into_iter().map(|(k, _)| (k, None)).collect();
            self.catalog().put_docs(ROLLUP_KIND, &deletes)?;
        }
        let due: Vec<i64> = {
            let state = self.service_map().state.lock();
            self.metrics().rollup_dirty_minutes.set(state.dirty.len() as i64);
            state.dirty.iter().filter(|(_, d)| d.last_touch.elapsed() >= settle).map(|(m, _)| *m).collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for minute in &due {
            match ranges.last_mut() {
                Some(range) if minute - range.1 <= MERGE_GAP_MINUTES && minute - range.0 < MAX_RANGE_MINUTES => {
                    range.1 = *minute
                }
                _ => ranges.push((*minute, *minute)),
            }
        }
        for (first, last) in ranges {
            let docs = self
                .trace_documents_in_window((first - LEAD_MINUTES) * 60_000, (last + 1 + TRAIL_MINUTES) * 60_000)
                .await?;
            let mut graphs: BTreeMap<i64, Graph> = BTreeMap::new();
            for (id, docs) in docs {
                let Some(trace) = Trace::compile(id, docs, account_id) else { continue };
                let lo = ((trace.start / 60.0).floor() as i64).max(first);
                let hi = ((trace.end / 60.0).floor() as i64).min(last);
                for minute in lo..=hi {
                    if due.binary_search(&minute).is_ok() {
                        let graph = graphs.entry(minute).or_default();
                        graph.add_trace(&trace, minute as f64 * 60.0, (minute + 1) as f64 * 60.0);
                    }
                }
            }
            let writes: Vec<(String, Option<Vec<u8>>)> = due
                .iter()
                .filter(|m| (first..=last).contains(*m))
                .map(|m| {
                    let bytes = graphs
                        .get(m)
                        .filter(|g| !g.is_empty())
                        .map(|g| serde_json::to_vec(g).expect("graphs serialize"));
                    (minute_key(*m), bytes)
                })
                .collect();
            self.catalog().put_docs(ROLLUP_KIND, &writes)?;
        }
        let watermark = {
            let mut state = self.service_map().state.lock();
            for minute in &due {
                if state.dirty.get(minute).is_some_and(|d| d.last_touch <= started) {
                    state.dirty.remove(minute);
                }
            }
            self.metrics().rollup_dirty_minutes.set(state.dirty.len() as i64);
            state.dirty.values().map(|d| d.first_seq).min().unwrap_or(state.max_seq + 1)
        };
        self.catalog().put_doc(META_KIND, "seq", watermark.to_string().as_bytes())?;
        self.metrics().rollup_minutes.inc_by(due.len() as u64);
        tracing::debug!(minutes = due.len(), elapsed_ms = started.elapsed().as_millis() as u64, "service map rolled");
        Ok(due.len())
    }

    /// Marks dirty the minutes of every document not yet reflected in the rollups.
    async fn recover_service_map(&self, settle: Duration) -> Result<(), StoreError> {
        let from_seq: u64 = self
            .catalog()
            .docs(META_KIND)?
            .into_iter()
            .find(|(k, _)| k == "seq")
            .and_then(|(_, v)| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        let rows = self.span_times_from(from_seq).await?;
        let due_now = Instant::now().checked_sub(settle).unwrap_or_else(Instant::now);
        let mut state = self.service_map().state.lock();
        for (start_ns, end_ns, seq) in rows {
            state.max_seq = state.max_seq.max(seq);
            let (lo, hi) = touched(start_ns, end_ns);
            for minute in (lo..=hi).take(24 * 60) {
                let entry = state.dirty.entry(minute).or_insert(Dirty { last_touch: due_now, first_seq: seq });
                entry.first_seq = entry.first_seq.min(seq);
            }
        }
        state.recovered = true;
        Ok(())
    }
}
