//! The client side of SPDY/3.1 framing, as much as the Kubernetes remotecommand protocol needs:
//! open streams (SYN_STREAM), send data with or without FIN, answer PING, and read frames.
//!
//! Why SPDY and why by hand: the CRI streaming server of containerd 1.6 (and CRI-O's, both built
//! on kubelet's `cri/streaming` package) speaks remotecommand over SPDY/3.1 or WebSocket
//! (`v4.channel.k8s.io`). Only SPDY can half-close stdin: WebSocket channels got a close signal
//! only with `v5.channel.k8s.io` (Kubernetes 1.29), which those servers do not have, so an exec
//! fed stdin over WebSocket never sees EOF. No maintained Rust crate speaks SPDY, and the part
//! needed is small: the framing below, with its layout from the SPDY/3 draft.
//!
//! Header blocks are zlib streams shared by all frames of one direction. The client writes its
//! blocks as zlib *stored* (uncompressed) deflate blocks without the SPDY dictionary: a valid
//! zlib stream that any inflater reads (Go's zlib reader asks for the dictionary only when the
//! stream's header says it was used). The server's header blocks are skipped unread: nothing in
//! a SYN_REPLY matters here.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// SPDY version in control frames.
const VERSION: u16 = 3;
/// Control frame types.
pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;
/// FLAG_FIN: the sender is done with the stream.
pub const FLAG_FIN: u8 = 0x01;
/// The largest frame payload (24-bit length).
pub const MAX_PAYLOAD: usize = 0x00ff_ffff;
/// The largest frame this client reads: the server's data frames are at most 32 KiB (its copy
/// buffer), its control frames small; anything larger is a protocol error, not a buffer to grow.
pub const MAX_READ_PAYLOAD: usize = 1 << 20;

/// A frame as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A data frame of a stream.
    Data { stream: u32, fin: bool, data: Bytes },
    /// A control frame: its type, flags and payload.
    Control { kind: u16, flags: u8, payload: Bytes },
}

impl Frame {
    /// The stream a control frame is about (SYN_REPLY, RST_STREAM: the first 31 bits), if any.
    pub fn control_stream(&self) -> Option<u32> {
        match self {
            Frame::Control { kind: SYN_REPLY | RST_STREAM, payload, .. } if payload.len() >= 4 => {
                Some(u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff)
            }
            _ => None,
        }
    }
}

/// Takes one whole frame off the front of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Frame>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let length = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
    if length > MAX_READ_PAYLOAD {
        return Err(format!("SPDY frame of {length} bytes is over the {MAX_READ_PAYLOAD}-byte limit"));
    }
    if buf.len() < 8 + length {
        return Ok(None);
    }
    let control = buf[0] & 0x80 != 0;
    let mut head = buf.split_to(8);
    let payload = buf.split_to(length).freeze();
    if control {
        let version = head.get_u16() & 0x7fff;
        if version != VERSION {
            return Err(format!("SPDY version {version}, expected {VERSION}"));
        }
        let kind = head.get_u16();
        let flags = head.get_u8();
        Ok(Some(Frame::Control { kind, flags, payload }))
    } else {
        let stream = head.get_u32() & 0x7fff_ffff;
        let flags = head.get_u8();
        Ok(Some(Frame::Data { stream, fin: flags & FLAG_FIN != 0, data: payload }))
    }
}

/// A data frame; `data` must fit one frame (callers split at [`MAX_PAYLOAD`]).
pub fn data(stream: u32, data: &[u8], fin: bool) -> Vec<u8> {
    debug_assert!(data.len() <= MAX_PAYLOAD);
    let mut out = Vec::with_capacity(8 + data.len());
    out.put_u32(stream & 0x7fff_ffff);
    out.put_u8(if fin { FLAG_FIN } else { 0 });
    put_u24(&mut out, data.len());
    out.extend_from_slice(data);
    out
}

/// The reply to a PING: the same frame back.
pub fn ping_reply(payload: &[u8]) -> Vec<u8> {
    control(PING, 0, payload)
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u8(flags);
    put_u24(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

fn put_u24(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("frame length fits 24 bits");
    out.extend_from_slice(&n.to_be_bytes()[1..]);
}

/// The client's header compressor: one zlib stream of stored blocks across every SYN_STREAM.
#[derive(Debug, Default)]
pub struct HeaderWriter {
    started: bool,
}

impl HeaderWriter {
    /// A SYN_STREAM opening `stream` with `headers` (names lower-case, as SPDY/3 wants).
    pub fn syn_stream(&mut self, stream: u32, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        block.put_u32(u32::try_from(headers.len()).expect("few headers"));
        for (name, value) in headers {
            for part in [name.as_bytes(), value.as_bytes()] {
                block.put_u32(u32::try_from(part.len()).expect("short header"));
                block.extend_from_slice(part);
            }
        }
        let mut payload = Vec::new();
        payload.put_u32(stream & 0x7fff_ffff);
        payload.put_u32(0); // associated-to stream
        payload.put_u16(0); // priority 0, slot 0
        self.stored(&mut payload, &block);
        control(SYN_STREAM, 0, &payload)
    }

    /// `data` as the next piece of the zlib stream: the zlib header first (deflate, 32 KiB window,
    /// no dictionary, check bits valid), then non-final stored blocks, then the empty stored block
    /// of a sync flush. The flush is what makes an inflater hand the block's bytes out: Go's
    /// inflater otherwise looks for the next block past the frame's end and fails for good.
    fn stored(&mut self, out: &mut Vec<u8>, data: &[u8]) {
        if !self.started {
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for piece in data.chunks(0xffff).chain(std::iter::once(&[][..])) {
            let len = u16::try_from(piece.len()).expect("chunked to 64 KiB");
            out.put_u8(0); // BFINAL=0, BTYPE=00 (stored), padded to the byte
            out.put_u16_le(len);
            out.put_u16_le(!len);
            out.extend_from_slice(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_frames_round_trip() {
        let mut buf = BytesMut::from(&data(5, b"hello", true)[..]);
        buf.extend_from_slice(&data(7, b"", false));
        buf.extend_from_slice(&[0x80, 0x03]); // a partial next frame waits for more
        let first = parse(&mut buf).unwrap().unwrap();
        assert_eq!(first, Frame::Data { stream: 5, fin: true, data: Bytes::from_static(b"hello") });
        assert_eq!(parse(&mut buf).unwrap().unwrap(), Frame::Data { stream: 7, fin: false, data: Bytes::new() });
        assert_eq!(parse(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn control_frames_parse_with_their_stream() {
        let mut reply = Vec::new();
        reply.put_u32(3);
        reply.extend_from_slice(&[1, 2, 3]);
        let mut buf = BytesMut::from(&control(SYN_REPLY, 0, &reply)[..]);
        buf.extend_from_slice(&ping_reply(&[0, 0, 0, 9]));
        let syn = parse(&mut buf).unwrap().unwrap();
        assert_eq!(syn.control_stream(), Some(3));
        let ping = parse(&mut buf).unwrap().unwrap();
        assert_eq!(ping, Frame::Control { kind: PING, flags: 0, payload: Bytes::from_static(&[0, 0, 0, 9]) });
        assert_eq!(ping.control_stream(), None);
    }

    #[test]
    fn oversized_and_foreign_frames_are_refused() {
        let mut huge = BytesMut::from(&[0u8, 0, 0, 1, 0, 0xff, 0xff, 0xff][..]);
        assert!(parse(&mut huge).is_err());
        let mut v2 = BytesMut::from(&[0x80u8, 2, 0, 6, 0, 0, 0, 0][..]);
        assert!(parse(&mut v2).is_err());
    }

    #[test]
    fn header_blocks_are_one_stored_zlib_stream() {
        let mut writer = HeaderWriter::default();
        let first = writer.syn_stream(1, &[("streamtype", "error")]);
        let second = writer.syn_stream(3, &[("streamtype", "stdin")]);
        // control header (8) + stream ids and priority (10), then the zlib stream.
        let z1 = &first[18..];
        assert_eq!(&z1[..2], &[0x78, 0x01]);
        assert_eq!(u16::from_be_bytes([0x78, 0x01]) % 31, 0, "zlib header check bits");
        let block_len = u16::from_le_bytes([z1[3], z1[4]]);
        assert_eq!(u16::from_le_bytes([z1[5], z1[6]]), !block_len);
        let (block, flush) = z1[7..].split_at(usize::from(block_len));
        assert_eq!(&block[..4], &1u32.to_be_bytes());
        assert_eq!(&block[8..18], b"streamtype");
        assert_eq!(flush, &[0, 0, 0, 0xff, 0xff], "the sync flush's empty stored block ends each header block");
        // The second block continues the stream: no zlib header again.
        assert_eq!(second[18], 0);
        let mut buf = BytesMut::from(&second[..]);
        match parse(&mut buf).unwrap().unwrap() {
            Frame::Control { kind, payload, .. } => {
                assert_eq!(kind, SYN_STREAM);
                assert_eq!(&payload[..4], &3u32.to_be_bytes());
            }
            other => panic!("not a control frame: {other:?}"),
        }
    }
}
