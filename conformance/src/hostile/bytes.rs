//! Hostile bytes: a byte at a time, lines at and past the cap, forbidden bytes in every
//! field, and the ways a line can end.

use anyhow::ensure;
use herd_launcher::PlacesSpec;
use herd_protocol::MAX_LINE_BYTES;
use herd_protocol::client::Expect;

use super::{Bed, OTHER, TARGET, ensure_closed, ensure_echo, held, line_reply, rss_kib, trickle};
use crate::{Case, Ctx, eventually, time_from_now};

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub(crate) const CASES: &[Case] = &[$(Case { name: stringify!($name), run: $name }),*];
    };
}

cases!(
    slowloris_iamat,
    slowloris_whatsat,
    slowloris_invalid_line,
    slowloris_bad_hello_is_closed,
    slowloris_pipeline_in_order,
    slowloris_crowd_of_half_lines,
    line_at_cap_split_across_writes,
    line_at_cap_with_crlf,
    line_one_past_cap_closes,
    endless_line_closes_with_bounded_memory,
    iamat_at_cap_is_stored_and_flooded,
    nul_in_each_field,
    control_bytes_in_each_field,
    non_utf8_in_each_field,
    forbidden_bytes_leave_stored_location_alone,
    multibyte_client_id_round_trips,
    crlf_for_every_command,
    cr_before_crlf_is_part_of_the_line,
    lf_then_cr_starts_the_next_line,
    lone_cr_is_not_a_terminator,
    blank_crlf_lines_are_silent,
);

fn bed(ctx: &Ctx) -> anyhow::Result<Bed> {
    Bed::start(ctx, PlacesSpec::Unreachable, 1_000)
}

fn slowloris_iamat(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    trickle(
        &mut bed,
        &mut c,
        format!("IAMAT slow +10-20 {time}\n").as_bytes(),
    )?;
    let reply = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(
        reply.starts_with(&format!("AT {TARGET} "))
            && reply.ends_with(&format!(" slow +10-20 {time}\n")),
        "a trickled IAMAT gets its AT reply: {reply:?}"
    );
    bed.finish()
}

fn slowloris_whatsat(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    trickle(&mut bed, &mut c, b"WHATSAT sentinel-S01 5 3\n")?;
    let reply = String::from_utf8(c.reply(Expect::Whatsat)?)?;
    ensure!(
        reply.starts_with(&format!("AT {OTHER} ")) && reply.ends_with("}\n\n"),
        "a trickled WHATSAT gets the stored line and JSON: {reply:?}"
    );
    bed.finish()
}

fn slowloris_invalid_line(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let line = b"  IAMAT\tslow  +91+0 1 ";
    trickle(&mut bed, &mut c, &[&line[..], b"\n"].concat())?;
    ensure_echo(&line_reply(&mut c)?, line)?;
    bed.finish()
}

fn slowloris_bad_hello_is_closed(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    trickle(
        &mut bed,
        &mut c,
        format!("HELLO {OTHER} not-the-key\n").as_bytes(),
    )?;
    ensure_closed(&mut c, "a trickled HELLO with a wrong key")?;
    bed.finish()
}

fn slowloris_pipeline_in_order(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    let batch = format!("IAMAT p1 +1+1 {time}\nBOGUS\nWHATSAT p1 1 1\n\nIAMAT p2 +2+2 {time}\n");
    trickle(&mut bed, &mut c, batch.as_bytes())?;
    let first = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(first.contains(" p1 +1+1 "), "reply 1: {first:?}");
    ensure_echo(&line_reply(&mut c)?, b"BOGUS")?;
    let third = String::from_utf8(c.reply(Expect::Whatsat)?)?;
    ensure!(third.starts_with(first.trim_end()), "reply 3: {third:?}");
    let fourth = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(
        fourth.contains(" p2 +2+2 "),
        "reply 4 (the blank line is silent): {fourth:?}"
    );
    bed.finish()
}

fn slowloris_crowd_of_half_lines(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let time = time_from_now(0);
    let mut crowd = Vec::new();
    for i in 0..200 {
        let mut c = bed.connect()?;
        c.send(format!("IAMAT half{i} +5").as_bytes())?;
        crowd.push(c);
    }
    // Two hundred connections each in the middle of a line: everyone else is still served.
    bed.served()?;
    for (i, c) in crowd.iter_mut().enumerate() {
        c.send(format!("+5 {time}\n").as_bytes())?;
        let reply = String::from_utf8(line_reply(c)?)?;
        ensure!(
            reply.contains(&format!(" half{i} +5+5 ")),
            "half{i} got {reply:?}"
        );
    }
    bed.finish()
}

/// An invalid line of exactly `len` bytes (the verb is unknown, so it is echoed).
fn long_line(len: usize) -> Vec<u8> {
    let mut line = b"BOGUS ".to_vec();
    line.resize(len, b'z');
    line
}

/// Sends `bytes` in uneven pieces, as a slow network might deliver them.
fn send_in_pieces(c: &mut herd_launcher::Client, bytes: &[u8]) -> std::io::Result<()> {
    let mut rest = bytes;
    let mut size = 1;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        c.send(piece)?;
        rest = tail;
        size = size * 7 + 3;
    }
    Ok(())
}

fn line_at_cap_split_across_writes(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let line = long_line(MAX_LINE_BYTES);
    send_in_pieces(&mut c, &[&line[..], b"\n"].concat())?;
    ensure_echo(&line_reply(&mut c)?, &line)?;
    bed.served()?;
    bed.finish()
}

fn line_at_cap_with_crlf(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let line = long_line(MAX_LINE_BYTES);
    send_in_pieces(&mut c, &[&line[..], b"\r\n"].concat())?;
    ensure_echo(&line_reply(&mut c)?, &line)?;
    let reply = c.iamat("still-open", "+1+1", &time_from_now(0))?;
    ensure!(
        reply.starts_with("AT "),
        "the connection stays open: {reply:?}"
    );
    bed.finish()
}

fn line_one_past_cap_closes(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let mut c = bed.connect()?;
    // A valid command first: its reply is due before the close.
    let time = time_from_now(0);
    c.send(format!("IAMAT before-long +1+1 {time}\n").as_bytes())?;
    let _ = send_in_pieces(
        &mut c,
        &[&long_line(MAX_LINE_BYTES + 1)[..], b"\n"].concat(),
    );
    let reply = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(
        reply.contains(" before-long "),
        "the reply due before the long line: {reply:?}"
    );
    ensure_closed(&mut c, "a line one byte past the cap")?;
    bed.served()?;
    bed.finish()
}

fn endless_line_closes_with_bounded_memory(ctx: &Ctx) -> anyhow::Result<()> {
    let mut bed = bed(ctx)?;
    let before = rss_kib(&bed.herd, TARGET)?;
    let mut c = bed.connect()?;
    let chunk = vec![b'y'; 64 * 1024];
    // 64 MiB without a newline. The server must close (not only half-close) long before
    // the end, so that the writes fail: socket buffers hold a few MiB at most.
    let mut accepted = 0;
    while accepted < 64 << 20 && c.send(&chunk).is_ok() {
        accepted += chunk.len();
    }
    ensure!(
        accepted < 64 << 20,
        "the server kept reading all 64 MiB of an endless line (a half-close still reads)"
    );
    ensure_closed(&mut c, "an endless line")?;
    let after = rss_kib(&bed.herd, TARGET)?;
    ensure!(
        after < before + 16 * 1024,
        "resident memory grew from {before} KiB to {after} KiB for one endless line"
    );
    bed.served()?;
    bed.finish()
}

fn iamat_at_cap_is_stored_and_flooded(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    let fixed = format!("IAMAT  +1+1 {time}").len();
    let client = "k".repeat(MAX_LINE_BYTES - fixed);
    let line = format!("IAMAT {client} +1+1 {time}");
    ensure!(
        line.len() == MAX_LINE_BYTES,
        "test setup: {} bytes",
        line.len()
    );
    let reply = c.iamat(&client, "+1+1", &time)?;
    ensure!(
        reply.starts_with(&format!("AT {TARGET} "))
            && reply.ends_with(&format!(" {client} +1+1 {time}")),
        "an IAMAT of exactly the cap is valid: {:?}...",
        &reply[..reply.len().min(80)]
    );
    // Its AT line is longer than the cap; the neighbour must still learn it (the link
    // carries what the server itself accepted) and keep flooding afterwards.
    eventually(
        std::time::Duration::from_secs(10),
        "the neighbour learns the cap-sized client",
        || Ok(held(&bed.herd, OTHER, &client)?.as_deref() == Some(reply.as_str())),
    )?;
    bed.finish()
}

/// Sends each line and checks it is echoed as invalid, then that the connection still works.
fn all_echoed(bed: &Bed, lines: &[Vec<u8>]) -> anyhow::Result<()> {
    let mut c = bed.connect()?;
    for line in lines {
        c.send(&[&line[..], b"\n"].concat())?;
        ensure_echo(&line_reply(&mut c)?, line)?;
    }
    let reply = c.iamat("clean", "+1+1", &time_from_now(0))?;
    ensure!(
        reply.starts_with("AT "),
        "the connection stays usable: {reply:?}"
    );
    Ok(())
}

/// Each field of a valid IAMAT and WHATSAT with `bad` spliced into its middle.
fn spliced(bad: &[u8]) -> Vec<Vec<u8>> {
    let time = time_from_now(0);
    let iamat = ["IAMAT", "sentinel-S00", "+34.5-118.25", time.as_str()];
    let whatsat = ["WHATSAT", "sentinel-S00", "10", "5"];
    let mut lines = Vec::new();
    for fields in [iamat, whatsat] {
        for i in 0..fields.len() {
            let mut line = Vec::new();
            for (j, f) in fields.iter().enumerate() {
                if j > 0 {
                    line.push(b' ');
                }
                if i == j {
                    let (a, b) = f.split_at(f.len() / 2);
                    line.extend_from_slice(a.as_bytes());
                    line.extend_from_slice(bad);
                    line.extend_from_slice(b.as_bytes());
                } else {
                    line.extend_from_slice(f.as_bytes());
                }
            }
            lines.push(line);
        }
    }
    lines
}

fn nul_in_each_field(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    all_echoed(&bed, &spliced(b"\0"))?;
    bed.finish()
}

fn control_bytes_in_each_field(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut lines = Vec::new();
    // SOH, ESC, DEL, VT, FF, a lone CR, and C1 NEL (U+0085, valid UTF-8).
    for bad in [
        &b"\x01"[..],
        b"\x1b",
        b"\x7f",
        b"\x0b",
        b"\x0c",
        b"\r",
        "\u{85}".as_bytes(),
    ] {
        lines.extend(spliced(bad));
    }
    all_echoed(&bed, &lines)?;
    bed.finish()
}

fn non_utf8_in_each_field(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut lines = Vec::new();
    // A stray byte, an overlong NUL, a surrogate, a truncated sequence.
    for bad in [&b"\xff"[..], b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82"] {
        lines.extend(spliced(bad));
    }
    all_echoed(&bed, &lines)?;
    bed.finish()
}

fn forbidden_bytes_leave_stored_location_alone(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    // Newer times for a stored client, each made invalid: none may replace what is held.
    let time = time_from_now(5);
    let lines: Vec<Vec<u8>> = [&b"\0"[..], b"\x1b", b"\xff"]
        .iter()
        .map(|bad| [format!("IAMAT sentinel-S00 +9+9 {time}").as_bytes(), bad].concat())
        .collect();
    all_echoed(&bed, &lines)?;
    bed.finish()
}

fn multibyte_client_id_round_trips(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let client = "klient-ü-東京-🦀";
    let time = time_from_now(0);
    let reply = bed.connect()?.iamat(client, "+35.68-139.76", &time)?;
    ensure!(
        reply.ends_with(&format!(" {client} +35.68-139.76 {time}")),
        "UTF-8 client ids are echoed exactly: {reply:?}"
    );
    eventually(
        std::time::Duration::from_secs(10),
        "the neighbour learns the UTF-8 id",
        || Ok(held(&bed.herd, OTHER, client)?.as_deref() == Some(reply.as_str())),
    )?;
    bed.finish()
}

fn crlf_for_every_command(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    c.send(format!("IAMAT crlf +1+1 {time}\r\nWHATSAT crlf 1 1\r\nBOGUS crlf\r\n").as_bytes())?;
    let at = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(
        at.ends_with(&format!(" crlf +1+1 {time}\n")),
        "IAMAT with CRLF: {at:?}"
    );
    let whatsat = String::from_utf8(c.reply(Expect::Whatsat)?)?;
    ensure!(
        whatsat.starts_with(&at) && whatsat.ends_with("}\n\n") && !whatsat.contains('\r'),
        "WHATSAT with CRLF: {whatsat:?}"
    );
    ensure_echo(&line_reply(&mut c)?, b"BOGUS crlf")?;
    bed.finish()
}

fn cr_before_crlf_is_part_of_the_line(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let line = format!("IAMAT crcr +1+1 {}\r", time_from_now(0));
    c.send(format!("{line}\r\n").as_bytes())?;
    // Only one CR is dropped; the other is a control byte in the line.
    ensure_echo(&line_reply(&mut c)?, line.as_bytes())?;
    bed.finish()
}

fn lf_then_cr_starts_the_next_line(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    c.send(format!("IAMAT lfcr +1+1 {time}\n\rIAMAT lfcr2 +1+1 {time}\n").as_bytes())?;
    let first = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(first.contains(" lfcr +1+1 "), "first line: {first:?}");
    ensure_echo(
        &line_reply(&mut c)?,
        format!("\rIAMAT lfcr2 +1+1 {time}").as_bytes(),
    )?;
    bed.finish()
}

fn lone_cr_is_not_a_terminator(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    let line = format!("IAMAT cr1 +1+1 {time}\rIAMAT cr2 +1+1 {time}");
    c.send(format!("{line}\n").as_bytes())?;
    ensure_echo(&line_reply(&mut c)?, line.as_bytes())?;
    ensure!(
        super::held(&bed.herd, TARGET, "cr1")?.is_none(),
        "nothing before a lone CR is a command of its own"
    );
    bed.finish()
}

fn blank_crlf_lines_are_silent(ctx: &Ctx) -> anyhow::Result<()> {
    let bed = bed(ctx)?;
    let mut c = bed.connect()?;
    let time = time_from_now(0);
    c.send(format!("\r\n\r\n \t\r\n\t\n\r\nIAMAT after-blanks +1+1 {time}\r\n").as_bytes())?;
    let reply = String::from_utf8(line_reply(&mut c)?)?;
    ensure!(
        reply.starts_with(&format!("AT {TARGET} ")) && reply.contains(" after-blanks "),
        "blank lines get no reply, so the first reply is the IAMAT's: {reply:?}"
    );
    bed.finish()
}
