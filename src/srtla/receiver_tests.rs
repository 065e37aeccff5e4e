//! The receiver on virtual time: registration, links, ACKs, routing, expiry, caps.

use super::*;
use crate::srtla::packet::{ACK, KEEPALIVE, REG_NAK, REG2, emit_reg1};

/// The origin of virtual time.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, (n % 250) as u8 + 1], 40_000 + n))
}

fn rx(max_groups: usize, max_links: usize) -> Receiver {
    let cfg = ReceiverConfig {
        max_groups,
        max_links_per_group: max_links,
        ..ReceiverConfig::default()
    };
    Receiver::new(cfg, [9; 32])
}

fn drain(r: &mut Receiver) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(t) = r.poll_transmit(&mut buf) {
        out.push((t.to, buf[..t.len].to_vec()));
    }
    out
}

fn reg1(id_byte: u8) -> [u8; REG_LEN] {
    let mut b = [0u8; REG_LEN];
    emit_reg1(&[id_byte; ID_LEN], &mut b);
    b
}

fn reg2(id: &[u8]) -> Vec<u8> {
    let mut b = REG2.to_be_bytes().to_vec();
    b.extend_from_slice(id);
    b
}

fn srt_data(seq: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16 + 188];
    b[..4].copy_from_slice(&seq.to_be_bytes());
    b
}

fn srt_control(ty: u16) -> Vec<u8> {
    let mut b = vec![0u8; 44];
    b[..2].copy_from_slice(&ty.to_be_bytes());
    b
}

/// Registers a group from `links[0]` and joins every link; returns its handle and full id.
fn register(
    r: &mut Receiver,
    now: Instant,
    links: &[SocketAddr],
    id_byte: u8,
) -> (GroupHandle, Vec<u8>) {
    assert_eq!(
        r.handle_datagram(now, links[0], &reg1(id_byte)),
        Handled::Done
    );
    let replies = drain(r);
    assert_eq!(replies.len(), 1);
    let (to, reply) = &replies[0];
    assert_eq!(*to, links[0]);
    assert_eq!(packet::packet_type(reply), Some(REG2));
    let id = reply[2..].to_vec();
    assert_eq!(&id[..128], &[id_byte; 128][..], "the sender's half is kept");
    for &l in links {
        r.handle_datagram(now, l, &reg2(&id));
        let replies = drain(r);
        assert_eq!(replies, vec![(l, REG3.to_be_bytes().to_vec())]);
    }
    let handle = match r.poll_event() {
        Some(Event::GroupCreated { group, by }) => {
            assert_eq!(by, links[0]);
            group
        }
        other => panic!("{other:?}"),
    };
    while r.poll_event().is_some() {}
    (handle, id)
}

#[test]
fn registration_makes_a_group_that_every_link_joins_and_data_is_forwarded() {
    let t0 = origin();
    let mut r = rx(10, 4);
    let links = [addr(1), addr(2), addr(3)];
    let (g, id) = register(&mut r, t0, &links, 0xAB);
    // Our half is random: another group from the same sender half differs there.
    let (_, id2) = register(&mut r, t0, &[addr(9)], 0xAB);
    assert_ne!(id[128..], id2[128..]);
    assert_eq!(r.counters().links, 4);
    assert_eq!(r.counters().groups, 2);
    for (i, &l) in links.iter().enumerate() {
        assert_eq!(
            r.handle_datagram(t0, l, &srt_data(i as u32)),
            Handled::Forward(g)
        );
    }
    // Anyone else's SRT packets are not forwarded and get no answer.
    assert_eq!(r.handle_datagram(t0, addr(77), &srt_data(5)), Handled::Done);
    assert!(drain(&mut r).is_empty());
    let c = r.counters();
    assert_eq!((c.packets_in, c.unknown_source), (3, 1));
    // The reference's REG2 for the same address again is a confirmation, not a second link.
    r.handle_datagram(t0, links[1], &reg2(&id));
    assert_eq!(drain(&mut r).len(), 1);
    assert_eq!(r.stats(t0)[0].links.len(), 3);
}

#[test]
fn keepalives_are_echoed_whole_to_their_link() {
    let t0 = origin();
    let mut r = rx(10, 4);
    let links = [addr(1), addr(2)];
    register(&mut r, t0, &links, 1);
    // Moblin's keepalives carry a timestamp it reads back for the link's RTT.
    let mut ka = KEEPALIVE.to_be_bytes().to_vec();
    ka.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    assert_eq!(r.handle_datagram(t0, links[1], &ka), Handled::Done);
    assert_eq!(drain(&mut r), vec![(links[1], ka.clone())]);
    // From a stranger: nothing.
    r.handle_datagram(t0, addr(50), &ka);
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.counters().keepalives, 1);
}

#[test]
fn every_tenth_data_packet_of_a_link_is_acknowledged_on_that_link() {
    let t0 = origin();
    let mut r = rx(10, 4);
    let links = [addr(1), addr(2)];
    register(&mut r, t0, &links, 1);
    let mut seq = 100u32;
    for _ in 0..9 {
        r.handle_datagram(t0, links[0], &srt_data(seq));
        seq += 1;
        // Control packets and the other link's data do not count toward link 0's ACK.
        r.handle_datagram(t0, links[0], &srt_control(SRT_ACK));
        r.handle_datagram(t0, links[1], &srt_data(5000 + seq));
    }
    assert!(drain(&mut r).is_empty());
    r.handle_datagram(t0, links[0], &srt_data(seq));
    let out = drain(&mut r);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, links[0]);
    assert_eq!(packet::packet_type(&out[0].1), Some(ACK));
    let acked: Vec<u32> = packet::parse_ack(&out[0].1).unwrap().collect();
    assert_eq!(acked, (100..110).collect::<Vec<_>>());
    r.handle_datagram(t0, links[1], &srt_data(1));
    let out = drain(&mut r);
    assert_eq!(out.len(), 1, "link 1's tenth");
    assert_eq!(out[0].0, links[1]);
    assert_eq!(r.counters().srtla_acks, 2);
}

#[test]
fn acks_and_naks_go_to_every_link_the_rest_to_the_last_one_used() {
    let t0 = origin();
    let mut r = rx(10, 4);
    let links = [addr(1), addr(2), addr(3)];
    let (g, _) = register(&mut r, t0, &links, 1);
    r.handle_datagram(t0, links[2], &srt_data(1));
    r.handle_datagram(t0, links[1], &srt_data(2));
    let mut to = Vec::new();
    r.route_upstream(g, &srt_control(SRT_ACK), &mut to);
    to.sort();
    assert_eq!(to, links.to_vec());
    r.route_upstream(g, &srt_control(SRT_NAK), &mut to);
    assert_eq!(to.len(), 3);
    // Handshake answers, keepalives, data: the last link an SRT packet came on.
    r.route_upstream(g, &srt_control(0x8000), &mut to);
    assert_eq!(to, vec![links[1]]);
    r.route_upstream(g, &srt_data(7), &mut to);
    assert_eq!(to, vec![links[1]]);
    r.route_upstream(GroupHandle(999), &srt_control(SRT_ACK), &mut to);
    assert!(to.is_empty());
    let c = r.counters();
    assert_eq!((c.packets_out, c.upstream_unrouted), (8, 1));
}

#[test]
fn a_silent_link_expires_and_a_group_without_links_after_it() {
    let t0 = origin();
    let mut r = rx(10, 4);
    let links = [addr(1), addr(2)];
    let (g, _) = register(&mut r, t0, &links, 1);
    let lt = ReceiverConfig::default().link_timeout;
    let gt = ReceiverConfig::default().group_timeout;
    // Link 1 keeps talking, link 0 goes silent.
    let mut now = t0;
    while now < t0 + lt + Duration::from_secs(1) {
        now += Duration::from_millis(500);
        r.handle_datagram(now, links[1], &srt_data(1));
        if r.poll_timeout().is_some_and(|d| d <= now) {
            r.handle_timeout(now);
        }
    }
    assert_eq!(
        r.poll_event(),
        Some(Event::LinkExpired {
            group: g,
            addr: links[0]
        })
    );
    assert!(!r.is_link(links[0]));
    assert!(r.is_link(links[1]));
    // Its data is a stranger's now; its REG2 would register it again.
    assert_eq!(
        r.handle_datagram(now, links[0], &srt_data(2)),
        Handled::Done
    );
    // Then link 1 stops too: it goes after the link timeout, the group after the group's.
    let last = now;
    let mut closed = None;
    while closed.is_none() {
        now = r.poll_timeout().expect("something is pending");
        assert!(
            now <= last + lt + gt + Duration::from_millis(1),
            "{:?}",
            now - last
        );
        r.handle_timeout(now);
        while let Some(e) = r.poll_event() {
            if let Event::GroupClosed { group, why } = e {
                closed = Some((group, why, now - last));
            }
        }
    }
    let (group, why, after) = closed.unwrap();
    assert_eq!((group, why), (g, CloseWhy::Expired));
    assert!(after >= lt + gt, "{after:?}");
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.counters().groups, 0);
    assert_eq!(r.counters().links, 0);
    assert_eq!(r.counters().links_expired, 2);
}

#[test]
fn a_group_nobody_joins_expires_after_the_group_timeout() {
    let t0 = origin();
    let mut r = rx(10, 4);
    r.handle_datagram(t0, addr(1), &reg1(3));
    drain(&mut r);
    let due = r.poll_timeout().unwrap();
    assert_eq!(due, t0 + ReceiverConfig::default().group_timeout);
    r.handle_timeout(due - Duration::from_millis(1));
    assert_eq!(r.counters().groups, 1);
    r.handle_timeout(due);
    assert_eq!(r.counters().groups, 0);
    assert_eq!(r.counters().groups_expired, 1);
}

#[test]
fn unknown_groups_get_ngp_and_the_wrong_half_is_not_a_group() {
    let t0 = origin();
    let mut r = rx(10, 4);
    let (_, id) = register(&mut r, t0, &[addr(1)], 5);
    // The sender's half right, ours wrong (one byte off, in the key and beyond it).
    for flip in [128usize, 200, 255, 0] {
        let mut bad = id.clone();
        bad[flip] ^= 1;
        r.handle_datagram(t0, addr(60), &reg2(&bad));
        assert_eq!(
            drain(&mut r),
            vec![(addr(60), REG_NGP.to_be_bytes().to_vec())]
        );
    }
    assert_eq!(r.counters().reg2_unknown_group, 4);
    assert!(!r.is_link(addr(60)));
}

#[test]
fn the_link_cap_refuses_with_reg_err_and_another_group_cannot_take_a_link() {
    let t0 = origin();
    let mut r = rx(10, 2);
    let (_, id) = register(&mut r, t0, &[addr(1), addr(2)], 5);
    r.handle_datagram(t0, addr(3), &reg2(&id));
    assert_eq!(
        drain(&mut r),
        vec![(addr(3), REG_ERR.to_be_bytes().to_vec())]
    );
    assert_eq!(r.counters().links_refused_limit, 1);
    let (_, id_b) = register(&mut r, t0, &[addr(10)], 6);
    r.handle_datagram(t0, addr(1), &reg2(&id_b));
    assert_eq!(
        drain(&mut r),
        vec![(addr(1), REG_ERR.to_be_bytes().to_vec())]
    );
    assert_eq!(r.counters().links_refused_other_group, 1);
    // A link may not open a second group either.
    r.handle_datagram(t0, addr(2), &reg1(7));
    assert_eq!(
        drain(&mut r),
        vec![(addr(2), REG_ERR.to_be_bytes().to_vec())]
    );
    assert_eq!(r.counters().reg1_refused_registered, 1);
}

#[test]
fn a_reg1_flood_evicts_groups_without_data_but_never_a_streaming_one() {
    let t0 = origin();
    let mut r = rx(4, 4);
    let (live, _) = register(&mut r, t0, &[addr(1), addr(2)], 1);
    r.handle_datagram(t0, addr(1), &srt_data(1));
    drain(&mut r);
    let mut now = t0;
    for i in 0..100u16 {
        now += Duration::from_millis(1);
        r.handle_datagram(now, addr(100 + i), &reg1(i as u8));
    }
    let c = r.counters();
    assert_eq!(c.groups, 4);
    assert_eq!(c.groups_created, 101);
    assert_eq!(c.groups_evicted, 97);
    assert!(r.stats(now).iter().any(|g| g.group == live));
    assert_eq!(
        r.handle_datagram(now, addr(2), &srt_data(2)),
        Handled::Forward(live)
    );
    // With every place taken by streaming groups, a REG1 is refused.
    let mut r = rx(1, 4);
    register(&mut r, t0, &[addr(1)], 1);
    r.handle_datagram(t0, addr(1), &srt_data(1));
    r.handle_datagram(t0, addr(5), &reg1(2));
    assert_eq!(
        drain(&mut r),
        vec![(addr(5), REG_ERR.to_be_bytes().to_vec())]
    );
    assert_eq!(r.counters().groups_refused_limit, 1);
}

#[test]
fn a_creator_registering_again_replaces_the_group_nobody_joined() {
    let t0 = origin();
    let mut r = rx(10, 4);
    r.handle_datagram(t0, addr(1), &reg1(1));
    let first = drain(&mut r).remove(0).1;
    r.handle_datagram(t0, addr(1), &reg1(1));
    let second = drain(&mut r).remove(0).1;
    assert_eq!(packet::packet_type(&second), Some(REG2));
    assert_ne!(first, second);
    assert_eq!(r.counters().groups, 1);
    assert_eq!(r.counters().groups_replaced, 1);
    // The first id is gone.
    r.handle_datagram(t0, addr(1), &reg2(&first[2..]));
    assert_eq!(drain(&mut r)[0].1, REG_NGP.to_be_bytes().to_vec());
    r.handle_datagram(t0, addr(1), &reg2(&second[2..]));
    assert_eq!(drain(&mut r)[0].1, REG3.to_be_bytes().to_vec());
}

#[test]
fn garbage_is_counted_and_answered_with_nothing() {
    let t0 = origin();
    let mut r = rx(10, 4);
    register(&mut r, t0, &[addr(1)], 1);
    let cases: [&[u8]; 6] = [
        &[],
        &[0x92],
        &[0x92, 0x00, 1, 2, 3],
        &REG3.to_be_bytes(),
        &REG_NAK.to_be_bytes(),
        &[0, 0, 0, 1, 2],
    ];
    for c in cases {
        assert_eq!(r.handle_datagram(t0, addr(1), c), Handled::Done);
        assert_eq!(r.handle_datagram(t0, addr(2), c), Handled::Done);
    }
    assert!(drain(&mut r).is_empty());
    let c = r.counters();
    assert_eq!(c.malformed, 6);
    assert_eq!(c.unknown_source, 6);
    assert_eq!(c.packets_in, 0);
}

#[test]
fn replies_are_bounded_when_nobody_drains() {
    let t0 = origin();
    let mut r = rx(10, 4);
    for i in 0..(MAX_PENDING_REPLIES as u16 + 10) {
        r.handle_datagram(t0, addr(i), &reg2(&[0u8; ID_LEN]));
    }
    assert_eq!(r.counters().replies_dropped, 10);
    assert_eq!(drain(&mut r).len(), MAX_PENDING_REPLIES);
    assert!(r.reply_bytes.is_empty());
}
