//! The run queue: runs waiting in named queues, claimed by priority then insertion order,
//! following the worker's ordered queue preference (`*` = any queue).

use std::collections::{BTreeMap, HashMap};

/// Priority of runs Lightning starts at once (manual runs, sync webhooks).
pub const PRIORITY_IMMEDIATE: i64 = 0;
/// Priority of ordinary runs.
pub const PRIORITY_NORMAL: i64 = 1;

/// Queued run ids by queue name, each queue ordered by `(priority, sequence)`.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    queues: HashMap<String, BTreeMap<(i64, u64), String>>,
    len: usize,
}

impl Queue {
    /// Adds a run.
    pub(crate) fn push(&mut self, queue: &str, priority: i64, seq: u64, id: String) {
        let previous = self
            .queues
            .entry(queue.to_owned())
            .or_default()
            .insert((priority, seq), id);
        if previous.is_none() {
            self.len += 1;
        }
    }

    /// Number of queued runs.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Empties the queue.
    pub(crate) fn clear(&mut self) {
        self.queues.clear();
        self.len = 0;
    }

    /// Takes up to `demand` runs. For each slot the preferences are tried in order: a named
    /// queue yields its best run, `*` yields the best run of any queue. No preferences means
    /// `*`. Returns the ids in claim order.
    pub(crate) fn claim(&mut self, preferences: &[String], demand: usize) -> Vec<String> {
        let star = ["*".to_owned()];
        let preferences = if preferences.is_empty() {
            &star[..]
        } else {
            preferences
        };
        let mut taken = Vec::new();
        while taken.len() < demand {
            let found = preferences.iter().find_map(|pref| {
                if pref == "*" {
                    self.queues
                        .iter()
                        .filter_map(|(name, q)| q.first_key_value().map(|(k, _)| (*k, name)))
                        .min()
                        .map(|(k, name)| (name.clone(), k))
                } else {
                    self.queues
                        .get(pref)
                        .and_then(|q| q.first_key_value())
                        .map(|(k, _)| (pref.clone(), *k))
                }
            });
            let Some((name, key)) = found else { break };
            if let Some(id) = self.queues.get_mut(&name).and_then(|q| q.remove(&key)) {
                self.len -= 1;
                taken.push(id);
            }
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn preference_then_priority_then_fifo() {
        let mut q = Queue::default();
        q.push("default", PRIORITY_NORMAL, 1, "d1".into());
        q.push("manual", PRIORITY_NORMAL, 2, "m1".into());
        q.push("default", PRIORITY_IMMEDIATE, 3, "d2".into());
        q.push("fast_lane", PRIORITY_NORMAL, 4, "f1".into());
        assert_eq!(q.claim(&prefs(&["fast_lane"]), 5), ["f1"]);
        assert_eq!(q.claim(&prefs(&["manual", "*"]), 2), ["m1", "d2"]);
        assert!(q.claim(&prefs(&["manual"]), 1).is_empty());
        assert_eq!(q.claim(&[], 1), ["d1"]);
        assert_eq!(q.len(), 0);
    }
}
