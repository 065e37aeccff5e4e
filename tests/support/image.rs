//! 8-bit RGB images for the checks that look at pixels: browser screenshots (PNG), raw frames
//! ffmpeg decoded (`-f rawvideo -pix_fmt rgb24`), VLC's snapshots (PNG).
//!
//! Owns: PNG decoding to RGB (dev-dependency `png`), pixel access, and the "is this ffmpeg's
//! test pattern" check. Must not: know where an image came from.

use std::io::Cursor;

/// An 8-bit RGB image, rows top to bottom, 3 bytes a pixel.
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// `pixels` must hold exactly `width * height` RGB triples.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<RgbImage, String> {
        if pixels.len() != width * height * 3 {
            return Err(format!(
                "{} bytes is not a {width}x{height} RGB image",
                pixels.len()
            ));
        }
        Ok(RgbImage {
            width,
            height,
            pixels,
        })
    }

    /// Decodes any PNG colour type to 8-bit RGB (alpha dropped, grey and palettes expanded).
    pub fn from_png(png_bytes: &[u8]) -> Result<RgbImage, String> {
        let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .map_err(|e| format!("PNG header: {e}"))?;
        let size = reader
            .output_buffer_size()
            .ok_or("PNG too large for this machine")?;
        let mut buf = vec![0; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| format!("PNG data: {e}"))?;
        let (width, height) = (info.width as usize, info.height as usize);
        let channels = match info.color_type {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => return Err("PNG palette was not expanded".into()),
        };
        let mut pixels = Vec::with_capacity(width * height * 3);
        for row in buf.chunks(info.line_size).take(height) {
            for px in row[..width * channels].chunks_exact(channels) {
                if channels < 3 {
                    pixels.extend_from_slice(&[px[0], px[0], px[0]]);
                } else {
                    pixels.extend_from_slice(&px[..3]);
                }
            }
        }
        RgbImage::new(width, height, pixels)
    }

    /// The pixel at (x, y); panics outside the image.
    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

/// Rec. 601 luma in 0..=255, integer arithmetic: the page's decoder (player.html) computes the
/// same, so both read a block the same way.
pub fn luma([r, g, b]: [u8; 3]) -> u32 {
    (u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000
}

/// The six hues of ffmpeg's `testsrc`/`testsrc2` colour bars: red, yellow, green, cyan, blue,
/// magenta (60 degrees apart).
const HUE_NAMES: [&str; 6] = ["red", "yellow", "green", "cyan", "blue", "magenta"];
/// A hue counts when at least this share of the image shows it: testsrc2's bars are 1/7 of the
/// frame each, so even a 640x360 video in a 1280x800 screenshot gives each about 3 %.
const MIN_HUE_SHARE: f64 = 0.005;
/// How many of the six hues must be there. testsrc2 shows all six; testsrc (v1) shows a
/// rainbow with all of them too. A black, grey, blank or frozen-on-a-solid-colour picture shows
/// at most one or two; a page without video (black text on white) shows none.
const MIN_HUES: usize = 5;

/// `Ok` if the image shows ffmpeg's test pattern: several distinct saturated colours, not a
/// black, blank or single-colour picture. The error says what was seen instead.
pub fn shows_test_pattern(img: &RgbImage) -> Result<(), String> {
    let mut counts = [0usize; 6];
    let mut dark = 0usize;
    for px in img.pixels.chunks_exact(3) {
        let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
        let max = r.max(g).max(b);
        let min = r.min(g).min(b);
        if max < 40 {
            dark += 1;
        }
        // Saturated and bright enough to have a hue worth naming; codecs and scaling blur the
        // edges between bars, so only clearly coloured pixels count.
        if max < 100 || (max - min) * 10 < max * 6 {
            continue;
        }
        let hue = hue_degrees(r, g, b, max, min);
        counts[((hue + 30.0) / 60.0) as usize % 6] += 1;
    }
    let total = (img.width * img.height).max(1) as f64;
    let seen: Vec<String> = counts
        .iter()
        .zip(HUE_NAMES)
        .filter(|(n, _)| **n as f64 / total >= MIN_HUE_SHARE)
        .map(|(n, name)| format!("{name} {:.1}%", *n as f64 * 100.0 / total))
        .collect();
    if seen.len() >= MIN_HUES {
        return Ok(());
    }
    Err(format!(
        "no test pattern in the {}x{} image: {} of 6 bar colours (need {MIN_HUES}): [{}]; \
         {:.1}% of it is dark",
        img.width,
        img.height,
        seen.len(),
        seen.join(", "),
        dark as f64 * 100.0 / total
    ))
}

fn hue_degrees(r: i32, g: i32, b: i32, max: i32, min: i32) -> f64 {
    let d = f64::from(max - min);
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let h = if max as f64 == r {
        (g - b) / d
    } else if max as f64 == g {
        2.0 + (b - r) / d
    } else {
        4.0 + (r - g) / d
    };
    (h * 60.0).rem_euclid(360.0)
}
