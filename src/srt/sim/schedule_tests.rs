//! The endpoint's deadline heap, ready queue and closed queue on virtual time: a deadline that
//! moves, a close reported once, and 10 000 idle connections whose timers cost only what is
//! due (counted in `EndpointStats::timer_visits`, never timed).

use std::time::{Duration, Instant};

use super::endpoints::Net;
use super::link::LinkConfig;
use super::t0;
use crate::srt::connection::CloseReason;
use crate::srt::endpoint::{ConnId, Endpoint, EndpointConfig, EndpointEvent};
use crate::srt::handshake::{CallerConfig, Listener, ListenerConfig};
use crate::srt::seq::SeqNo;

const MS: Duration = Duration::from_millis(1);

fn net() -> Net {
    let link = LinkConfig {
        delay: MS,
        ..LinkConfig::default()
    };
    Net::new(t0(), link.clone(), link, ListenerConfig::default(), 11)
}

/// Starts `n` callers, 100 per millisecond (so their timers are spread out as real arrivals'
/// are), and runs until the listener accepted them all; their listener-side ids.
fn accept_n(net: &mut Net, n: usize) -> Vec<ConnId> {
    for i in 0..n {
        let mut c = CallerConfig::new(0, SeqNo::new(0), net.listener_addr());
        c.stream_id = Some("idle".into());
        net.caller.connect(net.now, c).expect("valid caller config");
        if i % 100 == 99 {
            net.run_for(MS);
        }
    }
    net.run_for(200 * MS);
    let ids: Vec<ConnId> = net
        .listener_events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Accepted { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), n, "every caller accepted");
    ids
}

/// Connections of `ep` with a deadline at or before `t`, found the slow way.
fn due_by_scan(ep: &Endpoint, t: Instant) -> u64 {
    ep.connection_ids()
        .filter(|&id| {
            ep.connection(id)
                .and_then(|c| c.poll_timeout())
                .is_some_and(|d| d <= t)
        })
        .count() as u64
}

#[test]
fn send_moves_the_deadline_earlier_and_draining_moves_it_back() {
    let mut net = net();
    let id = accept_n(&mut net, 1)[0];
    net.run_for(50 * MS);
    let idle = net
        .listener
        .poll_timeout()
        .expect("an open connection has timers");
    assert!(idle > net.now, "nothing due after a run");
    net.listener
        .send(id, net.now, b"payload")
        .expect("open connection");
    // Data to send is due at once (pacing allows it since the last send), not at the idle
    // deadline.
    let busy = net.listener.poll_timeout().expect("data to send");
    assert!(busy <= net.now, "{busy:?} after {:?}", net.now);
    let mut buf = [0u8; 1500];
    let t = net
        .listener
        .poll_transmit(net.now, &mut buf)
        .expect("the data packet");
    assert_eq!(
        t.to,
        super::endpoints::CALLER_ADDR.parse().expect("literal")
    );
    assert_eq!(t.local_socket, 0);
    assert!(net.listener.poll_transmit(net.now, &mut buf).is_none());
    let after = net.listener.poll_timeout().expect("timers");
    assert!(
        after > net.now,
        "drained: the deadline moved later again: {after:?} {:?}",
        net.now
    );
    // The stale "now" entry is never a visit of its own.
    let visits = net.listener.stats().timer_visits;
    net.listener.handle_timeout(net.now);
    assert_eq!(net.listener.stats().timer_visits, visits);
}

#[test]
fn a_closed_connection_is_reported_once_and_forgotten() {
    let mut net = net();
    let ids = accept_n(&mut net, 3);
    net.listener.close(ids[1]);
    net.listener.close(ids[1]);
    net.run_for(100 * MS);
    let closes: Vec<(ConnId, CloseReason)> = net
        .listener_events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Closed { id, reason, .. } => Some((*id, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(closes, vec![(ids[1], CloseReason::Local)]);
    assert!(net.listener.connection(ids[1]).is_none());
    net.run_for(2000 * MS);
    assert!(net.listener.poll_event().is_none());
    let closed_later = net
        .listener_events
        .iter()
        .filter(|e| matches!(e, EndpointEvent::Closed { .. }))
        .count();
    assert_eq!(closed_later, 1, "the other two stay open on keepalives");
    assert_eq!(net.listener.connection_ids().count(), 2);
}

#[test]
fn ten_thousand_idle_connections_cost_only_their_due_timers() {
    const N: usize = 10_000;
    let mut net = net();
    accept_n(&mut net, N);
    net.run_for(1000 * MS);
    let before = net.listener.stats().timer_visits;
    let secs = 3;
    net.run_for(Duration::from_secs(secs));
    let visits = net.listener.stats().timer_visits - before;
    // Per idle connection and second: a keepalive and two rate samples (the ACK and NAK
    // timers are parked: keepalives give them nothing to do). A 1 ms scan would be 1000.
    let per_conn_s = visits as f64 / (N as f64 * secs as f64);
    eprintln!("{visits} timer visits: {per_conn_s:.2} per idle connection and second");
    assert!(
        (1.5..=4.0).contains(&per_conn_s),
        "{visits} visits: {per_conn_s:.2} per connection and second"
    );
    // One wake-up at the next deadline visits exactly the connections due then.
    let next = net.listener.poll_timeout().expect("timers");
    let due = due_by_scan(&net.listener, next);
    assert!((1..=N as u64 / 10).contains(&due), "{due} due at once");
    let before = net.listener.stats().timer_visits;
    net.listener.handle_timeout(next);
    assert_eq!(net.listener.stats().timer_visits - before, due);
    // Nobody closed: keepalives hold every connection open.
    assert_eq!(net.listener.connection_ids().count(), N);
}

/// Wake-ups (1 ms steps in which the listener visited any timer) over 2 s of 2000 idle
/// connections, with the listener's coarse timers on a `slack` grid.
fn wakeups_with_slack(slack: Duration) -> (u64, usize) {
    let mut net = net();
    let cfg = EndpointConfig {
        timer_slack: slack,
        ..EndpointConfig::default()
    };
    let listener = Listener::new([3; 16], net.now, ListenerConfig::default());
    net.listener = Endpoint::new(cfg, Some(listener), net.now);
    accept_n(&mut net, 2000);
    net.run_for(1000 * MS);
    let mut wakeups = 0;
    for _ in 0..2000 {
        let before = net.listener.stats().timer_visits;
        net.run_for(MS);
        if net.listener.stats().timer_visits > before {
            wakeups += 1;
        }
    }
    (wakeups, net.listener.connection_ids().count())
}

#[test]
fn timer_slack_makes_idle_connections_share_wake_ups() {
    let (exact, open_exact) = wakeups_with_slack(Duration::ZERO);
    let (coalesced, open_coalesced) = wakeups_with_slack(10 * MS);
    eprintln!("wake-ups in 2 s: {exact} exact, {coalesced} on a 10 ms grid");
    // 2000 connections accepted over 20 ms: exact, their keepalives and rate samples wake the
    // listener in ~20 different milliseconds per round; on a 10 ms grid in two or three. (At
    // most one wake-up per grid step in any case: 200 in 2 s.)
    assert!(coalesced <= 200, "{coalesced}");
    assert!(coalesced * 3 <= exact, "{coalesced} vs {exact}");
    // Late by at most 10 ms, keepalives still hold every connection open.
    assert_eq!((open_exact, open_coalesced), (2000, 2000));
}
