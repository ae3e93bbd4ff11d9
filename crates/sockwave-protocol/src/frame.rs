//! `Frame`: one serialised text frame, built once and shared by every recipient.

use std::fmt;

use bytes::Bytes;

/// A serialised text frame (valid UTF-8: it is built from a `String`), shared by every
/// recipient of a broadcast. Cloning is a reference-count increment, not a copy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Frame(Bytes);

impl Frame {
    /// The frame's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a frame is built from a String")
    }

    /// The frame's bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The shared bytes (another reference, not a copy).
    pub fn bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// The shared bytes, borrowed: every clone of this frame points at the same ones.
    pub fn as_shared(&self) -> &Bytes {
        &self.0
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Frame {
        Frame(Bytes::from(text))
    }
}

impl From<&'static str> for Frame {
    fn from(text: &'static str) -> Frame {
        Frame(Bytes::from_static(text.as_bytes()))
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_bytes() {
        let frame = Frame::from(String::from(r#"{"event":"e"}"#));
        let copy = frame.clone();
        assert_eq!(copy.bytes().as_ptr(), frame.bytes().as_ptr());
        assert_eq!((copy.as_str(), copy.len()), (r#"{"event":"e"}"#, 13));
    }
}
