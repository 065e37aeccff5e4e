//! The wall clock burnt into test video as a bar code, so a player's glass-to-glass latency can
//! be read off the picture it shows: latency = the reader's clock - the clock in the frame.
//!
//! Owns: the ffmpeg filter chain that draws the bar (and a caption for humans), the bit layout,
//! and the Rust reader of the bar (from raw RGB frames and PNG screenshots). The page's reader
//! is `window.srtrelayReadClock` in `src/playback/page/player.html`; the two must agree on the
//! layout below, and tests/browser_harness.rs checks both against ffmpeg's output.
//! Must not: depend on anything but ffmpeg's stock filters (`settb`, `setpts`, `drawbox`,
//! `drawtext`).
//!
//! # Layout
//! For a frame W px wide the block is b = W/40 px, square (16 px at 640x360: one x264
//! macroblock, so the bar survives a modest bitrate with `-tune zerolatency`). Two rows of 32
//! blocks start at (4b, 3b) and (4b, 4b), on a black quiet zone of b/2 around them (below
//! testsrc2's own time display, which stays readable for humans). Each row is
//! `white guard, black guard, 28 data blocks, black guard, white guard`: the guards give the
//! reader its white and black levels. The 56 data blocks, row 0 then row 1, left to right, are
//! bits MSB first (white = 1): 48 bits of Unix time in milliseconds, then 8 check bits, the XOR
//! of the time's six bytes. A frame caught mid-change, scaled or blurred badly enough to flip a
//! bit is rejected by the check instead of read as a wrong time.
//!
//! # Which clock
//! [`Clock::Wall`] burns `RTCTIME` (the system clock, `gettimeofday`) at the moment the frame
//! passes the filter: with `-re` that is when the frame is released, i.e. "captured", so the
//! latency includes encoding, the relay and the player. ffmpeg's start-up time does not count
//! (a start time passed on the command line would have included it). [`Clock::From`] burns a
//! fixed start plus the frame's index over the frame rate: deterministic, for the round-trip
//! test. Either way the chain ends by renumbering the frames `N / fps`, so the output has
//! ordinary timestamps starting at zero.

use std::path::{Path, PathBuf};

use super::image::{RgbImage, luma};

/// Blocks across the frame (the block size is the frame width over this).
pub const FRAME_BLOCKS: u32 = 40;
/// Where the bar starts, in blocks from the frame's left and top edge.
const BAR_X: u32 = 4;
const BAR_Y: u32 = 3;
/// Blocks per row: 2 guards, 28 data, 2 guards.
const ROW_BLOCKS: u32 = 32;
const ROWS: u32 = 2;
const DATA_PER_ROW: usize = 28;
/// Bits of milliseconds: 2^48 ms is 8900 years.
const VALUE_BITS: usize = 48;
const CHECK_BITS: usize = 8;
pub const DATA_BITS: usize = VALUE_BITS + CHECK_BITS;
/// The reader gives up below this difference between the white and black guards (0..=255): no
/// bar there, or a picture too washed out to trust.
const MIN_CONTRAST: u32 = 64;

/// The font for the human-readable caption (Debian `fonts-dejavu-core`, which scripts/test.sh
/// installs). The caption is for people looking at screenshots; the bar does not need it.
pub const CAPTION_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf";

/// The time a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The system clock when the frame passes the filter (use with `-re`: live capture).
    Wall,
    /// `start_ms + index * 1000 / fps`: known in advance, for checking the reader.
    From { start_ms: u64 },
}

/// A test picture with the clock bar: geometry, rate, clock.
#[derive(Clone, Copy, Debug)]
pub struct ClockBar {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub clock: Clock,
}

impl ClockBar {
    /// 640x360 at 25 fps, wall clock: small enough for two busy cores, blocks of 16 px.
    pub fn live() -> ClockBar {
        ClockBar {
            width: 640,
            height: 360,
            fps: 25,
            clock: Clock::Wall,
        }
    }

    /// The lavfi source to feed the filter: `-f lavfi -i <source>`. testsrc2 has the six
    /// saturated bars `image::shows_test_pattern` looks for, and moving parts (a frozen
    /// picture shows as a stuck clock, not as a pattern that looks fine).
    pub fn source(&self) -> String {
        format!("testsrc2=s={}x{}:r={}", self.width, self.height, self.fps)
    }

    /// The `-vf` chain: clock into the timestamps, the bar, the caption (if the font exists),
    /// then ordinary timestamps again.
    pub fn filter(&self) -> String {
        assert!(
            self.width.is_multiple_of(FRAME_BLOCKS * 2)
                && self.height >= (BAR_Y + ROWS + 1) * self.block(),
            "clock bar needs a width that is a multiple of {} (even blocks) and room for it: {}x{}",
            FRAME_BLOCKS * 2,
            self.width,
            self.height
        );
        // With time base 1 ms the frame's `t` is the clock in seconds and `t*1000` the
        // milliseconds (exact: doubles hold 2^53, and round() absorbs the /1000 *1000).
        let clock = match self.clock {
            Clock::Wall => "setpts=RTCTIME/1000".to_owned(),
            Clock::From { start_ms } => format!("setpts={start_ms}+N*1000/{}", self.fps),
        };
        let mut chain = vec!["settb=1/1000".to_owned(), clock];
        chain.extend(self.boxes());
        if Path::new(CAPTION_FONT).exists() {
            chain.push(self.caption());
        }
        chain.push(format!("setpts=N*1000/{}", self.fps));
        chain.join(",")
    }

    /// ffmpeg's arguments from the inputs to the encoders, for a live publisher: `-re` test
    /// pattern with the bar and a 440 Hz tone, H.264 (x264 `veryfast`, `zerolatency`: no
    /// B-frames or lookahead, the frame leaves the encoder at once) with a keyframe every
    /// second exactly (`-sc_threshold 0`: 1 s HLS segments, 1 s join delay at a relay) at
    /// 800 kbit/s, AAC. The caller adds `-f <format> <output>`.
    pub fn publisher_args(&self) -> Vec<String> {
        let fps = self.fps.to_string();
        let mut args: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "warning"]
            .map(String::from)
            .to_vec();
        args.extend(["-re", "-f", "lavfi", "-i"].map(String::from));
        args.push(self.source());
        args.extend(["-re", "-f", "lavfi", "-i"].map(String::from));
        args.push("sine=frequency=440:sample_rate=48000".into());
        args.extend(["-vf".into(), self.filter()]);
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-g",
                &fps,
                "-keyint_min",
                &fps,
                "-sc_threshold",
                "0",
                "-b:v",
                "800k",
                "-maxrate",
                "800k",
                "-bufsize",
                "800k",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
            ]
            .map(String::from),
        );
        args
    }

    /// Block size in frame pixels.
    pub fn block(&self) -> u32 {
        self.width / FRAME_BLOCKS
    }

    fn boxes(&self) -> Vec<String> {
        let b = self.block();
        let (x0, y0) = (BAR_X * b, BAR_Y * b);
        let draw = |col: u32, row: u32, enable: Option<String>| {
            let mut s = format!(
                "drawbox=x={}:y={}:w={b}:h={b}:color=white:t=fill",
                x0 + col * b,
                y0 + row * b
            );
            if let Some(e) = enable {
                // Quoted for the filtergraph; `\,` for the option parser inside it.
                s.push_str(&format!(":enable='{e}'"));
            }
            s
        };
        let mut out = vec![format!(
            "drawbox=x={}:y={}:w={}:h={}:color=black:t=fill",
            x0 - b / 2,
            y0 - b / 2,
            ROW_BLOCKS * b + b,
            ROWS * b + b
        )];
        for row in 0..ROWS {
            out.push(draw(0, row, None));
            out.push(draw(ROW_BLOCKS - 1, row, None));
            for n in 0..DATA_PER_ROW {
                let bit = row as usize * DATA_PER_ROW + n;
                out.push(draw(2 + n as u32, row, Some(bit_expr(bit))));
            }
        }
        out
    }

    /// `HH:MM:SS.mmm UTC` of the burnt-in clock at the bottom, for people; drawn while `t` is
    /// still the clock. Three levels of escaping: drawtext's `%{..:..}` arguments (`\:`), the
    /// filter's option list (`\\` and `\:` once more), the filtergraph (single quotes).
    fn caption(&self) -> String {
        let size = self.block() * 3 / 2;
        format!(
            "drawtext=fontfile={CAPTION_FONT}:fontsize={size}:fontcolor=white:box=1:\
             boxcolor=black@0.6:boxborderw=6:x=(w-tw)/2:y=h-th-{b}:\
             text='%{{pts\\:gmtime\\:0\\:%H\\\\\\:%M\\\\\\:%S}}.\
             %{{eif\\:mod(round(t*1000),1000)\\:d\\:3}} UTC'",
            b = self.block()
        )
    }
}

/// The `enable` expression for data bit `bit` (0 = the first block): 1 draws white. Commas are
/// escaped for the option parser (the filtergraph level is quoted by the caller).
fn bit_expr(bit: usize) -> String {
    const V: &str = "round(t*1000)";
    if bit < VALUE_BITS {
        let k = VALUE_BITS - 1 - bit;
        return format!("mod(floor({V}/pow(2\\,{k}))\\,2)");
    }
    // Check bit j is the parity of bit j of each of the six bytes: the sum of
    // floor(V / 2^(8m + j)) has the same parity as the sum of those bits (sums < 2^44: exact).
    let j = CHECK_BITS - 1 - (bit - VALUE_BITS);
    let terms: Vec<String> = (0..VALUE_BITS / 8)
        .map(|m| format!("floor({V}/pow(2\\,{}))", 8 * m + j))
        .collect();
    format!("mod({}\\,2)", terms.join("+"))
}

/// The 56 blocks for `ms` (true = white), in reading order.
pub fn encode_bits(ms: u64) -> [bool; DATA_BITS] {
    assert!(ms < 1 << VALUE_BITS, "{ms} ms does not fit 48 bits");
    let check = check_byte(ms);
    let mut bits = [false; DATA_BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        *bit = if i < VALUE_BITS {
            ms >> (VALUE_BITS - 1 - i) & 1 == 1
        } else {
            check >> (DATA_BITS - 1 - i) & 1 == 1
        };
    }
    bits
}

/// The milliseconds in `bits`, or `None` if the check bits disagree.
pub fn decode_bits(bits: &[bool; DATA_BITS]) -> Option<u64> {
    let word = |range: std::ops::Range<usize>| {
        bits[range]
            .iter()
            .fold(0u64, |acc, &b| acc << 1 | u64::from(b))
    };
    let ms = word(0..VALUE_BITS);
    (word(VALUE_BITS..DATA_BITS) == u64::from(check_byte(ms))).then_some(ms)
}

fn check_byte(ms: u64) -> u8 {
    (0..VALUE_BITS / 8).fold(0u8, |acc, m| acc ^ (ms >> (8 * m)) as u8)
}

/// Where a video frame appears in an image, in image pixels: its left and top edge and its
/// width (the bar's layout is in blocks of width/40, so the height is not needed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub x: f64,
    pub y: f64,
    pub width: f64,
}

impl Area {
    /// The whole image is the frame (raw decoded frames).
    pub fn whole(img: &RgbImage) -> Area {
        Area {
            x: 0.0,
            y: 0.0,
            width: img.width as f64,
        }
    }
}

/// Reads the clock bar from the frame shown at `area` of `img`: the milliseconds, or why not.
/// Same rules as the page's reader: each block's mean luma over its middle half, the threshold
/// halfway between the row's guards, no block within an eighth of the contrast of the threshold.
pub fn read(img: &RgbImage, area: Area) -> Result<u64, String> {
    let b = area.width / f64::from(FRAME_BLOCKS);
    let block_luma = |col: u32, row: u32| -> Result<f64, String> {
        let x = area.x + f64::from(BAR_X + col) * b;
        let y = area.y + f64::from(BAR_Y + row) * b;
        mean_luma(
            img,
            x + b / 4.0,
            y + b / 4.0,
            x + 3.0 * b / 4.0,
            y + 3.0 * b / 4.0,
        )
    };
    let mut bits = [false; DATA_BITS];
    for row in 0..ROWS {
        let white = (block_luma(0, row)? + block_luma(ROW_BLOCKS - 1, row)?) / 2.0;
        let black = (block_luma(1, row)? + block_luma(ROW_BLOCKS - 2, row)?) / 2.0;
        let contrast = white - black;
        if contrast < f64::from(MIN_CONTRAST) {
            return Err(format!(
                "row {row}: guards white {white:.0} black {black:.0}: no bar (contrast < \
                 {MIN_CONTRAST})"
            ));
        }
        let threshold = (white + black) / 2.0;
        for n in 0..DATA_PER_ROW {
            let l = block_luma(2 + n as u32, row)?;
            if (l - threshold).abs() < contrast / 8.0 {
                return Err(format!(
                    "row {row} block {n}: luma {l:.0} too close to the threshold {threshold:.0}"
                ));
            }
            bits[row as usize * DATA_PER_ROW + n] = l > threshold;
        }
    }
    decode_bits(&bits).ok_or_else(|| "check bits do not match".to_owned())
}

/// Mean luma of the pixels whose centres lie in [x0, x1) x [y0, y1).
fn mean_luma(img: &RgbImage, x0: f64, y0: f64, x1: f64, y1: f64) -> Result<f64, String> {
    let first = |v: f64| (v - 0.5).ceil().max(0.0) as usize;
    let (xa, ya) = (first(x0), first(y0));
    let (xb, yb) = (first(x1).min(img.width), first(y1).min(img.height));
    if xa >= xb || ya >= yb {
        return Err(format!(
            "block at ({x0:.0}, {y0:.0}) is outside the {}x{} image",
            img.width, img.height
        ));
    }
    let mut sum = 0u64;
    for y in ya..yb {
        for x in xa..xb {
            sum += u64::from(luma(img.rgb(x, y)));
        }
    }
    Ok(sum as f64 / ((xb - xa) * (yb - ya)) as f64)
}

/// Reads every frame of a raw `rgb24` file (`ffmpeg ... -f rawvideo -pix_fmt rgb24`) of
/// `width` x `height`: one result per frame.
pub fn read_raw_frames(path: &Path, width: usize, height: usize) -> Vec<Result<u64, String>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let frame = width * height * 3;
    assert!(
        bytes.len().is_multiple_of(frame),
        "{}: {} bytes is not a whole number of {width}x{height} rgb24 frames",
        path.display(),
        bytes.len()
    );
    bytes
        .chunks_exact(frame)
        .map(|f| {
            let img = RgbImage::new(width, height, f.to_vec())?;
            read(&img, Area::whole(&img))
        })
        .collect()
}

/// The caption font, if installed.
pub fn caption_font() -> Option<PathBuf> {
    Some(PathBuf::from(CAPTION_FONT)).filter(|p| p.exists())
}
