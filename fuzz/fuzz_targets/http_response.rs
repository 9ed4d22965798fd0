//! The places HTTP/1.1 response parser (`ResponseReader`).
//!
//! The first byte sets the piece size. The same bytes fed whole and in pieces must give the
//! same outcome (a socket decides the pieces, not the server), and a body never exceeds
//! the cap.
#![no_main]

use herd_protocol::places::MAX_BODY_BYTES;
use herd_protocol::{HttpResponse, PlacesFailure, ResponseReader};
use libfuzzer_sys::fuzz_target;

fn read(bytes: &[u8], piece: usize) -> Result<HttpResponse, PlacesFailure> {
    let mut reader = ResponseReader::new();
    for chunk in bytes.chunks(piece) {
        if let Some(response) = reader.feed(chunk)? {
            return Ok(response);
        }
    }
    reader.finish_at_eof()
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else {
        return;
    };
    let whole = read(bytes, bytes.len().max(1));
    let pieces = read(bytes, usize::from(piece % 64).max(1));
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "piece size changed the response");
            assert!(a.body.len() <= MAX_BODY_BYTES);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("whole: {whole:?}\npieces of {piece}: {pieces:?}"),
    }
});
