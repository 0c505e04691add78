//! Order-keeping parallel map over a slice, on scoped threads (one per core, at most 8).

/// Maps `f` over `items` on all cores (up to 8 threads); results keep the input order. A panic in
/// `f` reaches the caller, as it would without threads (no result is dropped silently).
pub fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || items.len() < 8 {
        return items.iter().map(&f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, U)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = vec![];
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        // A worker that panicked would leave its items out: its panic goes on to the caller instead.
        handles.into_iter().map(|h| h.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload))).collect()
    });
    let mut all: Vec<(usize, U)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::par_map;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(par_map(&items, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_worker_is_not_a_shorter_result() {
        let items: Vec<u32> = (0..1000).collect();
        let run = std::panic::catch_unwind(|| {
            par_map(&items, |x| {
                if *x == 500 {
                    panic!("worker failed on {x}");
                }
                *x
            })
        });
        let payload = match run {
            Ok(out) => panic!("the panic was swallowed: {} of {} results came back", out.len(), items.len()),
            Err(p) => p,
        };
        let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
        assert_eq!(message, "worker failed on 500", "the worker's own panic propagates");
    }
}
