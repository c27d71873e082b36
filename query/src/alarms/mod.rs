//! Alarms (spec metrics-alarms.md §3): the alarm APIs, the evaluator and notifications.
//!
//! One `Alarms` value owns every alarm, its history and the outbox of notifications. All
//! changes happen under one lock and are committed to the catalog in one transaction before the
//! lock is released: a transition, its history item and its deliveries are durable together,
//! so a restart neither loses a state nor sends a notification twice (a delivery leaves the
//! outbox in the same transaction as its Action history item).
//!
//! Evaluation (`tick`) runs on an injected clock: metric alarms whose cadence boundary passed
//! are read together (one scan for all single-metric alarms, metric math per alarm), decided
//! by `fluoro_proto::alarms::evaluate`, and their transitions applied; composites re-evaluate
//! breadth-first when a child changes. Deliveries run in their own task and never block it.

mod api;
mod eval;
pub mod model;
pub mod notify;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use fluoro_proto::alarms::StateValue;
use fluoro_proto::alarms::composite::{self, Child, Held};
use fluoro_proto::cloudwatch::CwError;
use fluoro_store::{DocChange, LogStore};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::model::{Alarm, Compiled, HeldActions, PeriodRule};
use self::notify::{Action, Delivery, HttpClient, NotifyTarget, Transition};
use crate::cw_metrics::MetricsReadApi;

const ALARM_DOCS: &str = "alarm";
const HISTORY_DOCS: &str = "alarm-history";
const OUTBOX_DOCS: &str = "alarm-outbox";
/// Deliveries posted at once.
const MAX_IN_FLIGHT: usize = 256;

pub use fluoro_proto::logs::Clock;

/// The `[alarms]` settings and `[[notify]]` targets.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    pub account_id: String,
    pub region: String,
    /// Smallest Period an alarm may have (1 and 5 only when this allows).
    pub min_period_s: i64,
    /// Shifts each evaluation's end back.
    pub evaluation_delay_s: i64,
    pub max_alarms: usize,
    pub history_retention: Duration,
    pub targets: Vec<NotifyTarget>,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// A delivery failing this long after its transition is given up (a final Failed item).
    pub give_up_after: Duration,
    pub delivery_timeout: Duration,
}

impl AlarmSettings {
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account_id: account_id.into(),
            region: region.into(),
            min_period_s: 10,
            evaluation_delay_s: 0,
            max_alarms: 10_000,
            history_retention: Duration::from_secs(30 * 86_400),
            targets: Vec::new(),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(86_400),
            delivery_timeout: Duration::from_secs(10),
        }
    }
}

/// One DescribeAlarmHistory item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryItem {
    pub alarm_name: String,
    pub alarm_type: String,
    pub timestamp_ms: i64,
    pub item_type: String,
    pub summary: String,
    pub data: String,
}

impl HistoryItem {
    fn new(
        alarm_name: &str,
        alarm_type: &str,
        timestamp_ms: i64,
        item_type: &str,
        summary: String,
        data: String,
    ) -> Self {
        Self {
            alarm_name: alarm_name.to_owned(),
            alarm_type: alarm_type.to_owned(),
            timestamp_ms,
            item_type: item_type.to_owned(),
            summary,
            data,
        }
    }
}

struct Entry {
    alarm: Alarm,
    compiled: Arc<Compiled>,
    /// Changes with each configuration: an evaluation started before is discarded.
    generation: u64,
}

#[derive(Default)]
struct Inner {
    alarms: BTreeMap<String, Entry>,
    /// Child (or suppressor) name → the composites that reference it.
    parents: HashMap<String, BTreeSet<String>>,
    /// The last evaluation end (E) per metric alarm.
    evaluated: HashMap<String, i64>,
    history: BTreeMap<String, HistoryItem>,
    history_seq: u64,
    outbox: BTreeMap<String, Delivery>,
    in_flight: HashSet<String>,
    generation: u64,
}

/// What one change touched, to commit in one transaction.
#[derive(Default)]
struct Changes {
    alarms: BTreeSet<String>,
    history: Vec<String>,
    outbox: BTreeSet<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.alarms.is_empty() && self.history.is_empty() && self.outbox.is_empty()
    }
}

pub struct Alarms {
    settings: AlarmSettings,
    store: Arc<LogStore>,
    metrics: Arc<MetricsReadApi>,
    inner: Mutex<Inner>,
    client: HttpClient,
    clock: Clock,
    wake: tokio::sync::Notify,
}

/// The alarms, history and outbox as stored.
fn load(catalog: &fluoro_store::Catalog) -> Result<Inner, CwError> {
    let mut inner = Inner::default();
    // Stored alarms passed the checks of their day; a smaller configured minimum period
    // must not make them unloadable.
    let rule = PeriodRule { min_period_s: 1 };
    for (name, bytes) in catalog.docs(ALARM_DOCS).map_err(storage)? {
        let alarm: Alarm = match serde_json::from_slice(&bytes) {
            Ok(alarm) => alarm,
            Err(error) => {
                tracing::error!(alarm = %name, %error, "unreadable alarm document skipped");
                continue;
            }
        };
        let compiled = if alarm.composite {
            model::compile_composite(&alarm.name, &alarm.config).map(Compiled::Composite)
        } else {
            model::compile_metric(&alarm.config, rule, alarm.put_ms).map(Compiled::Metric)
        };
        match compiled {
            Ok(compiled) => {
                inner.generation += 1;
                let entry = Entry { alarm, compiled: Arc::new(compiled), generation: inner.generation };
                inner.alarms.insert(name, entry);
            }
            Err(error) => tracing::error!(alarm = %name, %error, "stored alarm no longer compiles; skipped"),
        }
    }
    let names: Vec<String> = inner.alarms.keys().cloned().collect();
    for name in names {
        inner.link(&name);
    }
    for (key, bytes) in catalog.docs(HISTORY_DOCS).map_err(storage)? {
        if let Ok(item) = serde_json::from_slice(&bytes) {
            inner.history.insert(key, item);
        }
    }
    // Keys are `<timestamp>-<seq>`: continue after the largest seq stored.
    inner.history_seq =
        inner.history.keys().filter_map(|k| k.rsplit('-').next()?.parse::<u64>().ok()).max().unwrap_or(0);
    for (id, bytes) in catalog.docs(OUTBOX_DOCS).map_err(storage)? {
        if let Ok(delivery) = serde_json::from_slice(&bytes) {
            inner.outbox.insert(id, delivery);
        }
    }
    Ok(inner)
}

/// How long a node's alarm lease lasts without renewal (it renews every round, 250 ms): the
/// longest evaluation pause when a node is lost.
const LEASE_TTL: Duration = Duration::from_secs(5);

fn storage(error: impl std::fmt::Display) -> CwError {
    CwError::internal(format!("alarm storage failed: {error}"))
}

impl Alarms {
    /// Loads the alarms, history and outbox from the catalog.
    pub fn open(
        store: Arc<LogStore>,
        metrics: Arc<MetricsReadApi>,
        settings: AlarmSettings,
        clock: Clock,
    ) -> Result<Arc<Self>, CwError> {
        let inner = load(store.catalog())?;
        Ok(Arc::new(Self {
            settings,
            store,
            metrics,
            inner: Mutex::new(inner),
            client: notify::http_client(),
            clock,
            wake: tokio::sync::Notify::new(),
        }))
    }

    pub fn settings(&self) -> &AlarmSettings {
        &self.settings
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn arn(&self, name: &str) -> String {
        format!("arn:aws:cloudwatch:{}:{}:alarm:{name}", self.settings.region, self.settings.account_id)
    }

    /// Replaces the in-memory alarms, history and outbox with what is stored now (a shared
    /// metastore: another node changed them). Evaluation ends and deliveries in flight stay.
    pub fn reload(&self) -> Result<(), CwError> {
        let mut fresh = load(self.store.catalog())?;
        let mut inner = self.inner.lock();
        // Generations only grow, so an evaluation started before the reload never applies to
        // an alarm that changed meanwhile.
        for entry in fresh.alarms.values_mut() {
            entry.generation += inner.generation;
        }
        fresh.generation += inner.generation;
        fresh.evaluated = std::mem::take(&mut inner.evaluated);
        fresh.in_flight = std::mem::take(&mut inner.in_flight);
        *inner = fresh;
        Ok(())
    }

    /// Changes to the stored alarm documents that this node's catalog has seen.
    fn stored_version(&self) -> u64 {
        let catalog = self.store.catalog();
        [ALARM_DOCS, HISTORY_DOCS, OUTBOX_DOCS].iter().map(|kind| catalog.doc_version(kind)).sum()
    }

    /// Runs evaluation rounds and deliveries until `shutdown` resolves. With a shared
    /// metastore only the node holding the account's alarm lease evaluates and delivers; the
    /// others keep their copy current, and one of them takes over (outbox included) once the
    /// holder stops renewing.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let shared = self.store.config().shared_catalog.clone();
        let lease_name = format!("alarms/{}", self.settings.account_id);
        let holding = Arc::new(std::sync::atomic::AtomicBool::new(shared.is_none()));
        let deliveries = tokio::spawn({
            let this = self.clone();
            let holding = holding.clone();
            async move {
                loop {
                    if holding.load(std::sync::atomic::Ordering::Relaxed) {
                        this.deliver_due();
                    }
                    tokio::select! {
                        () = this.wake.notified() => {}
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
        });
        let rounds = async {
            let mut interval = tokio::time::interval(Duration::from_millis(250));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seen = self.stored_version();
            loop {
                interval.tick().await;
                if let Some(shared) = &shared {
                    let held = shared.metastore.lease(&lease_name, &shared.node, LEASE_TTL);
                    let held = held.unwrap_or_else(|error| {
                        tracing::warn!(%error, "alarm lease not renewed");
                        false
                    });
                    let was = holding.swap(held, std::sync::atomic::Ordering::Relaxed);
                    let version = self.stored_version();
                    if held != was || version != seen {
                        seen = version;
                        if held && !was {
                            tracing::info!(lease = lease_name, "this node evaluates the alarms now");
                        }
                        if let Err(error) = self.reload() {
                            tracing::error!(%error, "alarms not reloaded");
                        }
                    }
                    if !held {
                        continue;
                    }
                }
                self.tick(self.now()).await;
            }
        };
        tokio::select! {
            () = shutdown => {}
            () = rounds => {}
        }
        deliveries.abort();
        if let Some(shared) = &shared
            && holding.load(std::sync::atomic::Ordering::Relaxed)
            && let Err(error) = shared.metastore.release(&lease_name, &shared.node)
        {
            tracing::warn!(%error, "alarm lease not released");
        }
    }

    /// One round at `now_ms`: suppression timers, then every metric alarm whose evaluation
    /// boundary passed.
    pub async fn tick(&self, now_ms: i64) {
        {
            let mut inner = self.inner.lock();
            let mut changes = Changes::default();
            self.release_expired(&mut inner, now_ms, &mut changes);
            self.prune_history(&mut inner, now_ms, &mut changes);
            self.commit_logged(&inner, changes);
        }
        let due = self.due(now_ms, None);
        if due.is_empty() {
            return;
        }
        let outcomes = eval::evaluate(&self.store, &self.metrics, &due, now_ms).await;
        self.apply(outcomes, now_ms);
    }

    /// The evaluation end of a metric alarm at `now_ms` (§3.3 step 1).
    fn boundary(&self, period_s: i64, now_ms: i64) -> i64 {
        let cadence = if period_s >= 60 {
            60_000
        } else if period_s >= 10 {
            10_000
        } else {
            period_s * 1000
        };
        let at = now_ms - self.settings.evaluation_delay_s * 1000;
        at.div_euclid(cadence) * cadence
    }

    /// The metric alarms to evaluate now (`only`: that one, whatever its last boundary).
    fn due(&self, now_ms: i64, only: Option<&str>) -> Vec<eval::Due> {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        let mut due = Vec::new();
        for (name, entry) in &inner.alarms {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let Compiled::Metric(plan) = entry.compiled.as_ref() else { continue };
            if plan.warm_until_ms.is_some_and(|until| now_ms < until) {
                continue;
            }
            let end_ms = self.boundary(plan.period_s, now_ms);
            if only.is_none() && inner.evaluated.get(name).is_some_and(|last| *last >= end_ms) {
                continue;
            }
            inner.evaluated.insert(name.clone(), end_ms);
            due.push(eval::Due {
                name: name.clone(),
                generation: entry.generation,
                compiled: entry.compiled.clone(),
                end_ms,
            });
        }
        due
    }

    /// Applies evaluation outcomes: transitions, then the composites they reach.
    fn apply(&self, outcomes: Vec<eval::Outcome>, now_ms: i64) {
        let mut inner = self.inner.lock();
        let mut changes = Changes::default();
        let mut wave = VecDeque::new();
        for outcome in outcomes {
            let Some(entry) = inner.alarms.get(&outcome.name) else { continue };
            if entry.generation != outcome.generation || entry.alarm.state.value == outcome.state {
                continue;
            }
            self.transition(
                &mut inner,
                &outcome.name,
                outcome.state,
                outcome.reason,
                outcome.reason_data,
                now_ms,
                &mut changes,
            );
            wave.push_back(outcome.name);
        }
        self.propagate(&mut inner, wave, now_ms, &mut changes);
        self.commit_logged(&inner, changes);
    }

    /// Evaluates one metric alarm now (after Put), waiting for the outcome.
    async fn evaluate_now(&self, name: &str, now_ms: i64) {
        let due = self.due(now_ms, Some(name));
        if due.is_empty() {
            return;
        }
        let outcomes = eval::evaluate(&self.store, &self.metrics, &due, now_ms).await;
        self.apply(outcomes, now_ms);
    }

    /// Commits the changes; a failure is logged (the state in memory stands, and the next
    /// change of the same documents writes them again).
    fn commit_logged(&self, inner: &Inner, changes: Changes) {
        if let Err(error) = self.commit(inner, changes) {
            tracing::error!(%error, "alarm changes not persisted");
        }
    }

    fn commit(&self, inner: &Inner, changes: Changes) -> Result<(), CwError> {
        if changes.is_empty() {
            return Ok(());
        }
        let notify = !changes.outbox.is_empty();
        let mut owned: Vec<(&str, &str, Option<Vec<u8>>)> = Vec::new();
        for name in &changes.alarms {
            let bytes = inner.alarms.get(name).map(|e| serde_json::to_vec(&e.alarm).expect("alarms serialize"));
            owned.push((ALARM_DOCS, name, bytes));
        }
        for key in &changes.history {
            let bytes = inner.history.get(key).map(|i| serde_json::to_vec(i).expect("history serializes"));
            owned.push((HISTORY_DOCS, key, bytes));
        }
        for id in &changes.outbox {
            let bytes = inner.outbox.get(id).map(|d| serde_json::to_vec(d).expect("deliveries serialize"));
            owned.push((OUTBOX_DOCS, id, bytes));
        }
        let docs: Vec<DocChange<'_>> = owned.iter().map(|(k, id, b)| (*k, *id, b.as_deref())).collect();
        self.store.catalog().write_docs(&docs).map_err(storage)?;
        if notify {
            self.wake.notify_one();
        }
        Ok(())
    }

    fn add_history(&self, inner: &mut Inner, item: HistoryItem, changes: &mut Changes) {
        inner.history_seq += 1;
        let key = format!("{:016}-{:012}", item.timestamp_ms.max(0), inner.history_seq);
        inner.history.insert(key.clone(), item);
        changes.history.push(key);
    }

    fn prune_history(&self, inner: &mut Inner, now_ms: i64, changes: &mut Changes) {
        let cutoff = format!("{:016}", (now_ms - self.settings.history_retention.as_millis() as i64).max(0));
        let old: Vec<String> = inner.history.range(..cutoff).map(|(k, _)| k.clone()).collect();
        for key in old {
            inner.history.remove(&key);
            changes.history.push(key);
        }
    }

    /// A state change (§3.3 step 8): state, StateUpdate history, then the new state's actions
    /// (a composite's AlarmActions possibly held by its suppressor).
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        inner: &mut Inner,
        name: &str,
        value: StateValue,
        reason: String,
        reason_data: Option<String>,
        now_ms: i64,
        changes: &mut Changes,
    ) {
        let suppressor = match inner.alarms.get(name).map(|e| e.compiled.clone()) {
            Some(compiled) => match compiled.as_ref() {
                Compiled::Composite(plan) => plan.suppressor.clone(),
                Compiled::Metric(_) => None,
            },
            None => return,
        };
        let suppressor_state = suppressor
            .as_ref()
            .map(|(s, _)| inner.alarms.get(s).map_or(StateValue::InsufficientData, |e| e.alarm.state.value));
        let entry = inner.alarms.get_mut(name).expect("checked above");
        let old = entry.alarm.state.clone();
        let alarm_type = entry.alarm.kind().to_owned();
        let state = &mut entry.alarm.state;
        state.value = value;
        state.reason = reason;
        state.reason_data = reason_data;
        state.updated_ms = now_ms;
        state.transitioned_ms = now_ms;
        state.held = None;
        let state_json = |value: StateValue, reason: &str, data: &Option<String>| {
            let mut out = json!({"stateValue": value.as_str(), "stateReason": reason});
            if let Some(data) = data.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                out["stateReasonData"] = data;
            }
            out
        };
        let mut data = json!({
            "version": "1.0",
            "oldState": state_json(old.value, &old.reason, &old.reason_data),
            "newState": state_json(value, &state.reason, &state.reason_data),
        })
        .to_string();
        if data.len() > 4095 {
            data = json!({
                "version": "1.0",
                "oldState": state_json(old.value, &old.reason, &None),
                "newState": state_json(value, &state.reason, &None),
            })
            .to_string();
        }
        let enabled = entry.alarm.actions_enabled();
        let held = match (value, suppressor, suppressor_state) {
            (StateValue::Alarm, Some((_, rule)), Some(s)) if enabled && !entry.alarm.actions(value).is_empty() => {
                match rule.on_alarm(s, now_ms) {
                    Held::Suppressed(suppression) => Some(HeldActions::new(suppression, &old)),
                    Held::Release | Held::Nothing => None,
                }
            }
            _ => None,
        };
        let is_held = held.is_some();
        entry.alarm.state.held = held;
        let summary = format!("Alarm updated from {} to {}", old.value.as_str(), value.as_str());
        changes.alarms.insert(name.to_owned());
        self.add_history(inner, HistoryItem::new(name, &alarm_type, now_ms, "StateUpdate", summary, data), changes);
        if enabled && !is_held {
            self.enqueue(inner, name, &old, now_ms, changes);
        }
    }

    /// Queues the actions of the alarm's current state.
    fn enqueue(&self, inner: &mut Inner, name: &str, old: &model::State, now_ms: i64, changes: &mut Changes) {
        let Some(entry) = inner.alarms.get(name) else { return };
        let alarm = entry.alarm.clone();
        let children = match entry.compiled.as_ref() {
            Compiled::Composite(plan) => {
                let state_of =
                    |n: &str| inner.alarms.get(n).map_or(StateValue::InsufficientData, |e| e.alarm.state.value);
                let outcome = alarm.state.value == StateValue::Alarm;
                plan.rule
                    .triggering(&state_of, outcome)
                    .into_iter()
                    .filter_map(|n| inner.alarms.get(n))
                    .map(|e| (e.alarm.arn.clone(), e.alarm.state.value, e.alarm.state.transitioned_ms))
                    .collect()
            }
            Compiled::Metric(_) => Vec::new(),
        };
        let transition = Transition {
            old_state: old.value,
            old_reason: &old.reason,
            old_reason_data: old.reason_data.as_deref(),
            old_timestamp_ms: old.transitioned_ms,
            children,
        };
        let (account, region) = (&self.settings.account_id, &self.settings.region);
        for arn in alarm.actions(alarm.state.value) {
            // SNS deliveries wrap the message in an envelope with a subject; Lambda ones post it.
            let (message, subject, wanted) = match notify::action(&arn) {
                Action::Sns { topic } => (
                    notify::sns_message(&alarm, &transition, account, region),
                    Some(notify::subject(&alarm, region)),
                    topic.to_owned(),
                ),
                Action::Lambda { function } => {
                    (notify::lambda_event(&alarm, &transition, account, region), None, function.to_owned())
                }
                Action::Unsupported => {
                    let message = notify::sns_message(&alarm, &transition, account, region);
                    let unsupported = Err("action type not supported by fluoro");
                    let item = action_item(&alarm.name, alarm.kind(), &arn, now_ms, &message, unsupported, now_ms);
                    self.add_history(inner, item, changes);
                    continue;
                }
            };
            let topic = subject.as_ref().map(|_| arn.clone());
            let targets: Vec<&NotifyTarget> = self
                .settings
                .targets
                .iter()
                .filter(|t| t.name == wanted || (t.name == "*" && topic.is_some()))
                .collect();
            if targets.is_empty() {
                let detail = if topic.is_some() {
                    "no target configured for topic"
                } else {
                    "no target configured for function"
                };
                let item = action_item(&alarm.name, alarm.kind(), &arn, now_ms, &message, Err(detail), now_ms);
                self.add_history(inner, item, changes);
                continue;
            }
            for target in targets {
                let id = uuid::Uuid::new_v4().to_string();
                let delivery = Delivery {
                    body: match &subject {
                        Some(subject) => notify::sns_body(&id, &arn, subject, &message, now_ms),
                        None => message.clone(),
                    },
                    id: id.clone(),
                    alarm_name: alarm.name.clone(),
                    alarm_type: alarm.kind().to_owned(),
                    action: arn.clone(),
                    url: target.url.clone(),
                    headers: target.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    topic_arn: topic.clone(),
                    message: message.clone(),
                    transition_ms: now_ms,
                    created_ms: now_ms,
                    attempts: 0,
                    next_ms: now_ms,
                };
                inner.outbox.insert(id.clone(), delivery);
                changes.outbox.insert(id);
            }
        }
    }

    /// Composites reached by the changed alarms in `wave`, breadth first; each composite is
    /// evaluated at most once per wave (a cycle stops there).
    fn propagate(&self, inner: &mut Inner, mut wave: VecDeque<String>, now_ms: i64, changes: &mut Changes) {
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(child) = wave.pop_front() {
            let parents: Vec<String> = inner.parents.get(&child).into_iter().flatten().cloned().collect();
            let child_state = inner.alarms.get(&child).map_or(StateValue::InsufficientData, |e| e.alarm.state.value);
            for parent in parents {
                let Some(compiled) = inner.alarms.get(&parent).map(|e| e.compiled.clone()) else { continue };
                let Compiled::Composite(plan) = compiled.as_ref() else { continue };
                if let Some((suppressor, rule)) = &plan.suppressor
                    && *suppressor == child
                    && let Some(held) = inner.alarms.get(&parent).and_then(|e| e.alarm.state.held.clone())
                {
                    match rule.on_suppressor(held.suppression(), child_state, now_ms) {
                        Held::Suppressed(s) => {
                            let mut held = held;
                            held.set(s);
                            inner.alarms.get_mut(&parent).expect("present").alarm.state.held = Some(held);
                            changes.alarms.insert(parent.clone());
                        }
                        Held::Release => self.release(inner, &parent, now_ms, changes),
                        Held::Nothing => {}
                    }
                }
                if plan.rule.children().contains(&child)
                    && seen.insert(parent.clone())
                    && self.evaluate_composite(inner, &parent, Some(&child), now_ms, changes)
                {
                    wave.push_back(parent);
                }
            }
        }
    }

    /// Evaluates a composite's rule (§3.9.3); whether its state changed.
    fn evaluate_composite(
        &self,
        inner: &mut Inner,
        name: &str,
        trigger: Option<&str>,
        now_ms: i64,
        changes: &mut Changes,
    ) -> bool {
        let Some(compiled) = inner.alarms.get(name).map(|e| e.compiled.clone()) else { return false };
        let Compiled::Composite(plan) = compiled.as_ref() else { return false };
        let (value, reason, reason_data) = {
            let state_of = |n: &str| inner.alarms.get(n).map_or(StateValue::InsufficientData, |e| e.alarm.state.value);
            let outcome = plan.rule.evaluate(&state_of);
            let child = |n: &str| {
                inner.alarms.get(n).map(|e| Child {
                    arn: e.alarm.arn.as_str(),
                    state: e.alarm.state.value,
                    transitioned_ms: e.alarm.state.transitioned_ms,
                })
            };
            let trigger = trigger
                .and_then(child)
                .or_else(|| plan.rule.children().iter().filter_map(|n| child(n)).max_by_key(|c| c.transitioned_ms));
            let reason = match &trigger {
                Some(c) => composite::reason(c),
                None => composite::constant_reason(outcome),
            };
            let reason_data = (!plan.rule.children().is_empty()).then(|| {
                let triggering: Vec<Child<'_>> =
                    plan.rule.triggering(&state_of, outcome).into_iter().filter_map(child).collect();
                composite::reason_data(&triggering)
            });
            (if outcome { StateValue::Alarm } else { StateValue::Ok }, reason, reason_data)
        };
        let entry = inner.alarms.get_mut(name).expect("present");
        if entry.alarm.state.value != value {
            self.transition(inner, name, value, reason, reason_data, now_ms, changes);
            return true;
        }
        let state = &mut entry.alarm.state;
        if state.reason != reason || state.reason_data != reason_data {
            state.reason = reason;
            state.reason_data = reason_data;
            state.updated_ms = now_ms;
            changes.alarms.insert(name.to_owned());
        }
        false
    }

    /// Runs a composite's held AlarmActions.
    fn release(&self, inner: &mut Inner, name: &str, now_ms: i64, changes: &mut Changes) {
        let Some(entry) = inner.alarms.get_mut(name) else { return };
        let Some(held) = entry.alarm.state.held.take() else { return };
        entry.alarm.state.updated_ms = now_ms;
        changes.alarms.insert(name.to_owned());
        if entry.alarm.state.value != StateValue::Alarm || !entry.alarm.actions_enabled() {
            return;
        }
        self.enqueue(inner, name, &held.old(), now_ms, changes);
    }

    /// Held actions whose WaitPeriod or ExtensionPeriod ended.
    fn release_expired(&self, inner: &mut Inner, now_ms: i64, changes: &mut Changes) {
        let expired: Vec<String> = inner
            .alarms
            .iter()
            .filter(|(_, e)| {
                e.alarm
                    .state
                    .held
                    .as_ref()
                    .is_some_and(|h| composite::Suppressor::on_tick(h.suppression(), now_ms) == Held::Release)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in expired {
            self.release(inner, &name, now_ms, changes);
        }
    }

    /// Starts the deliveries that are due.
    fn deliver_due(self: &Arc<Self>) {
        let now_ms = self.now();
        let due: Vec<Delivery> = {
            let mut inner = self.inner.lock();
            let inner = &mut *inner;
            let due: Vec<Delivery> = inner
                .outbox
                .values()
                .filter(|d| d.next_ms <= now_ms && !inner.in_flight.contains(&d.id))
                .take(MAX_IN_FLIGHT.saturating_sub(inner.in_flight.len()))
                .cloned()
                .collect();
            inner.in_flight.extend(due.iter().map(|d| d.id.clone()));
            due
        };
        for delivery in due {
            let this = self.clone();
            tokio::spawn(async move {
                let result = notify::post(&this.client, &delivery, this.settings.delivery_timeout).await;
                this.finish(&delivery.id, result, this.now());
            });
        }
    }

    /// Records a delivery attempt: success or give-up leaves the outbox with its Action item
    /// in one transaction; a failure schedules the next attempt.
    fn finish(&self, id: &str, result: Result<(), String>, now_ms: i64) {
        let mut inner = self.inner.lock();
        inner.in_flight.remove(id);
        let Some(mut delivery) = inner.outbox.get(id).cloned() else { return };
        let mut changes = Changes::default();
        let outcome = result.as_ref().map(|_| ()).map_err(String::as_str);
        let item = action_item(
            &delivery.alarm_name,
            &delivery.alarm_type,
            &delivery.action,
            delivery.transition_ms,
            &delivery.message,
            outcome,
            now_ms,
        );
        self.add_history(&mut inner, item, &mut changes);
        delivery.attempts += 1;
        let give_up = now_ms - delivery.created_ms >= self.settings.give_up_after.as_millis() as i64;
        if result.is_ok() || give_up {
            if result.is_err() {
                tracing::warn!(alarm = %delivery.alarm_name, action = %delivery.action, "notification given up");
            }
            inner.outbox.remove(id);
        } else {
            let wait = notify::backoff(delivery.attempts, self.settings.retry_initial, self.settings.retry_max);
            delivery.next_ms = now_ms + wait.as_millis() as i64;
            inner.outbox.insert(id.to_owned(), delivery);
        }
        changes.outbox.insert(id.to_owned());
        self.commit_logged(&inner, changes);
    }

    /// Deliveries waiting (for the native API and tests).
    pub fn pending_deliveries(&self) -> usize {
        self.inner.lock().outbox.len()
    }
}

/// An Action history item (§3.7) for one attempt of the action `arn`.
fn action_item(
    alarm_name: &str,
    alarm_type: &str,
    arn: &str,
    transition_ms: i64,
    message: &str,
    result: Result<(), &str>,
    now_ms: i64,
) -> HistoryItem {
    let (summary, mut data) = match result {
        Ok(()) => (format!("Successfully executed action {arn}"), json!({"actionState": "Succeeded"})),
        Err(detail) => {
            (format!("Failed to execute action {arn}. Received error: \"{detail}\""), json!({"actionState": "Failed"}))
        }
    };
    data["stateUpdateTimestamp"] = json!(transition_ms);
    data["notificationResource"] = json!(arn);
    data["publishedMessage"] = json!(message);
    if let Err(detail) = result {
        data["error"] = json!(detail);
    }
    HistoryItem::new(alarm_name, alarm_type, now_ms, "Action", summary, data.to_string())
}

/// The native API for the UI:
/// - `GET /api/v1/alarms` → `{"alarms": [{"name", "arn", "type", "state", "reason", "updated",
///   "transitioned", …}]}`
/// - `GET /api/v1/alarms/detail?name=` → one alarm with `configuration` (as DescribeAlarms shows
///   it), `decidingDatapoints` (the datapoints that decided its last transition),
///   `triggeringAlarms` (composites) and its newest `history`; 404 when unknown.
pub fn native_routes(alarms: Arc<Alarms>) -> axum::Router {
    use axum::Json;
    use axum::extract::{Query, State};
    use axum::response::IntoResponse;

    #[derive(Deserialize)]
    struct Named {
        name: String,
    }
    axum::Router::new()
        .route(
            "/api/v1/alarms",
            axum::routing::get(|State(alarms): State<Arc<Alarms>>| async move {
                Json(json!({"alarms": alarms.list_native(), "pendingDeliveries": alarms.pending_deliveries()}))
            }),
        )
        .route(
            "/api/v1/alarms/detail",
            axum::routing::get(|State(alarms): State<Arc<Alarms>>, Query(named): Query<Named>| async move {
                match alarms.get_native(&named.name) {
                    Some(alarm) => Json(alarm).into_response(),
                    None => crate::native::coded_error(
                        404,
                        "ResourceNotFound",
                        format!("Alarm {} does not exist.", named.name),
                    ),
                }
            }),
        )
        .with_state(alarms)
}

impl Inner {
    /// Registers a composite's children and suppressor as its parents' entries.
    fn link(&mut self, name: &str) {
        let Some(compiled) = self.alarms.get(name).map(|e| e.compiled.clone()) else { return };
        let Compiled::Composite(plan) = compiled.as_ref() else { return };
        for child in plan.rule.children() {
            self.parents.entry(child.clone()).or_default().insert(name.to_owned());
        }
        if let Some((suppressor, _)) = &plan.suppressor {
            self.parents.entry(suppressor.clone()).or_default().insert(name.to_owned());
        }
    }

    fn unlink(&mut self, name: &str) {
        for parents in self.parents.values_mut() {
            parents.remove(name);
        }
        self.parents.retain(|_, p| !p.is_empty());
    }

    /// Composites that reference `name` in their rule or as suppressor.
    fn parents_of(&self, name: &str) -> Vec<String> {
        self.parents.get(name).into_iter().flatten().cloned().collect()
    }
}
