//! Leader election on a `coordination.k8s.io/v1` Lease: one replica writes, the others stand by and
//! take over when the lease is not renewed for its duration (judged by local observation, not clocks).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Lease object name.
    pub name: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// This replica's identity (holderIdentity).
    pub identity: String,
    /// How long a lease stays valid without renewal.
    pub duration: Duration,
}

/// A term of leadership: its number (a new one each time this replica becomes leader) and the
/// instant until which leadership is certain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// Number of the term, from 1.
    pub number: u64,
    /// Leadership is certain until then.
    pub until: Instant,
}

/// Whether this replica leads, and in which term.
#[derive(Debug, Clone)]
pub struct Leadership(watch::Receiver<Option<Term>>);

impl Leadership {
    /// A replica that always leads (leader election off): one term that does not end.
    pub fn always() -> (watch::Sender<Option<Term>>, Self) {
        let (tx, rx) = watch::channel(Some(Term { number: 1, until: Instant::now() + Duration::from_secs(100 * 365 * 86400) }));
        (tx, Leadership(rx))
    }

    /// A replica that does not lead yet.
    pub fn pending() -> (watch::Sender<Option<Term>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, Leadership(rx))
    }

    /// Leads now.
    pub fn is_leader(&self) -> bool {
        self.0.borrow().is_some_and(|t| Instant::now() < t.until)
    }

    /// The number of the current term, when leading now.
    pub fn term(&self) -> Option<u64> {
        self.0.borrow().filter(|t| Instant::now() < t.until).map(|t| t.number)
    }

    /// Time left of certain leadership (zero when not leading).
    pub fn remaining(&self) -> Duration {
        self.0.borrow().map(|t| t.until.saturating_duration_since(Instant::now())).unwrap_or_default()
    }

    /// Waits until leadership changes (for ever when it cannot change any more).
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// The election loop state: what was last observed of the lease, and when.
struct Observer {
    record: Option<(Option<String>, Option<String>)>,
    since: Instant,
}

/// How long a lease held by someone else must go unrenewed before it may be taken: the longer of
/// the duration its holder recorded and this replica's own (replicas may differ during an update).
fn expiry(recorded: Option<i32>, own: Duration) -> Duration {
    let recorded = recorded.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs).unwrap_or_default();
    recorded.max(own)
}

/// Runs the election until `stop` turns true, then releases the lease if held.
pub async fn run(api: Api<Lease>, s: LeaseSettings, tx: watch::Sender<Option<Term>>, mut stop: watch::Receiver<bool>) {
    let renew_every = s.duration / 3;
    let mut obs = Observer { record: None, since: Instant::now() };
    let mut terms = 0;
    loop {
        let started = Instant::now();
        let attempt = tokio::time::timeout(renew_every, try_lead(&api, &s, &mut obs)).await;
        let was = tx.borrow().is_some();
        match attempt {
            Ok(Ok(Some(acquired))) => {
                // Certain until a standby could see the lease expire: measured from before the request went out.
                let until = started + s.duration - renew_every / 2;
                // A new term when the lease was taken (someone else may have led since) or not held before.
                let current = if acquired { None } else { tx.borrow().map(|t| t.number) };
                let number = match current {
                    Some(n) => n,
                    None => {
                        terms += 1;
                        terms
                    }
                };
                tx.send_replace(Some(Term { number, until }));
                if !was {
                    info!(identity = %s.identity, lease = %s.name, term = number, "became leader");
                }
            }
            Ok(Ok(None)) => {
                if was {
                    warn!(identity = %s.identity, "lost the lease");
                }
                tx.send_replace(None);
            }
            Ok(Err(e)) => warn!(error = %e, "lease request failed"),
            Err(_) => warn!("lease request timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(renew_every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if tx.borrow().is_some() {
        release(&api, &s).await;
        tx.send_replace(None);
    }
}

/// One attempt: Some(true) when the lease was taken (created or acquired), Some(false) when renewed, None when someone else holds it.
async fn try_lead(api: &Api<Lease>, s: &LeaseSettings, obs: &mut Observer) -> Result<Option<bool>, kube::Error> {
    let secs = s.duration.as_secs().max(1) as i32;
    let Some(mut lease) = api.get_opt(&s.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(s.name.clone()), namespace: Some(s.namespace.clone()), ..Default::default() },
            spec: Some(LeaseSpec {
                holder_identity: Some(s.identity.clone()),
                lease_duration_seconds: Some(secs),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Some(true)),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let record = (holder.clone(), spec.renew_time.as_ref().map(|t| t.0.to_string()));
    if obs.record.as_ref() != Some(&record) {
        obs.record = Some(record);
        obs.since = Instant::now();
    }
    let mine = holder.as_deref() == Some(s.identity.as_str());
    let expired = holder.is_none() || obs.since.elapsed() > expiry(spec.lease_duration_seconds, s.duration);
    if !mine && !expired {
        return Ok(None);
    }
    if !mine {
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        spec.acquire_time = Some(now());
        spec.holder_identity = Some(s.identity.clone());
    }
    spec.renew_time = Some(now());
    spec.lease_duration_seconds = Some(secs);
    match api.replace(&s.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(Some(!mine)),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
}

async fn release(api: &Api<Lease>, s: &LeaseSettings) {
    let Ok(Some(mut lease)) = api.get_opt(&s.name).await else { return };
    let Some(spec) = lease.spec.as_mut() else { return };
    if spec.holder_identity.as_deref() != Some(s.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.renew_time = Some(now());
    match api.replace(&s.name, &PostParams::default(), &lease).await {
        Ok(_) => info!(identity = %s.identity, "released the lease"),
        Err(e) => warn!(error = %e, "releasing the lease"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holders_recorded_duration_wins_when_longer() {
        let s = Duration::from_secs;
        assert_eq!(expiry(Some(30), s(15)), s(30));
        assert_eq!(expiry(Some(5), s(15)), s(15));
        assert_eq!(expiry(None, s(15)), s(15));
        assert_eq!(expiry(Some(-3), s(15)), s(15));
    }
}
