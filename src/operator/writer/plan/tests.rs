//! Unit tests of the writer's plan on a fake clock (plain `Instant` arithmetic, no server): each
//! asserts what the plan says to do next.

use super::*;

const TERM: u64 = 1;

fn ns(name: &str) -> Scope {
    Scope::Namespace(name.to_string())
}

fn job(name: &str, hash: &str, term: u64) -> Job {
    let status = RawValue::from_string(format!("{{\"hash\":\"{hash}\"}}")).map(Arc::from).expect("valid JSON");
    Job { scope: ns(name), status, hash: hash.to_string(), term }
}

/// A plan leading in [`TERM`], and the instant the tests start from.
fn leading() -> (Plan, Instant) {
    let mut plan = Plan::default();
    plan.set_term(Some(TERM));
    (plan, Instant::now())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The write the plan hands out now: (namespace, hash, create); panics on any other step.
fn expect_write(plan: &mut Plan, now: Instant) -> (Scope, String, bool) {
    match plan.next(now) {
        Step::Write { job, create } => (job.scope, job.hash, create),
        other => panic!("expected a write, got {other:?}"),
    }
}

fn expect_idle(plan: &mut Plan, now: Instant) {
    let step = plan.next(now);
    assert!(matches!(step, Step::Idle), "expected nothing due, got {step:?}");
}

/// Writes `job` now and has it land with resourceVersion `rv`.
fn write_and_land(plan: &mut Plan, job: Job, rv: u64, now: Instant) {
    let scope = job.scope.clone();
    plan.handle(Msg::Write(job), now);
    assert_eq!(expect_write(plan, now).0, scope);
    let w = plan.written(WriteResult::Applied(rv), now);
    assert_eq!(w, Some(Written { outcome: Outcome::Applied, retry_in: None }));
}

#[test]
fn unchanged_content_is_not_written_again() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h1".to_string(), true));
    plan.written(WriteResult::Applied(5), t0);
    // The same verdict again: counted unchanged, nothing sent.
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    assert!(matches!(plan.next(t0), Step::Unchanged(s) if s == ns("a")));
    expect_idle(&mut plan, t0);
    // The watch seeing our own write changes nothing.
    plan.handle(Msg::Observed { scope: ns("a"), rv: 5, hash: Some("h1".into()) }, t0);
    expect_idle(&mut plan, t0);
    // New content is written, as an update of the existing object.
    plan.handle(Msg::Write(job("a", "h2", TERM)), t0);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h2".to_string(), false));
}

#[test]
fn the_watch_seeing_our_own_write_neither_decodes_nor_hashes_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (mut plan, t0) = leading();
    write_and_land(&mut plan, job("a", "h1", TERM), 5, t0);
    let hashed = Arc::new(AtomicUsize::new(0));
    let counting = |h: &'static str| {
        let hashed = hashed.clone();
        LazyHash::later(move || {
            hashed.fetch_add(1, Ordering::SeqCst);
            h.to_string()
        })
    };
    plan.handle(Msg::Observed { scope: ns("a"), rv: 5, hash: Some(counting("h1")) }, t0);
    expect_idle(&mut plan, t0);
    assert_eq!(hashed.load(Ordering::SeqCst), 0, "our own resourceVersion: not hashed");
    // A newer version (someone else's edit) is hashed, and put back.
    plan.handle(Msg::Observed { scope: ns("a"), rv: 6, hash: Some(counting("edited")) }, t0);
    assert_eq!(hashed.load(Ordering::SeqCst), 1);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h1".to_string(), false));
}

#[test]
fn a_report_edited_on_the_server_is_put_back() {
    let (mut plan, t0) = leading();
    write_and_land(&mut plan, job("a", "h1", TERM), 5, t0);
    // An older observation than our own write is ignored.
    plan.handle(Msg::Observed { scope: ns("a"), rv: 4, hash: Some("edited".into()) }, t0);
    expect_idle(&mut plan, t0);
    plan.handle(Msg::Observed { scope: ns("a"), rv: 6, hash: Some("edited".into()) }, t0);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h1".to_string(), false));
}

#[test]
fn a_deleted_report_is_created_again() {
    let (mut plan, t0) = leading();
    write_and_land(&mut plan, job("a", "h1", TERM), 5, t0);
    plan.handle(Msg::Observed { scope: ns("a"), rv: u64::MAX, hash: None }, t0);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h1".to_string(), true));
}

#[test]
fn only_jobs_of_the_current_term_are_written() {
    let mut plan = Plan::default();
    let t0 = Instant::now();
    plan.set_term(Some(2));
    plan.handle(Msg::Write(job("old", "h1", 1)), t0);
    expect_idle(&mut plan, t0);
    assert_eq!(plan.wake(), None);
    assert!(!plan.busy());
    plan.handle(Msg::Write(job("new", "h1", 2)), t0);
    assert_eq!(expect_write(&mut plan, t0).0, ns("new"));
    // A job of term 2 waiting when leadership lapses or passes to term 3 is not written.
    plan.written(WriteResult::NotLeader, t0);
    plan.set_term(None);
    expect_idle(&mut plan, t0);
    plan.set_term(Some(3));
    expect_idle(&mut plan, t0);
    // Nor is a report edited on the server put back with a verdict of an earlier term.
    plan.handle(Msg::Observed { scope: ns("old"), rv: 9, hash: Some("edited".into()) }, t0);
    expect_idle(&mut plan, t0);
}

#[test]
fn a_write_refused_for_lost_leadership_is_kept_as_it_was() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    expect_write(&mut plan, t0);
    assert_eq!(plan.written(WriteResult::NotLeader, t0), None);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h1".to_string(), true));
}

#[test]
fn a_429_waits_its_full_retry_after_and_counts_throttled() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    expect_write(&mut plan, t0);
    let w = plan.written(WriteResult::Throttled(7), t0);
    assert_eq!(w, Some(Written { outcome: Outcome::Throttled, retry_in: Some(Duration::from_secs(7)) }));
    assert_eq!(plan.wake(), Some(t0 + Duration::from_secs(7)));
    expect_idle(&mut plan, t0 + Duration::from_secs(7) - ms(1));
    expect_write(&mut plan, t0 + Duration::from_secs(7));
    // No Retry-After given: one second.
    let w = plan.written(WriteResult::Throttled(0), t0);
    assert_eq!(w.map(|w| w.retry_in), Some(Some(Duration::from_secs(1))));
}

#[test]
fn conflicts_and_errors_retry_with_growing_backoff() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    let mut now = t0;
    let results = [
        (WriteResult::Conflict, Outcome::Conflict, 200),
        (WriteResult::Failed, Outcome::Error, 400),
        (WriteResult::Conflict, Outcome::Conflict, 800),
        (WriteResult::Failed, Outcome::Error, 1600),
    ];
    for (result, outcome, wait) in results {
        expect_write(&mut plan, now);
        assert_eq!(plan.written(result, now), Some(Written { outcome, retry_in: Some(ms(wait)) }));
        expect_idle(&mut plan, now + ms(wait - 1));
        now += ms(wait);
    }
    // The backoff stops growing at 10 s.
    for _ in 0..4 {
        expect_write(&mut plan, now);
        plan.written(WriteResult::Conflict, now);
        now += Duration::from_secs(10);
    }
    expect_write(&mut plan, now);
    let w = plan.written(WriteResult::Failed, now);
    assert_eq!(w.and_then(|w| w.retry_in), Some(Duration::from_secs(10)));
    // A timeout retries after half a second and counts as an error.
    expect_write(&mut plan, now + Duration::from_secs(10));
    let w = plan.written(WriteResult::TimedOut, now);
    assert_eq!(w, Some(Written { outcome: Outcome::Error, retry_in: Some(ms(500)) }));
}

#[test]
fn a_report_deleted_between_the_two_applies_is_created_next_time() {
    let (mut plan, t0) = leading();
    write_and_land(&mut plan, job("a", "h1", TERM), 5, t0);
    plan.handle(Msg::Write(job("a", "h2", TERM)), t0);
    assert!(!expect_write(&mut plan, t0).2);
    let w = plan.written(WriteResult::NotFound, t0);
    assert_eq!(w, Some(Written { outcome: Outcome::Error, retry_in: Some(ms(200)) }));
    assert_eq!(expect_write(&mut plan, t0 + ms(200)), (ns("a"), "h2".to_string(), true));
}

#[test]
fn a_removal_is_retried_until_it_succeeds_and_drops_the_pending_write() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    plan.handle(Msg::Remove("a".to_string()), t0);
    for _ in 0..3 {
        assert!(matches!(plan.next(t0), Step::Remove(n) if n == "a"));
        plan.removed("a".to_string(), false);
        assert!(plan.busy());
    }
    assert!(matches!(plan.next(t0), Step::Remove(n) if n == "a"));
    plan.removed("a".to_string(), true);
    expect_idle(&mut plan, t0);
    assert!(!plan.busy());
    // Nothing is put back when the watch then sees it gone.
    plan.handle(Msg::Observed { scope: ns("a"), rv: u64::MAX, hash: None }, t0);
    expect_idle(&mut plan, t0);
}

#[test]
fn forget_drops_a_namespace_without_deleting() {
    let (mut plan, t0) = leading();
    write_and_land(&mut plan, job("a", "h1", TERM), 5, t0);
    plan.handle(Msg::Write(job("a", "h2", TERM)), t0);
    plan.handle(Msg::Forget("a".to_string()), t0);
    expect_idle(&mut plan, t0);
    assert!(!plan.busy());
    plan.handle(Msg::Observed { scope: ns("a"), rv: u64::MAX, hash: None }, t0);
    expect_idle(&mut plan, t0);
    // A namespace of the same name made later gets its report created, even with the old content.
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    assert_eq!(expect_write(&mut plan, t0), (ns("a"), "h1".to_string(), true));
}

#[test]
fn a_pass_lands_only_when_every_write_of_its_term_landed() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    plan.handle(Msg::Write(job("b", "h1", TERM)), t0);
    plan.handle(Msg::PassDone { at: 100.0, term: TERM }, t0);
    assert!(matches!(plan.next(t0), Step::Verify));
    plan.verified(&HashMap::new(), t0);
    assert_eq!(expect_write(&mut plan, t0).0, ns("a"));
    plan.written(WriteResult::Applied(1), t0);
    assert_eq!(expect_write(&mut plan, t0).0, ns("b"));
    plan.written(WriteResult::Conflict, t0);
    // b has not landed: no timestamp yet.
    expect_idle(&mut plan, t0);
    assert_eq!(expect_write(&mut plan, t0 + ms(200)).0, ns("b"));
    plan.written(WriteResult::Applied(2), t0 + ms(200));
    assert!(matches!(plan.next(t0 + ms(200)), Step::Landed(at) if at == 100.0));
    expect_idle(&mut plan, t0 + ms(200));
}

#[test]
fn verification_writes_again_what_the_server_lost() {
    let (mut plan, t0) = leading();
    write_and_land(&mut plan, job("a", "h1", TERM), 1, t0);
    write_and_land(&mut plan, job("b", "h1", TERM), 2, t0);
    plan.handle(Msg::PassDone { at: 100.0, term: TERM }, t0);
    // Listing fails: tried again after a backoff, no timestamp meanwhile.
    assert!(matches!(plan.next(t0), Step::Verify));
    assert_eq!(plan.verify_failed(t0), Some(ms(400)));
    expect_idle(&mut plan, t0 + ms(399));
    assert_eq!(plan.wake(), Some(t0 + ms(400)));
    let t1 = t0 + ms(400);
    assert!(matches!(plan.next(t1), Step::Verify));
    // The server (restored from a backup) holds a but not b.
    plan.verified(&HashMap::from([(ns("a"), 1)]), t1);
    assert_eq!(expect_write(&mut plan, t1), (ns("b"), "h1".to_string(), true));
    // Not landed while b's write is in flight.
    expect_idle(&mut plan, t1);
    assert!(plan.busy());
    plan.written(WriteResult::Applied(3), t1);
    assert!(matches!(plan.next(t1), Step::Landed(at) if at == 100.0));
}

#[test]
fn a_pass_of_another_term_does_not_count() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::PassDone { at: 100.0, term: TERM }, t0);
    plan.set_term(Some(TERM + 1));
    expect_idle(&mut plan, t0);
    plan.set_term(Some(TERM));
    expect_idle(&mut plan, t0);
}

#[test]
fn removals_go_before_the_verification_and_the_timestamp() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Remove("gone".to_string()), t0);
    plan.handle(Msg::PassDone { at: 100.0, term: TERM }, t0);
    assert!(matches!(plan.next(t0), Step::Remove(_)));
    plan.removed("gone".to_string(), false);
    assert!(matches!(plan.next(t0), Step::Remove(_)));
    plan.removed("gone".to_string(), true);
    assert!(matches!(plan.next(t0), Step::Verify));
    plan.verified(&HashMap::new(), t0);
    assert!(matches!(plan.next(t0), Step::Landed(at) if at == 100.0));
}

#[test]
fn finish_drains_what_is_pending() {
    let (mut plan, t0) = leading();
    plan.handle(Msg::Write(job("a", "h1", TERM)), t0);
    plan.handle(Msg::Write(job("b", "h1", TERM)), t0);
    plan.handle(Msg::Remove("c".to_string()), t0);
    assert!(!plan.handle(Msg::Finish, t0));
    assert!(plan.busy());
    assert_eq!(plan.left(), 2);
    let mut done = vec![];
    while plan.busy() {
        match plan.next(t0) {
            Step::Remove(n) => {
                done.push(format!("remove {n}"));
                plan.removed(n, true);
            }
            Step::Write { job, .. } => {
                done.push(format!("write {:?}", job.scope));
                plan.written(WriteResult::Applied(1), t0);
            }
            other => panic!("unexpected {other:?} while draining"),
        }
    }
    assert_eq!(done, ["remove c", "write Namespace(\"a\")", "write Namespace(\"b\")"]);
    assert_eq!(plan.left(), 0);
    expect_idle(&mut plan, t0);
}
