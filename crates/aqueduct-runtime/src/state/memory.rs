//! An in-memory state store for tests and flow tests (nothing persists).

use crate::connector::{ConnectorError, StateStore};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Keeps state in a map for the life of the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<String, String>>,
}

impl MemoryStore {
    /// Every key and value, sorted by key.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        self.map.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl StateStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, ConnectorError>> {
        let value = self.map.lock().map(|m| m.get(key).cloned()).map_err(|_| ());
        Box::pin(async move {
            value.map_err(|_| ConnectorError::Permanent("state store lock poisoned".into()))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let done = self
            .map
            .lock()
            .map(|mut m| {
                m.insert(key.to_string(), value.to_string());
            })
            .map_err(|_| ());
        Box::pin(async move {
            done.map_err(|_| ConnectorError::Permanent("state store lock poisoned".into()))
        })
    }

    fn remove_prefix_below<'a>(
        &'a self,
        prefix: &'a str,
        below: &'a str,
    ) -> BoxFuture<'a, Result<u64, ConnectorError>> {
        let removed = self
            .map
            .lock()
            .map(|mut m| {
                let before = m.len();
                m.retain(|k, v| !(k.starts_with(prefix) && v.as_str() < below));
                (before - m.len()) as u64
            })
            .map_err(|_| ());
        Box::pin(async move {
            removed.map_err(|_| ConnectorError::Permanent("state store lock poisoned".into()))
        })
    }
}
