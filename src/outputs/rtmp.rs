//! One connection of an `rtmp://` output: TCP to the server, `rtmp::RtmpPublisher` through
//! connect/createStream/publish, then the stream from its last keyframe through
//! `media::flvmux::TsToFlv` as FLV tags. The socket is read with a short timeout between
//! rounds of the stream's chunks, so neither side waits for the other; a server slower than
//! the stream holds the writes back and the reader's queue skips to the next keyframe (the
//! HTTP-TS reader's rule), never the stream.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use log::{info, warn};

use super::runner::{OutputStatus, Turn};
use crate::config::{OutputConfig, RtmpTarget};
use crate::legs::ingest::IngestHost;
use crate::media::flvmux::{FlvTag, TsToFlv};
use crate::rtmp::{PublisherConfig, PublisherEvent, RtmpPublisher};

/// Longest wait for the server between two rounds of the stream's chunks.
const TICK: Duration = Duration::from_millis(10);
const TAKE: usize = 64;

fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

pub(super) async fn push(
    t: &RtmpTarget,
    cfg: &OutputConfig,
    host: &Rc<dyn IngestHost>,
    status: &Rc<RefCell<OutputStatus>>,
    stop: &Rc<Cell<bool>>,
    backoff: &mut super::backoff::Backoff,
) -> Turn {
    let addr = match crate::inputs::source::resolve(&t.host, t.port).await {
        Ok(a) => a,
        Err(e) => return Turn::Failed(format!("{}: {e}", t.host)),
    };
    let mut stream = match glommio::net::TcpStream::connect_timeout(addr, cfg.connect_timeout).await
    {
        Ok(s) => s,
        Err(e) => return Turn::Failed(format!("connect to {addr}: {e}")),
    };
    let _ = stream.set_nodelay(true);
    let mut publisher = match RtmpPublisher::new(
        PublisherConfig::default(),
        &t.app,
        &t.key,
        &t.tc_url,
        host.now(),
    ) {
        Ok(p) => p,
        Err(e) => return Turn::Failed(format!("RTMP: {e}")),
    };
    let hello = publisher.take_output();
    if let Err(e) = stream.write_all(&hello).await {
        return Turn::Failed(format!("write to {addr}: {e}"));
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut reader = None;
    let mut flv = TsToFlv::new();
    let mut chunks = VecDeque::new();
    let mut tags: Vec<FlvTag> = Vec::new();
    let mut delivered = false;
    loop {
        if stop.get() {
            let bye = publisher.finish();
            let _ = stream.write_all(&bye).await;
            return Turn::Stopped;
        }
        let now = host.now();
        let mut wait = TICK;
        if let Some(d) = publisher.deadline() {
            wait = wait.min(
                d.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        let _ = stream.set_read_timeout(Some(wait));
        match stream.read(&mut buf).await {
            Ok(0) => publisher.handle_eof(),
            Ok(n) => match publisher.handle_input(&buf[..n], host.now()) {
                Ok(reply) => {
                    if !reply.is_empty()
                        && let Err(e) = stream.write_all(&reply).await
                    {
                        return Turn::Failed(format!("write to {addr}: {e}"));
                    }
                }
                Err(e) => return Turn::Failed(format!("RTMP from the server: {e}")),
            },
            Err(e) if timed_out(&e) => {}
            Err(e) => return Turn::Failed(format!("read from {addr}: {e}")),
        }
        if let Err(e) = publisher.on_timeout(host.now()) {
            return Turn::Failed(format!("RTMP: {e}"));
        }
        while let Some(ev) = publisher.poll_event() {
            match ev {
                PublisherEvent::Connected => {}
                PublisherEvent::Publishing => {
                    let Some(body) = host.open_feed(&cfg.stream) else {
                        let bye = publisher.finish();
                        let _ = stream.write_all(&bye).await;
                        return Turn::StreamEnded;
                    };
                    reader = Some(body);
                    let mut st = status.borrow_mut();
                    st.connects += 1;
                    st.state = "live";
                    info!("output {:?} -> {t}: publishing", cfg.stream);
                }
                PublisherEvent::Refused(why) => {
                    return Turn::Failed(format!("the server refused the publish: {why}"));
                }
                PublisherEvent::Closed(why) => {
                    return Turn::Failed(if reader.is_some() {
                        format!("connection lost: {why}")
                    } else {
                        format!("closed before publishing: {why}")
                    });
                }
            }
        }
        let Some(body) = &reader else {
            continue;
        };
        let finished = body.take(TAKE, std::task::Waker::noop(), &mut chunks);
        for c in chunks.drain(..) {
            flv.push(c.bytes(), &mut tags);
        }
        if finished {
            flv.flush(&mut tags);
        }
        let (mut sent, mut bytes) = (0u64, 0u64);
        for tag in tags.drain(..) {
            match publisher.send_tag(&tag, host.now()) {
                Ok(out) => {
                    if let Err(e) = stream.write_all(&out).await {
                        return Turn::Failed(format!("write to {addr}: {e}"));
                    }
                    sent += 1;
                    bytes += out.len() as u64;
                }
                Err(crate::rtmp::PublisherError::BadTag(_)) => {
                    status.borrow_mut().dropped_packets += 1;
                }
                Err(e) => return Turn::Failed(format!("RTMP: {e}")),
            }
        }
        if sent > 0 && !delivered {
            delivered = true;
            backoff.delivered();
        }
        {
            let mut st = status.borrow_mut();
            st.packets += sent;
            st.bytes += bytes;
        }
        if finished {
            let bye = publisher.finish();
            if let Err(e) = stream.write_all(&bye).await {
                warn!("output {:?} -> {t}: {e}", cfg.stream);
            }
            return Turn::StreamEnded;
        }
    }
}
