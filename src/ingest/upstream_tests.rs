//! Upstream URLs: every kind, every refusal and where it is, masking, and that the display
//! form of a URL without secrets parses back to the same upstream.

use super::*;

fn ok(url: &str) -> Upstream {
    match Upstream::parse(url) {
        Ok(u) => {
            if !u.has_secrets() {
                let shown = u.to_string();
                assert_eq!(Upstream::parse(&shown).as_ref(), Ok(&u), "{url} -> {shown}");
            }
            u
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

/// The refusal's part and a piece of its reason.
fn bad(url: &str, part: UrlPart, says: &str) {
    match Upstream::parse(url) {
        Err(e) => {
            assert_eq!(e.part, part, "{url}: {e}");
            assert!(e.reason.contains(says), "{url}: {e}");
        }
        Ok(u) => panic!("{url} parsed as {u}"),
    }
}

#[test]
fn http_and_https_keep_the_url_and_split_the_request() {
    let u = ok("http://10.0.0.5/news.ts");
    assert_eq!(
        u,
        Upstream::Http {
            url: "http://10.0.0.5/news.ts".into(),
            host: "10.0.0.5".into(),
            port: 80,
            path_and_query: "/news.ts".into(),
            tls: false,
        }
    );
    assert_eq!(u.kind(), "http");
    let Upstream::Http {
        host,
        port,
        path_and_query,
        tls,
        ..
    } = ok("HTTPS://cdn.example.com:8443/live/a.ts?x=1&y=2#frag")
    else {
        panic!("not http")
    };
    assert_eq!((host.as_str(), port, tls), ("cdn.example.com", 8443, true));
    assert_eq!(
        path_and_query, "/live/a.ts?x=1&y=2",
        "the fragment is not sent"
    );
    let Upstream::Http {
        host,
        port,
        path_and_query,
        ..
    } = ok("https://[2001:db8::1]?a")
    else {
        panic!("not http")
    };
    assert_eq!((host.as_str(), port), ("2001:db8::1", 443));
    assert_eq!(path_and_query, "/?a");
}

#[test]
fn tcp_takes_names_and_ip_literals() {
    assert_eq!(
        ok("tcp://10.0.0.6:9000"),
        Upstream::Tcp(HostPort {
            host: "10.0.0.6".into(),
            port: 9000
        })
    );
    assert_eq!(ok("tcp://[::1]:9000/").to_string(), "tcp://[::1]:9000");
    assert_eq!(ok("tcp://encoder-1.lan.:9000").kind(), "tcp");
    assert_eq!(ok("tcp://under_score.example:1").kind(), "tcp");
}

#[test]
fn udp_unicast_multicast_and_source_specific() {
    let any = ok("udp://:5000");
    assert_eq!(any.to_string(), "udp://0.0.0.0:5000");
    assert_eq!(ok("udp://@:5000"), any, "VLC's @ means receive");
    assert_eq!(
        ok("udp://@239.1.1.1:5000?source=10.0.0.9&interface=192.168.1.2"),
        Upstream::Udp {
            group_or_addr: "239.1.1.1:5000".parse().unwrap(),
            source: Some("10.0.0.9".parse().unwrap()),
            interface: Some("192.168.1.2".parse().unwrap()),
        }
    );
    let v6 = ok("udp://[ff3e::1234]:5000?source=2001:db8::5");
    assert_eq!(v6.to_string(), "udp://[ff3e::1234]:5000?source=2001:db8::5");
    assert_eq!(ok("udp://10.0.0.1:5000").kind(), "udp");
}

#[test]
fn unix_file_and_stdin() {
    assert_eq!(
        ok("unix:///run/enc.sock"),
        Upstream::Unix("/run/enc.sock".into())
    );
    assert_eq!(
        ok("file:///media/my%20clip%23%3F.ts"),
        Upstream::File("/media/my clip#?.ts".into())
    );
    assert_eq!(
        ok("file://localhost/media/a.ts"),
        Upstream::File("/media/a.ts".into())
    );
    // A file name that is not UTF-8 is still a file name.
    assert_eq!(
        ok("file:///media/%FF.ts"),
        Upstream::File(PathBuf::from(OsString::from_vec(
            b"/media/\xFF.ts".to_vec()
        )))
    );
    for s in ["stdin", "-", "stdin://"] {
        assert_eq!(ok(s), Upstream::Stdin);
    }
    assert_eq!(Upstream::Stdin.to_string(), "stdin");
}

#[test]
fn srt_caller_options_and_encoded_stream_ids() {
    let u = ok(
        "srt://relay.example:9999?streamid=%23%21%3A%3Ar%3Dlive%2Fnews%2Cm%3Drequest\
                &latency=200&pbkeylen=32&passphrase=0123456789abc&mode=caller",
    );
    assert_eq!(
        u,
        Upstream::Srt {
            host: "relay.example".into(),
            port: 9999,
            stream_id: Some("#!::r=live/news,m=request".into()),
            passphrase: Some(Passphrase::new("0123456789abc").unwrap()),
            latency: Some(Duration::from_millis(200)),
            pbkeylen: Some(KeyLen::Aes256),
        }
    );
    // Written bare, the `#` is not a fragment: SRT has none.
    let bare = ok("srt://[::1]:9999/?streamid=#!::r=live/news,m=request");
    let Upstream::Srt { stream_id, .. } = &bare else {
        panic!("not srt")
    };
    assert_eq!(stream_id.as_deref(), Some("#!::r=live/news,m=request"));
    assert_eq!(
        bare.to_string(),
        "srt://[::1]:9999?streamid=%23!::r=live/news,m=request"
    );
    assert_eq!(ok("srt://1.2.3.4:1").kind(), "srt");
    assert_eq!(ok("srt://h:1?latency=0").to_string(), "srt://h:1?latency=0");
}

#[test]
fn every_refusal_names_its_part() {
    use UrlPart::*;
    let long = format!("http://h/{}", "a".repeat(MAX_URL_LEN));
    bad(&long, Url, "at most 4096");
    bad("10.0.0.5:9000", Scheme, "expected scheme://");
    bad("gopher://h/", Scheme, "not one of");
    bad("rtmp://h/live", Scheme, "[rtmp] listener");
    bad("stdin://x", Path, "nothing after");
    bad("http://h/a b.ts", Url, "percent-encoded");
    bad("http://h/\u{e9}", Url, "percent-encoded");
    bad("http://user:pw@h/", Host, "not supported");
    bad("http:///a.ts", Host, "no host");
    bad("http://h:0/", Port, "not a port");
    bad("http://h:+80/", Port, "not a port");
    bad("http://h:/", Port, "not a port");
    bad("tcp://h", Port, "a port is needed");
    bad("tcp://h:70000", Port, "not a port");
    bad("tcp://h:1/path", Path, "no path");
    bad("tcp://::1:9000", Host, "needs brackets");
    bad("tcp://[::1:9000", Host, "not closed");
    bad("tcp://[fe80::1%25eth0]:9000", Host, "zone ids");
    bad("tcp://[::1]9000", Port, "expected :port");
    bad("tcp://999.1.1.1:1", Host, "not an IPv4");
    bad("tcp://-bad.example:1", Host, "not a host name");
    bad("tcp://a..b:1", Host, "not a host name");
    bad("tcp://a/b:1", Port, "a port is needed");
    bad("udp://encoder.lan:5000", Host, "names are not resolved");
    bad("udp://239.1.1.1:5000/x", Path, "no path");
    bad(
        "udp://10.0.0.1:5000?source=10.0.0.9",
        Query,
        "needs a multicast group",
    );
    bad("udp://239.1.1.1:5000?source=2001:db8::1", Query, "family");
    bad("udp://239.1.1.1:5000?source=239.1.1.2", Query, "unicast");
    bad(
        "udp://239.1.1.1:5000?source=nope",
        Query,
        "not an IP address",
    );
    bad(
        "udp://[ff3e::1]:5000?interface=10.0.0.1",
        Query,
        "IPv4 multicast",
    );
    bad("udp://239.1.1.1:5000?interface=::1", Query, "not an IPv4");
    bad(
        "udp://239.1.1.1:5000?ttl=4",
        Query,
        "unknown option \"ttl\"",
    );
    bad("udp://239.1.1.1:5000?source", Query, "has no =value");
    bad(
        "udp://239.1.1.1:5000?source=1.1.1.1&source=1.1.1.2",
        Query,
        "twice",
    );
    bad("file://media/a.ts", Path, "absolute path");
    bad("file:///media/a.ts?x", Path, "%3F");
    bad("file:///media/%zz.ts", Path, "two hex digits");
    bad("file:///media/a%00.ts", Path, "%00");
    bad("file:///media/", Path, "directory");
    bad(&format!("unix:///{}", "s".repeat(107)), Path, "at most 107");
    bad("srt://h", Port, "a port is needed");
    bad("srt://h:1/live", Path, "no path");
    bad("srt://h:1?latency=-1", Query, "0 to 65535");
    bad("srt://h:1?latency=65536", Query, "0 to 65535");
    bad(
        "srt://h:1?pbkeylen=20&passphrase=0123456789",
        Query,
        "16, 24 or 32",
    );
    bad("srt://h:1?pbkeylen=16", Query, "needs a passphrase");
    bad("srt://h:1?passphrase=short", Query, "10 to 79");
    bad("srt://h:1?mode=listener", Query, "not supported");
    bad("srt://h:1?streamid=", Query, "1 to 512");
    bad(
        &format!("srt://h:1?streamid={}", "x".repeat(513)),
        Query,
        "1 to 512",
    );
    bad("srt://h:1?streamid=%FF", Query, "not UTF-8");
    bad("srt://h:1?streamid=%2", Query, "two hex digits");
    bad("srt://h:1?latncy=1", Query, "known: streamid");
}

#[test]
fn refusals_do_not_quote_secrets() {
    for url in [
        "srt://h:1?passphrase=tiny1",
        "srt://h:1?passphrase=tiny1&passphrase=tiny1",
        "srt://h:1?secrettoken123456",
        "udp://239.1.1.1:1?mytoken=supersecretvalue",
    ] {
        let e = Upstream::parse(url).unwrap_err().to_string();
        for secret in ["tiny1", "secrettoken123456", "supersecretvalue"] {
            assert!(!e.contains(secret), "{url}: {e}");
        }
    }
}

#[test]
fn display_and_debug_mask_secrets() {
    let u = ok("https://cdn.example/a.ts?token=abc123&user=me&sig=zz#s=frag");
    assert!(u.has_secrets());
    let shown = u.to_string();
    assert_eq!(
        shown,
        "https://cdn.example/a.ts?token=***&user=me&sig=***#s=***"
    );
    assert_eq!(format!("{u:?}"), format!("Upstream({shown})"));
    let u = ok("srt://h:1?streamid=%23!::r=live/a,s=session-42&passphrase=0123456789xyz");
    let shown = format!("{u} {u:?}");
    for secret in ["session-42", "0123456789xyz"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.starts_with("srt://h:1?streamid=%23!::r=live/a,s=***&passphrase=***"),
        "{shown}"
    );
    assert!(!ok("srt://h:1?streamid=live/a").has_secrets());
    assert!(!ok("http://h/a.ts?x=1").has_secrets());
}
