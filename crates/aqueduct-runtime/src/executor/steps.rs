//! The step machine: compiled steps and how a group of records moves through them.
//!
//! Records travel in groups (`Vec<Item>`): one record normally, a whole
//! group after `batch`, several after `split`. Every item carries an
//! `Arc<Pending>` for its envelope; when the last item of an envelope is
//! dropped (delivered, filtered or dead-lettered) the envelope is acked.
//! A route or a batch needs to know where to continue afterwards, so the
//! position is an explicit stack of frames (`Cont`) rather than the Rust
//! call stack: a batch stores the continuation with its buffered records.

pub use super::dedupe::{Admission, Dedupe};
use super::flow_task::{FlowRt, Item};
use crate::connector::{ConnectorError, ReplyMsg};
use crate::expr::Compiled;
use crate::metrics::StepMetrics;
use crate::value::{Layout, Record, Value};
use aqueduct_graph::Type;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A target a step delivers to.
pub struct TargetRef {
    /// `system.operation` or the channel name.
    pub label: String,
    /// The system (circuit breaker key), when it is an operation.
    pub system: Option<String>,
    /// The target.
    pub target: Arc<dyn crate::connector::Target>,
    /// The same target when it is an in-process channel: `to` hands records
    /// on with [`crate::channel::ChannelTarget::send`], so each stays
    /// unacknowledged until the consumer flows made it safe.
    pub channel: Option<Arc<crate::channel::ChannelTarget>>,
}

/// One compiled step.
pub struct CStep {
    /// Step id (`s3`).
    pub id: String,
    /// `file:line` of the step, for messages.
    pub at: String,
    /// The step's counters.
    pub metrics: Arc<StepMetrics>,
    /// What it does.
    pub kind: CKind,
}

/// The compiled step kinds.
pub enum CKind {
    /// `where`
    Where(Compiled),
    /// `map`
    Map(Arc<Layout>, Vec<Compiled>),
    /// `map` implemented natively: one expression builds the whole record.
    MapRecord(Compiled),
    /// `let`
    Let(String, Compiled),
    /// `enrich`
    Enrich {
        /// Binding name.
        name: String,
        /// The call.
        call: Arc<dyn crate::connector::Call>,
        /// `system.op`, for messages.
        label: String,
        /// Breaker key.
        system: String,
    },
    /// `split`
    Split(Compiled, Type, Arc<crate::value::Schemas>),
    /// `batch`
    Batch(Arc<Batcher>),
    /// `dedupe`
    Dedupe(Arc<Dedupe>),
    /// `tap`
    Tap(TargetRef),
    /// `route`: arms in order, `None` condition for `else`.
    Route(Vec<(Option<Compiled>, Arc<[CStep]>)>),
    /// `to`
    To(TargetRef),
    /// `reply`
    Reply(Compiled, Option<u16>),
}

/// Where to continue: frames of (steps, next index), innermost last.
pub type Cont = Vec<(Arc<[CStep]>, usize)>;

/// Buffered records of one `batch` step.
pub struct Batcher {
    /// Group size.
    pub size: usize,
    /// Longest wait of a partial group.
    pub within: Option<Duration>,
    buf: Mutex<(Vec<Item>, Option<Instant>, Option<Cont>)>,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(size: usize, within: Option<Duration>) -> Batcher {
        Batcher {
            size: size.max(1),
            within,
            buf: Mutex::new((Vec::new(), None, None)),
        }
    }

    /// Adds items; returns the full groups to send on now.
    fn push(&self, items: Vec<Item>, cont: Cont) -> Vec<(Vec<Item>, Cont)> {
        let Ok(mut b) = self.buf.lock() else {
            return vec![(items, cont)];
        };
        if b.0.is_empty() {
            b.1 = Some(Instant::now());
        }
        b.0.extend(items);
        b.2 = Some(cont.clone());
        let mut out = Vec::new();
        while b.0.len() >= self.size {
            let rest = b.0.split_off(self.size);
            let group = std::mem::replace(&mut b.0, rest);
            out.push((group, cont.clone()));
            b.1 = if b.0.is_empty() {
                None
            } else {
                Some(Instant::now())
            };
        }
        out
    }

    /// Takes the partial group (all of it, or only when its wait is over).
    pub fn take(&self, only_due: bool) -> Option<(Vec<Item>, Cont)> {
        let mut b = self.buf.lock().ok()?;
        let due = match (b.1, self.within) {
            (Some(first), Some(w)) => first.elapsed() >= w,
            _ => false,
        };
        if b.0.is_empty() || (only_due && !due) {
            return None;
        }
        b.1 = None;
        let cont = b.2.clone()?;
        Some((std::mem::take(&mut b.0), cont))
    }

    /// Lets go of a partial group its flow stopped before sending: the
    /// records are marked failed (never acknowledged, so their source
    /// delivers them again) and freed, with the continuation, whose steps
    /// hold this batcher (a cycle that would keep both alive otherwise).
    pub fn clear(&self) {
        let (items, _cont) = match self.buf.lock() {
            Ok(mut b) => (std::mem::take(&mut b.0), b.2.take()),
            Err(_) => return,
        };
        for item in &items {
            item.pending.mark_failed();
        }
    }

    /// True while a partial group waits.
    pub fn holds_records(&self) -> bool {
        self.buf.lock().is_ok_and(|b| !b.0.is_empty())
    }

    /// When the partial group must be sent.
    pub fn deadline(&self) -> Option<Instant> {
        let b = self.buf.lock().ok()?;
        Some(b.1? + self.within?)
    }
}

impl FlowRt {
    /// Runs `items` from the continuation `cont` until they are delivered,
    /// dropped, buffered or failed. `Err` means a record could be neither
    /// delivered nor dead-lettered: the flow stops.
    pub(crate) fn run<'a>(
        self: &'a Arc<Self>,
        items: Vec<Item>,
        cont: Cont,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.run_in(items, cont, false)
    }

    /// [`FlowRt::run`] for a group of independent records taken from the
    /// input together (`each`): they move through the steps as a group, but
    /// targets get them one at a time, as if each had come alone (retries,
    /// breakers and dead letters stay per record). A `batch` step's groups
    /// are delivered whole.
    pub(crate) fn run_in<'a>(
        self: &'a Arc<Self>,
        mut items: Vec<Item>,
        mut cont: Cont,
        each: bool,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            while let Some((steps, start)) = cont.pop() {
                for i in start..steps.len() {
                    if items.is_empty() {
                        return Ok(());
                    }
                    let step = &steps[i];
                    if each && items.len() > 1 && matches!(step.kind, CKind::Route(_)) {
                        // arms would reorder the group: go on record by record, in order
                        for item in std::mem::take(&mut items) {
                            let mut c = cont.clone();
                            c.push((steps.clone(), i));
                            self.run_in(vec![item], c, false).await?;
                        }
                        return Ok(());
                    }
                    StepMetrics::add(&step.metrics.records_in, items.len() as u64);
                    let started = Instant::now();
                    let n_in = items.len();
                    match &step.kind {
                        CKind::Route(arms) => {
                            let mut groups: Vec<Vec<Item>> =
                                arms.iter().map(|_| Vec::new()).collect();
                            for item in items.drain(..) {
                                let mut chosen = Ok(None);
                                for (a, (cond, _)) in arms.iter().enumerate() {
                                    let hit = match cond {
                                        None => Ok(true),
                                        Some(c) => c.test(&item.value, &item.bindings),
                                    };
                                    match hit {
                                        Ok(true) => {
                                            chosen = Ok(Some(a));
                                            break;
                                        }
                                        Ok(false) => {}
                                        Err(e) => {
                                            chosen = Err(e);
                                            break;
                                        }
                                    }
                                }
                                match chosen {
                                    Ok(Some(a)) => groups[a].push(item),
                                    // no arm matched and no `else`: the record is
                                    // filtered (and acked), like `where`
                                    Ok(None) => {
                                        StepMetrics::add(&step.metrics.filtered, 1);
                                        // A record already delivered before the route
                                        // was not dropped by the flow, only by the route.
                                        if !item.pending.was_delivered() {
                                            StepMetrics::add(&self.stats.filtered, 1);
                                        }
                                        item.pending.reply(ReplyMsg::error(
                                            422,
                                            "not_routed",
                                            "request taken by no `route` arm",
                                        ));
                                    }
                                    Err(e) => {
                                        self.fail(step, vec![item], &e.message, 1, 500).await?
                                    }
                                }
                            }
                            step.metrics.observe(started.elapsed());
                            for (group, (_, arm_steps)) in groups.into_iter().zip(arms) {
                                if group.is_empty() {
                                    continue;
                                }
                                StepMetrics::add(&step.metrics.records_out, group.len() as u64);
                                let mut c = cont.clone();
                                c.push((steps.clone(), i + 1));
                                c.push((arm_steps.clone(), 0));
                                self.run_in(group, c, each).await?;
                            }
                            return Ok(());
                        }
                        CKind::Batch(batcher) => {
                            let mut c = cont.clone();
                            c.push((steps.clone(), i + 1));
                            let ready = batcher.push(std::mem::take(&mut items), c);
                            for (group, c) in ready {
                                StepMetrics::add(&step.metrics.records_out, group.len() as u64);
                                self.run(group, c).await?;
                            }
                            return Ok(());
                        }
                        CKind::To(t) if t.channel.is_some() => {
                            items = self.hand_on(step, t, items).await?;
                        }
                        CKind::Tap(t) | CKind::To(t) if each && items.len() > 1 => {
                            items = self.deliver_each(step, t, items).await?;
                        }
                        _ => {
                            items = self.apply(step, items).await?;
                        }
                    }
                    step.metrics.observe(started.elapsed());
                    StepMetrics::add(&step.metrics.records_out, items.len() as u64);
                    let _ = n_in;
                }
            }
            Ok(())
        })
    }

    /// Applies one non-routing step to a group.
    async fn apply(self: &Arc<Self>, step: &CStep, items: Vec<Item>) -> Result<Vec<Item>, String> {
        let mut out = Vec::with_capacity(items.len());
        match &step.kind {
            CKind::Where(cond) => {
                for item in items {
                    match cond.test(&item.value, &item.bindings) {
                        Ok(true) => out.push(item),
                        Ok(false) => {
                            StepMetrics::add(&step.metrics.filtered, 1);
                            StepMetrics::add(&self.stats.filtered, 1);
                            item.pending.reply(ReplyMsg::error(
                                422,
                                "rejected",
                                "request rejected by `where`",
                            ));
                        }
                        Err(e) => self.fail(step, vec![item], &e.message, 1, 500).await?,
                    }
                }
            }
            CKind::Map(layout, fields) => {
                for mut item in items {
                    let slots: Result<Vec<Value>, _> = fields
                        .iter()
                        .map(|f| f.eval(&item.value, &item.bindings))
                        .collect();
                    match slots {
                        Ok(slots) => {
                            item.value = Value::Record(Arc::new(Record {
                                layout: layout.clone(),
                                slots,
                            }));
                            out.push(item);
                        }
                        Err(e) => self.fail(step, vec![item], &e.message, 1, 500).await?,
                    }
                }
            }
            CKind::MapRecord(record) => {
                for mut item in items {
                    match record.eval(&item.value, &item.bindings) {
                        Ok(v) => {
                            item.value = v;
                            out.push(item);
                        }
                        Err(e) => self.fail(step, vec![item], &e.message, 1, 500).await?,
                    }
                }
            }
            CKind::Let(name, value) => {
                for mut item in items {
                    match value.eval(&item.value, &item.bindings) {
                        Ok(v) => {
                            item.bindings.set(name, v);
                            out.push(item);
                        }
                        Err(e) => self.fail(step, vec![item], &e.message, 1, 500).await?,
                    }
                }
            }
            CKind::Enrich {
                name,
                call,
                label,
                system,
            } => {
                for mut item in items {
                    let record = item.value.clone();
                    let res = self
                        .with_policies(step, Some(system), || call.call(&record))
                        .await;
                    match res {
                        Ok(v) => {
                            item.bindings.set(name, v);
                            out.push(item);
                        }
                        Err((e, attempts)) => {
                            let msg = format!("{label}: {e}");
                            self.fail(step, vec![item], &msg, attempts, status_of(&e))
                                .await?
                        }
                    }
                }
            }
            CKind::Split(list, ty, schemas) => {
                for item in items {
                    let elems: Vec<Value> = match list.eval(&item.value, &item.bindings) {
                        Ok(Value::List(elems)) => elems.iter().cloned().collect(),
                        Ok(Value::Json(j)) => match &*j {
                            serde_json::Value::Array(elems) => {
                                elems.iter().map(crate::value::json::json_value).collect()
                            }
                            _ => Vec::new(),
                        },
                        Ok(Value::Null) => Vec::new(),
                        Ok(other) => {
                            let msg = format!("`split` needs a list, found {}", other.kind_name());
                            self.fail(step, vec![item], &msg, 1, 500).await?;
                            continue;
                        }
                        Err(e) => {
                            self.fail(step, vec![item], &e.message, 1, 500).await?;
                            continue;
                        }
                    };
                    for elem in elems {
                        // untyped elements become the declared element type
                        let elem = match (&elem, ty.required()) {
                            (Value::Json(j), t) if !matches!(t, Type::Json) => {
                                match Value::from_json(j, ty, schemas) {
                                    Ok(v) => v,
                                    Err(e) => {
                                        self.fail(
                                            step,
                                            vec![item.with_value(elem.clone())],
                                            &e,
                                            1,
                                            500,
                                        )
                                        .await?;
                                        continue;
                                    }
                                }
                            }
                            _ => elem,
                        };
                        out.push(item.with_value(elem));
                    }
                }
            }
            CKind::Dedupe(d) => {
                for item in items {
                    let key = match d.key.eval(&item.value, &item.bindings) {
                        Ok(k) => k.to_json_string(),
                        Err(e) => {
                            self.fail(step, vec![item], &e.message, 1, 500).await?;
                            continue;
                        }
                    };
                    match d
                        .admit(self.state.as_ref(), &self.name, &key, chrono::Utc::now())
                        .await
                    {
                        Admission::Duplicate => {
                            StepMetrics::add(&step.metrics.filtered, 1);
                            StepMetrics::add(&self.stats.filtered, 1);
                            continue;
                        }
                        Admission::New(Some(remember)) => {
                            let state = self.state.clone();
                            item.pending.on_safe(Box::pin(async move {
                                remember.store(state.as_ref()).await;
                            }));
                        }
                        Admission::New(None) => {}
                    }
                    out.push(item);
                }
            }
            CKind::To(t) if t.channel.is_some() => return self.hand_on(step, t, items).await,
            CKind::Tap(t) | CKind::To(t) => return self.deliver_group(step, t, items).await,
            CKind::Reply(value, status) => {
                for item in items {
                    match value.eval(&item.value, &item.bindings) {
                        Ok(v) => {
                            // a reply is a sync flow's delivery: the summary counts it
                            StepMetrics::add(&self.stats.delivered, 1);
                            item.pending.mark_delivered();
                            item.pending.reply(match status {
                                Some(status) if *status != 200 => ReplyMsg::Status {
                                    status: *status,
                                    value: v,
                                },
                                _ => ReplyMsg::Ok(v),
                            });
                            out.push(item);
                        }
                        Err(e) => self.fail(step, vec![item], &e.message, 1, 500).await?,
                    }
                }
            }
            CKind::Route(_) | CKind::Batch(_) => return Ok(items),
        }
        Ok(out)
    }

    /// Delivers records one at a time (each with its own retries and dead letter).
    async fn deliver_each(
        self: &Arc<Self>,
        step: &CStep,
        t: &TargetRef,
        items: Vec<Item>,
    ) -> Result<Vec<Item>, String> {
        if t.target.group_commits() {
            return self.deliver_staged(step, t, items).await;
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let res = self
                .with_policies(step, t.system.as_deref(), || {
                    t.target.write(std::slice::from_ref(&item.value))
                })
                .await;
            match res {
                Ok(()) => {
                    self.count_commit(step);
                    StepMetrics::add(&self.stats.delivered, 1);
                    item.pending.mark_delivered();
                    out.push(item);
                }
                Err((e, attempts)) if is_tap(step) => {
                    self.tap_failed(step, t, &e, attempts, 1);
                    out.push(item);
                }
                Err((e, attempts)) => {
                    let msg = format!("{}: {e}", t.label);
                    self.fail(step, vec![item], &msg, attempts, status_of(&e))
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// `to CHANNEL` (in-process): queues each record for the consumer
    /// flows, and makes its envelope wait for their acknowledgements
    /// ([`crate::connector::Ack::after`]). A consumer flow that has ended
    /// fails the record (dead letter, or the flow stops).
    async fn hand_on(
        self: &Arc<Self>,
        step: &CStep,
        t: &TargetRef,
        items: Vec<Item>,
    ) -> Result<Vec<Item>, String> {
        let Some(channel) = &t.channel else {
            return self.deliver_group(step, t, items).await;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self
                .with_policies(step, None, || channel.send(&item.value))
                .await
            {
                Ok(acks) => {
                    acks.into_iter().for_each(|ack| item.pending.after(ack));
                    self.count_commit(step);
                    StepMetrics::add(&self.stats.delivered, 1);
                    item.pending.mark_delivered();
                    out.push(item);
                }
                Err((e, attempts)) => {
                    let msg = format!("{}: {e}", t.label);
                    self.fail(step, vec![item], &msg, attempts, status_of(&e))
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// A `tap` failed (after its retries): it is best-effort, so the failure
    /// is logged and counted on the tap step, and the records go on.
    fn tap_failed(&self, step: &CStep, t: &TargetRef, e: &ConnectorError, attempts: u32, n: u64) {
        StepMetrics::add(&step.metrics.failed, n);
        tracing::warn!(
            flow = %self.name,
            step = %step.id,
            at = %step.at,
            target = %t.label,
            attempts,
            records = n,
            error = %crate::secrets::redact(&e.to_string()),
            "A tap failed; the records go on without it."
        );
    }

    /// Delivers a group to a target; failed groups go to the dead letter
    /// (a failed `tap` group goes on: see [`FlowRt::tap_failed`]).
    async fn deliver_group(
        self: &Arc<Self>,
        step: &CStep,
        t: &TargetRef,
        items: Vec<Item>,
    ) -> Result<Vec<Item>, String> {
        let values: Vec<Value> = items.iter().map(|i| i.value.clone()).collect();
        match self
            .with_policies(step, t.system.as_deref(), || {
                t.target.write_partial(&values)
            })
            .await
        {
            Ok(rejected) if rejected.is_empty() => {
                self.count_commit(step);
                StepMetrics::add(&self.stats.delivered, values.len() as u64);
                items.iter().for_each(|i| i.pending.mark_delivered());
                Ok(items)
            }
            Ok(rejected) => {
                self.count_commit(step);
                self.deliver_partly(step, t, items, rejected).await
            }
            Err((e, attempts)) if is_tap(step) => {
                self.tap_failed(step, t, &e, attempts, values.len() as u64);
                Ok(items)
            }
            Err((e, attempts)) => {
                let msg = format!("{}: {e}", t.label);
                self.fail(step, items, &msg, attempts, status_of(&e))
                    .await?;
                Ok(Vec::new())
            }
        }
    }
}

impl FlowRt {
    /// Counts one durable write of a target step (sync and async flows:
    /// a batch flow's writes become durable at its chunk's flush).
    pub(crate) fn count_commit(&self, step: &CStep) {
        if self.mode != aqueduct_graph::ModeKind::Batch {
            StepMetrics::add(&step.metrics.commits, 1);
        }
    }

    /// Group commit ([`crate::connector::Target::group_commits`]): records
    /// taken from the input together are staged one at a time (each with
    /// its own retries and dead letter, as [`FlowRt::deliver_each`] writes
    /// them), then made durable by one commit. Their items (and so their
    /// acknowledgements) are held until that commit succeeded. A failed
    /// commit is retried by staging the whole group again (at least once:
    /// a retry may write a record twice, never lose one); when it fails for
    /// good, every record of the group fails (dead letter, or the flow stops).
    async fn deliver_staged(
        self: &Arc<Self>,
        step: &CStep,
        t: &TargetRef,
        items: Vec<Item>,
    ) -> Result<Vec<Item>, String> {
        // (item, staged): a record of a failed `tap` goes on unstaged
        let mut held: Vec<(Item, bool)> = Vec::with_capacity(items.len());
        for item in items {
            let res = self
                .with_policies(step, t.system.as_deref(), || {
                    t.target.stage(std::slice::from_ref(&item.value))
                })
                .await;
            match res {
                Ok(()) => held.push((item, true)),
                Err((e, attempts)) if is_tap(step) => {
                    self.tap_failed(step, t, &e, attempts, 1);
                    held.push((item, false));
                }
                Err((e, attempts)) => {
                    let msg = format!("{}: {e}", t.label);
                    self.fail(step, vec![item], &msg, attempts, status_of(&e))
                        .await?;
                }
            }
        }
        let staged: Vec<Value> = held
            .iter()
            .filter(|(_, s)| *s)
            .map(|(i, _)| i.value.clone())
            .collect();
        if staged.is_empty() {
            return Ok(held.into_iter().map(|(i, _)| i).collect());
        }
        let mut first = true;
        let committed = self
            .with_policies(step, t.system.as_deref(), || {
                let again = !std::mem::replace(&mut first, false);
                let staged = &staged;
                async move {
                    if again {
                        t.target.stage(staged).await?;
                    }
                    t.target.commit().await
                }
            })
            .await;
        match committed {
            Ok(()) => {
                self.count_commit(step);
                StepMetrics::add(&self.stats.delivered, staged.len() as u64);
                Ok(held
                    .into_iter()
                    .map(|(item, s)| {
                        if s {
                            item.pending.mark_delivered();
                        }
                        item
                    })
                    .collect())
            }
            Err((e, attempts)) if is_tap(step) => {
                self.tap_failed(step, t, &e, attempts, staged.len() as u64);
                Ok(held.into_iter().map(|(i, _)| i).collect())
            }
            Err((e, attempts)) => {
                let (failed, rest): (Vec<_>, Vec<_>) = held.into_iter().partition(|(_, s)| *s);
                let failed: Vec<Item> = failed.into_iter().map(|(i, _)| i).collect();
                let msg = format!("{}: {e}", t.label);
                self.fail(step, failed, &msg, attempts, status_of(&e))
                    .await?;
                Ok(rest.into_iter().map(|(i, _)| i).collect())
            }
        }
    }

    /// A group the target took except for the `rejected` records: those fail
    /// on their own (dead letter, or a failed tap), the rest are delivered.
    async fn deliver_partly(
        &self,
        step: &CStep,
        t: &TargetRef,
        items: Vec<Item>,
        rejected: Vec<crate::connector::Rejected>,
    ) -> Result<Vec<Item>, String> {
        let mut errors: Vec<Option<ConnectorError>> = vec![None; items.len()];
        for r in rejected {
            if let Some(slot) = errors.get_mut(r.index) {
                *slot = Some(r.error);
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for (item, error) in items.into_iter().zip(errors) {
            match error {
                None => {
                    StepMetrics::add(&self.stats.delivered, 1);
                    item.pending.mark_delivered();
                    out.push(item);
                }
                Some(e) if is_tap(step) => {
                    self.tap_failed(step, t, &e, 1, 1);
                    out.push(item);
                }
                Some(e) => {
                    let msg = format!("{}: {e}", t.label);
                    self.fail(step, vec![item], &msg, 1, status_of(&e)).await?;
                }
            }
        }
        Ok(out)
    }
}

/// True for a `tap` step (best-effort delivery).
fn is_tap(step: &CStep) -> bool {
    matches!(step.kind, CKind::Tap(_))
}

/// The HTTP status a sync caller gets for a connector failure.
pub fn status_of(e: &ConnectorError) -> u16 {
    match e {
        ConnectorError::Transient(m) if m.starts_with("timed out") => 504,
        ConnectorError::Transient(m) if m.starts_with("circuit breaker for") => 503,
        _ => 502,
    }
}
