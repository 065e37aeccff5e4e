//! The engine as the operator API sees it (`telemetry::RelayView`): snapshots and closes go to
//! the shards as control messages and come back over a reply channel, so the HTTP thread waits
//! and a shard answers between two batches; nothing blocks a shard.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::relay::registry::Registry;
use crate::telemetry::{HealthState, RelayView, ShardSnapshot};

use super::msg::ShardMsg;

/// How long a scrape waits for each shard before leaving it out.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

pub struct EngineView {
    inboxes: Vec<Sender<ShardMsg>>,
    registry: Arc<Registry>,
}

impl EngineView {
    pub(super) fn new(inboxes: Vec<Sender<ShardMsg>>, registry: Arc<Registry>) -> Self {
        EngineView { inboxes, registry }
    }
}

/// Asks every shard for its snapshot; a shard that does not answer in time is left out.
pub(super) fn collect_reports(
    inboxes: &[Sender<ShardMsg>],
    reset_histograms: bool,
    timeout: Duration,
) -> Vec<ShardSnapshot> {
    let pending: Vec<_> = inboxes
        .iter()
        .filter_map(|inbox| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            inbox
                .send(ShardMsg::Report {
                    reset_histograms,
                    reply: tx,
                })
                .ok()
                .map(|()| rx)
        })
        .collect();
    pending
        .into_iter()
        .filter_map(|rx| rx.recv_timeout(timeout).ok())
        .collect()
}

impl RelayView for EngineView {
    fn cluster(&self) -> Option<crate::cluster::ClusterStatus> {
        self.registry.cluster().map(|c| c.status())
    }

    fn snapshot(&self, reset_histograms: bool) -> Vec<ShardSnapshot> {
        collect_reports(&self.inboxes, reset_histograms, REPLY_TIMEOUT)
    }

    fn close_connection(&self, id: u32) -> bool {
        let replies: Vec<_> = self
            .inboxes
            .iter()
            .filter_map(|inbox| {
                let (tx, rx) = crossbeam_channel::bounded(1);
                inbox
                    .send(ShardMsg::Close {
                        leg: crate::legs::srt::leg(id),
                        reply: Some(tx),
                    })
                    .ok()
                    .map(|()| rx)
            })
            .collect();
        replies
            .into_iter()
            .any(|rx| rx.recv_timeout(REPLY_TIMEOUT).unwrap_or(false))
    }

    fn health(&self) -> HealthState {
        let c = self.registry.counts();
        HealthState {
            draining: c.draining,
            connections: c.connections,
            soft_limit: Some(c.soft_limit),
        }
    }
}
