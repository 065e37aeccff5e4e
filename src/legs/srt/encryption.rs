//! The `[[encryption]]` rules as the shards read them at each SRT handshake: shared by every
//! shard, replaced on reload, locked only at handshake time.

use std::sync::{Mutex, PoisonError};

use crate::config::EncryptionRule;
use crate::srt::crypto::Encryption;
use crate::srt::handshake::StreamMode;

#[derive(Debug, Default)]
pub struct EncryptionRules {
    rules: Mutex<Vec<EncryptionRule>>,
}

impl EncryptionRules {
    pub fn new(rules: Vec<EncryptionRule>) -> EncryptionRules {
        EncryptionRules {
            rules: Mutex::new(rules),
        }
    }

    /// New rules for handshakes from now on (reload).
    pub fn set(&self, rules: Vec<EncryptionRule>) {
        *self.rules.lock().unwrap_or_else(PoisonError::into_inner) = rules;
    }

    /// The encryption a caller of `name` in `mode` gets: its side of the first matching rule;
    /// the default (none, enforced: encrypting callers are refused) when no rule matches.
    pub fn for_caller(&self, name: &str, mode: StreamMode) -> Encryption {
        let rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        rules
            .iter()
            .find(|r| r.streams.matches(name))
            .map(|r| match mode {
                StreamMode::Request => r.subscriber.clone(),
                StreamMode::Publish | StreamMode::Bidirectional => r.publisher.clone(),
            })
            .unwrap_or_default()
    }
}
