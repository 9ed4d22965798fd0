//! Each server's table of the newest known location of every client.

use std::collections::HashMap;

use crate::message::Record;

/// What offering a record to the store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Newer than what was held (or the first for this client): stored.
    Stored,
    /// Not newer (ties included): nothing changed.
    Stale,
    /// A new client while the store is at its limit: refused.
    Full,
}

/// Newest record per client id, bounded in the number of clients.
#[derive(Debug)]
pub struct LocationStore {
    records: HashMap<Box<str>, Record>,
    max_clients: usize,
}

impl LocationStore {
    pub fn new(max_clients: usize) -> Self {
        LocationStore {
            records: HashMap::new(),
            max_clients,
        }
    }

    pub fn offer(&mut self, record: Record) -> Offer {
        let full = self.records.len() >= self.max_clients;
        match self.records.get_mut(record.client()) {
            Some(held) if record.time() > held.time() => {
                *held = record;
                Offer::Stored
            }
            Some(_) => Offer::Stale,
            None if full => Offer::Full,
            None => {
                self.records.insert(record.client().into(), record);
                Offer::Stored
            }
        }
    }

    pub fn get(&self, client: &str) -> Option<&Record> {
        self.records.get(client)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(client: &str, time: u32) -> Record {
        Record::parse(format!("AT S +0.000000000 {client} +1+1 {time}").as_bytes()).expect("valid")
    }

    #[test]
    fn keeps_only_strictly_newer() {
        let mut s = LocationStore::new(10);
        assert_eq!(s.offer(rec("a", 5)), Offer::Stored);
        assert_eq!(s.offer(rec("a", 5)), Offer::Stale);
        assert_eq!(s.offer(rec("a", 4)), Offer::Stale);
        assert_eq!(s.offer(rec("a", 6)), Offer::Stored);
        assert_eq!(s.get("a").map(Record::time), Some(rec("a", 6).time()));
    }

    #[test]
    fn refuses_new_clients_when_full_but_updates_known_ones() {
        let mut s = LocationStore::new(1);
        assert_eq!(s.offer(rec("a", 1)), Offer::Stored);
        assert_eq!(s.offer(rec("b", 1)), Offer::Full);
        assert_eq!(s.offer(rec("a", 2)), Offer::Stored);
        assert_eq!(s.len(), 1);
    }
}
