//! TS packet header fields as checked accessors on whole 188-byte packets.
//!
//! Owns: the 4-byte header (ISO/IEC 13818-1 §2.4.3.2) and the adaptation field's framing
//! (§2.4.3.4): where the payload starts, the field's flag byte.
//! Must not: interpret payloads (PSI is `psi`, PES is `pes`), allocate, or panic on any bytes.

#![deny(clippy::disallowed_methods)]

use super::ts::TS_PACKET_LEN;

/// One whole TS packet.
pub type TsPacket = [u8; TS_PACKET_LEN];

/// PID of the Program Association Table (§2.4.4.3, Table 2-3).
pub const PAT_PID: u16 = 0x0000;
/// PID of null (stuffing) packets (§2.4.3.3, Table 2-3).
pub const NULL_PID: u16 = 0x1FFF;

/// The 13-bit PID: byte 1 bits 4..0 and byte 2.
pub fn pid(pkt: &TsPacket) -> u16 {
    u16::from_be_bytes([pkt[1] & 0x1F, pkt[2]])
}

/// `payload_unit_start_indicator` (byte 1, 0x40): a PES packet or a PSI section starts here.
pub fn pusi(pkt: &TsPacket) -> bool {
    pkt[1] & 0x40 != 0
}

/// `transport_error_indicator` (byte 1, 0x80): a demodulator marked the packet as damaged.
pub fn transport_error(pkt: &TsPacket) -> bool {
    pkt[1] & 0x80 != 0
}

/// `continuity_counter` (byte 3 bits 3..0); it advances only on packets that carry a payload.
pub fn continuity_counter(pkt: &TsPacket) -> u8 {
    pkt[3] & 0x0F
}

/// `adaptation_field_control` bit 4: the packet carries a payload.
pub fn has_payload(pkt: &TsPacket) -> bool {
    pkt[3] & 0x10 != 0
}

/// The adaptation field after its length byte (flags first), or `None` when there is none,
/// it is empty (a single stuffing byte, §2.4.3.5), or its length runs past the packet.
pub fn adaptation_field(pkt: &TsPacket) -> Option<&[u8]> {
    if pkt[3] & 0x20 == 0 {
        return None;
    }
    let len = pkt[4] as usize;
    if len == 0 {
        return None;
    }
    pkt.get(5..5 + len)
}

/// The payload bytes, or `None` when the packet has none or its adaptation field is malformed.
///
/// §2.4.3.5: with a payload the field is 0..=182 bytes long; without one it is exactly 183.
/// `adaptation_field_control` 00 is reserved and such packets are to be discarded.
pub fn payload(pkt: &TsPacket) -> Option<&[u8]> {
    match pkt[3] & 0x30 {
        0x10 => Some(&pkt[4..]),
        0x30 => {
            let start = 5 + pkt[4] as usize;
            // An empty payload after a 183-byte field is no payload.
            if start >= TS_PACKET_LEN {
                None
            } else {
                Some(&pkt[start..])
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(head: &[u8]) -> TsPacket {
        let mut p = [0xFF; TS_PACKET_LEN];
        p[..head.len()].copy_from_slice(head);
        p
    }

    #[test]
    fn header_fields() {
        let p = pkt(&[0x47, 0x41, 0x00, 0x37]);
        assert_eq!(pid(&p), 0x100);
        assert!(pusi(&p));
        assert!(!transport_error(&p));
        assert_eq!(continuity_counter(&p), 7);
        assert!(has_payload(&p));
        assert_eq!(pid(&pkt(&[0x47, 0xFF, 0xFF, 0x10])), NULL_PID);
        assert!(transport_error(&pkt(&[0x47, 0x80, 0x00, 0x10])));
    }

    #[test]
    fn payload_after_adaptation_field() {
        let only = pkt(&[0x47, 0x40, 0x00, 0x10, 0xAB]);
        assert_eq!(payload(&only).map(|p| (p.len(), p[0])), Some((184, 0xAB)));
        let with_af = pkt(&[0x47, 0x40, 0x00, 0x30, 0x01, 0x40, 0xCD]);
        assert_eq!(
            payload(&with_af).map(|p| (p.len(), p[0])),
            Some((182, 0xCD))
        );
        assert_eq!(adaptation_field(&with_af), Some(&[0x40][..]));
        let mut full = with_af;
        full[4] = 183;
        assert_eq!(payload(&full), None, "no room left for a payload");
        full[4] = 255;
        assert_eq!(payload(&full), None);
        assert_eq!(adaptation_field(&full), None, "length past the end");
        assert_eq!(payload(&pkt(&[0x47, 0x40, 0x00, 0x20, 183])), None);
        assert_eq!(payload(&pkt(&[0x47, 0x40, 0x00, 0x00])), None, "reserved");
        assert_eq!(adaptation_field(&pkt(&[0x47, 0x40, 0x00, 0x30, 0])), None);
    }
}
