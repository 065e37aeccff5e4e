//! Connection statistics with libsrt's names (docs/API/statistics.md), snake_cased:
//! `pkt_snd_loss` is `pktSndLoss`, `ms_rtt` is `msRTT`. Totals since the connection started.

/// Counters are cumulative; gauges (`ms_rtt`, buffers, window) are filled in by
/// `Connection::stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Data packets sent, originals and retransmissions (`pktSent`).
    pub pkt_sent: u64,
    /// Data packets received, including duplicates and belated ones (`pktRecv`).
    pub pkt_recv: u64,
    /// Packets the peer reported lost in NAKs (`pktSndLoss`).
    pub pkt_snd_loss: u64,
    /// Packets detected missing by sequence gaps (`pktRcvLoss`).
    pub pkt_rcv_loss: u64,
    /// Retransmitted packets sent (`pktRetrans`).
    pub pkt_retrans: u64,
    /// NAKed packets not retransmitted because the retransmission budget was spent
    /// (`srt.retransmit_overhead_percent`): dropped from the queue, not deferred.
    pub pkt_retrans_capped: u64,
    /// NAKed packets not retransmitted because they were resent less than max(RTT, 10 ms)
    /// ago (libsrt's reduced retransmission: the NAK predates the retransmission).
    pub pkt_retrans_suppressed: u64,
    /// Retransmitted packets received (`pktRcvRetrans`).
    pub pkt_rcv_retrans: u64,
    pub pkt_sent_ack: u64,
    pub pkt_recv_ack: u64,
    pub pkt_sent_nak: u64,
    pub pkt_recv_nak: u64,
    pub pkt_sent_ackack: u64,
    pub pkt_recv_ackack: u64,
    /// Control packets of any type.
    pub pkt_sent_ctrl: u64,
    pub pkt_recv_ctrl: u64,
    /// Packets the sender dropped as too late, never or no longer deliverable (`pktSndDrop`).
    pub pkt_snd_drop: u64,
    /// Packets the receiver gave up on: too-late drop and DROPREQ (`pktRcvDrop`).
    pub pkt_rcv_drop: u64,
    /// Packets that arrived after their slot was delivered or dropped (`pktRcvBelated`).
    pub pkt_rcv_belated: u64,
    /// Packets received twice while still buffered.
    pub pkt_rcv_duplicate: u64,
    /// Packets that did not fit the receive buffer.
    pub pkt_rcv_overflow: u64,
    /// Packets the application offered while the send buffer was full.
    pub pkt_snd_overflow: u64,
    /// Packets that could not be decrypted (`pktRcvUndecrypt`).
    pub pkt_rcv_undecrypt: u64,
    /// Key refreshes we started on our sending key: new keys pre-announced in a KMREQ.
    pub km_refresh_sent: u64,
    /// In-band KMREQs from the peer whose keys we installed (its refreshes).
    pub km_refresh_recv: u64,
    /// Payload bytes (`byteSent`, `byteRecv`, ...).
    pub byte_sent: u64,
    pub byte_recv: u64,
    pub byte_retrans: u64,
    pub byte_snd_drop: u64,
    /// Wire bytes of control packets.
    pub byte_sent_ctrl: u64,
    pub byte_recv_ctrl: u64,
    /// Smoothed RTT and its variance in milliseconds (`msRTT`).
    pub ms_rtt: f64,
    pub ms_rtt_var: f64,
    /// Packets and milliseconds held in the buffers (`pktSndBuf`, `msSndBuf`, ...).
    pub pkt_snd_buf: u64,
    pub ms_snd_buf: u64,
    pub pkt_rcv_buf: u64,
    pub ms_rcv_buf: u64,
    /// Peer's flow window as last reported (`pktFlowWindow`).
    pub pkt_flow_window: u64,
    /// Negotiated latencies (`msRcvTsbPdDelay`, `msSndTsbPdDelay`).
    pub ms_rcv_tsbpd_delay: u64,
    pub ms_snd_tsbpd_delay: u64,
    /// Pacing limit in Mbit/s (`mbpsMaxBW`).
    pub mbps_max_bw: f64,
    /// Measured sending input rate in Mbit/s: the INPUT_BW estimate live CC paces from
    /// (draft §5.1); 0 until the first 500 ms window closes. A connection that sends no data
    /// (a relay's publisher leg) reports its payload receive rate instead.
    pub mbps_input_bw: f64,
}
