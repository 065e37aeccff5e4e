//! Checked big-endian field access shared by the packet parsers (smoltcp `wire` style).
//!
//! Owns: bounds-checked reads that return `ParseError::Truncated` instead of panicking, writes
//! into buffers whose length the caller has already checked, and the header field offsets.
//! Must not: know any packet's semantics.

use super::{EmitError, HEADER_LEN, ParseError};

/// Byte offsets of the 16-byte common header (draft-sharabayko-srt §3).
pub(super) mod header {
    /// Data: F bit + sequence number. Control: F bit, control type, subtype.
    pub const WORD0: usize = 0;
    /// Data: PP, O, KK, R, message number. Control: type-specific information.
    pub const WORD1: usize = 4;
    pub const TIMESTAMP: usize = 8;
    pub const DEST_SOCKET_ID: usize = 12;
}

/// Bit 31 of the first word: 1 for control packets (draft §3); also the "range start" marker in
/// loss lists (Appendix A).
pub(super) const TOP_BIT: u32 = 0x8000_0000;

/// Reads the big-endian `u32` at `at`, or `Truncated` when `buf` is too short.
pub(super) fn be_u32(buf: &[u8], at: usize) -> Result<u32, ParseError> {
    let end = at.checked_add(4).ok_or(ParseError::Truncated)?;
    buf.get(at..end)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or(ParseError::Truncated)
}

/// Reads the big-endian `u16` at `at`, or `Truncated` when `buf` is too short.
pub(super) fn be_u16(buf: &[u8], at: usize) -> Result<u16, ParseError> {
    let end = at.checked_add(2).ok_or(ParseError::Truncated)?;
    buf.get(at..end)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes)
        .ok_or(ParseError::Truncated)
}

/// Returns `buf[at..at + len]`, or `Truncated`.
pub(super) fn bytes(buf: &[u8], at: usize, len: usize) -> Result<&[u8], ParseError> {
    let end = at.checked_add(len).ok_or(ParseError::Truncated)?;
    buf.get(at..end).ok_or(ParseError::Truncated)
}

/// Fails with `BufferTooSmall` unless `buf` holds `needed` bytes. Every emitter calls this
/// with its full `wire_len` before writing, which is what makes the `put_*` writes in-bounds.
pub(super) fn ensure_room(buf: &[u8], needed: usize) -> Result<(), EmitError> {
    if buf.len() < needed {
        Err(EmitError::BufferTooSmall { needed })
    } else {
        Ok(())
    }
}

/// Writes `v` big-endian at `at`. The caller has checked the room with `ensure_room`.
pub(super) fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

pub(super) fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes the last three header words (the first is type-specific to data or control).
pub(super) fn put_header_tail(buf: &mut [u8], word1: u32, timestamp: u32, dest_socket_id: u32) {
    put_u32(buf, header::WORD1, word1);
    put_u32(buf, header::TIMESTAMP, timestamp);
    put_u32(buf, header::DEST_SOCKET_ID, dest_socket_id);
}

/// Splits a datagram into its four header words and the rest; `Truncated` when shorter than a
/// header.
pub(super) fn split_header(buf: &[u8]) -> Result<([u32; 4], &[u8]), ParseError> {
    let words = [
        be_u32(buf, header::WORD0)?,
        be_u32(buf, header::WORD1)?,
        be_u32(buf, header::TIMESTAMP)?,
        be_u32(buf, header::DEST_SOCKET_ID)?,
    ];
    let rest = buf.get(HEADER_LEN..).ok_or(ParseError::Truncated)?;
    Ok((words, rest))
}
