//! A non-allocating walk over an AMF0 message body (AMF0 spec §2), done before `rml_amf0`
//! decodes it.
//!
//! Owns: the shape facts the guard needs (how many top-level values, the first one if it is a
//! string) and the refusals that keep `rml_amf0`/`rml_rtmp` from harm: nesting deeper than
//! [`MAX_DEPTH`] (its decoder recurses per level: 8 MB of `0x03` would overflow the stack),
//! truncated values, markers it does not know.
//! Must not: build values. It accepts a subset of what `rml_amf0` accepts (never more), so a body
//! that passes here decodes there the same way.

/// Objects and arrays nested deeper than this are refused (real commands nest 2 levels).
pub const MAX_DEPTH: usize = 16;

/// What the guard learns from a body that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmfShape<'a> {
    /// Top-level values before the end of the body or a top-level object-end marker (where
    /// `rml_amf0::deserialize` stops too).
    pub values: usize,
    /// The first value, if it is a string: a command's name, or `@setDataFrame`.
    pub first_string: Option<&'a str>,
}

/// Why a body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmfRefusal {
    TooDeep,
    Truncated,
    UnknownMarker(u8),
    BadUtf8,
}

// AMF0 spec §2.1 markers (the ones rml_amf0 decodes).
const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;

pub fn check(body: &[u8]) -> Result<AmfShape<'_>, AmfRefusal> {
    let mut r = Reader { data: body, pos: 0 };
    let mut shape = AmfShape {
        values: 0,
        first_string: None,
    };
    while let Some(v) = value(&mut r, 0)? {
        if shape.values == 0 {
            shape.first_string = v;
        }
        shape.values += 1;
    }
    Ok(shape)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AmfRefusal> {
        let end = self.pos.checked_add(n).ok_or(AmfRefusal::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(AmfRefusal::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<usize, AmfRefusal> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<u32, AmfRefusal> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn utf8(&mut self, len: usize) -> Result<&'a str, AmfRefusal> {
        std::str::from_utf8(self.take(len)?).map_err(|_| AmfRefusal::BadUtf8)
    }
}

/// One value: `Ok(None)` at the end of input or an object-end marker (rml_amf0's `None`);
/// `Ok(Some(Some(s)))` for a string. Recursion is bounded by [`MAX_DEPTH`].
fn value<'a>(r: &mut Reader<'a>, depth: usize) -> Result<Option<Option<&'a str>>, AmfRefusal> {
    let Some(&marker) = r.data.get(r.pos) else {
        return Ok(None);
    };
    r.pos += 1;
    match marker {
        OBJECT_END => return Ok(None),
        NUMBER => drop(r.take(8)?),
        BOOLEAN => drop(r.take(1)?),
        STRING => {
            let len = r.u16()?;
            return Ok(Some(Some(r.utf8(len)?)));
        }
        NULL | UNDEFINED => {}
        OBJECT => object(r, depth + 1)?,
        ECMA_ARRAY => {
            r.u32()?; // the count is advisory: rml_amf0 reads it as an object
            object(r, depth + 1)?;
        }
        STRICT_ARRAY => {
            if depth + 1 > MAX_DEPTH {
                return Err(AmfRefusal::TooDeep);
            }
            // Each element consumes at least its marker byte, so a huge count ends at the body's end.
            for _ in 0..r.u32()? {
                if value(r, depth + 1)?.is_none() {
                    break;
                }
            }
        }
        other => return Err(AmfRefusal::UnknownMarker(other)),
    }
    Ok(Some(None))
}

/// Properties up to the empty name + object-end marker (AMF0 spec §2.5).
fn object(r: &mut Reader<'_>, depth: usize) -> Result<(), AmfRefusal> {
    if depth > MAX_DEPTH {
        return Err(AmfRefusal::TooDeep);
    }
    loop {
        let len = r.u16()?;
        if len == 0 {
            return match r.take(1)? {
                [OBJECT_END] => Ok(()),
                [other] => Err(AmfRefusal::UnknownMarker(*other)),
                _ => Err(AmfRefusal::Truncated),
            };
        }
        r.utf8(len)?;
        // A property whose value is missing or an object end: rml_amf0 errors; so do we.
        if value(r, depth)?.is_none() {
            return Err(AmfRefusal::Truncated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rml_rtmp::rml_amf0::{self, Amf0Value};
    use std::collections::HashMap;

    fn encode(values: &[Amf0Value]) -> Vec<u8> {
        rml_amf0::serialize(&values.to_vec()).expect("serializes")
    }

    #[test]
    fn a_connect_command_has_its_shape() {
        let mut obj = HashMap::new();
        obj.insert("app".to_string(), Amf0Value::Utf8String("live".into()));
        obj.insert("flashVer".to_string(), Amf0Value::Number(1.0));
        let body = encode(&[
            Amf0Value::Utf8String("connect".into()),
            Amf0Value::Number(1.0),
            Amf0Value::Object(obj),
            Amf0Value::StrictArray(vec![Amf0Value::Boolean(true), Amf0Value::Null]),
        ]);
        assert_eq!(
            check(&body),
            Ok(AmfShape {
                values: 4,
                first_string: Some("connect")
            })
        );
        // Whatever passes decodes in rml_amf0 to the same number of values.
        let decoded = rml_amf0::deserialize(&mut std::io::Cursor::new(&body)).expect("decodes");
        assert_eq!(decoded.len(), 4);
    }

    #[test]
    fn every_truncation_of_a_body_is_refused_or_shorter() {
        let mut obj = HashMap::new();
        obj.insert("k".to_string(), Amf0Value::Utf8String("value".into()));
        let body = encode(&[
            Amf0Value::Utf8String("publish".into()),
            Amf0Value::Number(5.0),
            Amf0Value::Object(obj),
        ]);
        for n in 0..body.len() {
            if let Ok(shape) = check(&body[..n]) {
                assert!(shape.values < 3, "prefix {n} counted {shape:?}");
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_before_rml_recurses() {
        let deep = vec![OBJECT; 1 << 20];
        assert_eq!(check(&deep), Err(AmfRefusal::TooDeep));
        let mut arrays = Vec::new();
        for _ in 0..100 {
            arrays.extend([STRICT_ARRAY, 0, 0, 0, 1]);
        }
        assert_eq!(check(&arrays), Err(AmfRefusal::TooDeep));
        // 16 levels of objects are fine.
        let mut ok = Vec::new();
        for _ in 0..MAX_DEPTH {
            ok.extend([OBJECT, 0, 1, b'a']);
        }
        ok.push(NULL);
        for _ in 0..MAX_DEPTH {
            ok.extend([0, 0, OBJECT_END]);
        }
        assert_eq!(check(&ok).map(|s| s.values), Ok(1));
    }

    #[test]
    fn unknown_markers_and_bad_strings_are_refused() {
        assert_eq!(check(&[0x11]), Err(AmfRefusal::UnknownMarker(0x11)));
        assert_eq!(check(&[STRING, 0, 2, 0xff, 0xfe]), Err(AmfRefusal::BadUtf8));
        assert_eq!(check(&[STRING, 0, 9, b'a']), Err(AmfRefusal::Truncated));
        // A top-level object end stops the walk, like rml_amf0.
        assert_eq!(check(&[NULL, OBJECT_END, 0x11]).map(|s| s.values), Ok(1));
    }
}
