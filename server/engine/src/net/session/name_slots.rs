//! Sessions per token subject: with auth on, one token's name holds at most
//! `--max-sessions-per-name` WebSocket sessions at once (default 2: a page reload overlaps
//! the old socket's close). Beyond that the upgrade is refused with 409 before anything is
//! upgraded: the sessions already playing are never disturbed by a newcomer, so a leaked
//! token cannot be used to push its owner out, and a script cannot fan one token out into
//! hundreds of slots.
//!
//! A slot is taken when the upgrade is accepted and given back when its [`NameSlot`] is
//! dropped with the session (or with the upgrade, if it never completes). Names holding no
//! session are forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Sessions held per name.
#[derive(Debug)]
pub struct NameSlots {
    max: u32,
    held: Mutex<HashMap<String, u32>>,
}

/// One session's hold on its name; dropping it gives the slot back.
#[derive(Debug)]
pub struct NameSlot {
    name: String,
    slots: Arc<NameSlots>,
}

impl NameSlots {
    /// At most `max` sessions per name; 0 means no limit.
    pub fn new(max: u32) -> Arc<NameSlots> {
        Arc::new(NameSlots { max, held: Mutex::new(HashMap::new()) })
    }

    /// The limit (0: none).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Takes a slot for `name`; `None` if it holds `max` already.
    pub fn take(self: &Arc<Self>, name: &str) -> Option<NameSlot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(name.to_owned()).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(NameSlot { name: name.to_owned(), slots: self.clone() })
    }

    /// Names holding at least one session.
    pub fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no name holds a session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for NameSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.name) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_per_name_and_slots_come_back() {
        let slots = NameSlots::new(2);
        let a = slots.take("ann").expect("1st");
        let _b = slots.take("ann").expect("2nd");
        assert!(slots.take("ann").is_none(), "a 3rd is refused");
        let _other = slots.take("bob").expect("another name");
        drop(a);
        let _c = slots.take("ann").expect("a slot came back");
        assert_eq!(slots.len(), 2);
    }

    #[test]
    fn names_without_sessions_are_forgotten_and_zero_is_unlimited() {
        let slots = NameSlots::new(0);
        let held: Vec<_> = (0..100).map(|_| slots.take("ann").expect("unlimited")).collect();
        drop(held);
        assert!(slots.is_empty());
    }
}
