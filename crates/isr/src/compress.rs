//! The native half of store-time compression: making the representations isr-core's
//! [`isr_core::compression::to_make`] asks for (brotli, zstd, gzip), and decoding an origin
//! body that came compressed although identity was asked for. Both run on tokio's blocking
//! pool ([`off_the_runtime`]): a 100 KB page takes milliseconds, which must not stall the
//! threads that answer hits.
//!
//! Invariants:
//! - Decoding never yields more than its limit: a body that would (a decompression bomb,
//!   or just a page too large to store) is refused once the limit is passed, without
//!   holding more than the limit plus one read buffer.
//! - A compressor that fails costs its representation only: the page is stored with the
//!   others, or as identity alone, never lost.

use std::io::{self, Read, Write};

use bytes::Bytes;
use isr_core::coding::Coding;
use isr_core::compression::Compression;

/// Why an origin body could not be decoded to identity.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// Decoded, it is larger than may be stored.
    #[error("decoded, the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit it passed.
        limit: u64,
    },
    /// The bytes are not what the coding says.
    #[error("the body does not decode as {coding}: {source}")]
    Corrupt {
        /// The coding named by `Content-Encoding`.
        coding: &'static str,
        /// What the decoder said.
        #[source]
        source: io::Error,
    },
    /// The blocking task that decoded was lost (it panicked).
    #[error("the decoding task was lost")]
    Lost,
}

/// Run `work` on the blocking pool; `None` if it panicked.
pub(crate) async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}

/// Undo `codings` (in the order `Content-Encoding` lists them, so undone last first),
/// yielding at most `limit` bytes.
pub(crate) fn decode(codings: &[Coding], body: Bytes, limit: u64) -> Result<Bytes, DecodeError> {
    let mut body = body;
    for &coding in codings.iter().rev() {
        body = decode_one(coding, &body, limit)?;
    }
    Ok(body)
}

fn decode_one(coding: Coding, coded: &[u8], limit: u64) -> Result<Bytes, DecodeError> {
    let corrupt = |source| DecodeError::Corrupt {
        coding: coding.as_str(),
        source,
    };
    let decoded = match coding {
        Coding::Br => read_limited(brotli::Decompressor::new(coded, 4096), limit),
        Coding::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(coded).map_err(corrupt)?;
            read_limited(decoder, limit)
        }
        Coding::Gzip => read_limited(flate2::read::MultiGzDecoder::new(coded), limit),
        // RFC 9110's "deflate" is zlib-wrapped; some servers send raw deflate instead.
        Coding::Deflate => read_limited(flate2::read::ZlibDecoder::new(coded), limit).or_else(
            |error| match error {
                Limited::Io(_) => read_limited(flate2::read::DeflateDecoder::new(coded), limit),
                too_large @ Limited::TooLarge => Err(too_large),
            },
        ),
    };
    match decoded {
        Ok(bytes) => Ok(Bytes::from(bytes)),
        Err(Limited::TooLarge) => Err(DecodeError::TooLarge { limit }),
        Err(Limited::Io(error)) => Err(corrupt(error)),
    }
}

enum Limited {
    TooLarge,
    Io(io::Error),
}

/// Everything `reader` yields, unless that is more than `limit` bytes.
fn read_limited(reader: impl Read, limit: u64) -> Result<Vec<u8>, Limited> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(Limited::Io)?;
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > limit {
        return Err(Limited::TooLarge);
    }
    Ok(out)
}

/// `identity` in each coding of `plan`; a coding whose compressor fails is left out (and
/// logged, naming `path`).
pub(crate) fn compress(identity: &[u8], plan: &[Compression], path: &str) -> Vec<(Coding, Bytes)> {
    plan.iter()
        .filter_map(
            |&Compression { coding, level }| match compress_one(coding, level, identity) {
                Ok(bytes) => Some((coding, Bytes::from(bytes))),
                Err(error) => {
                    tracing::warn!(%error, path, coding = coding.as_str(), "compression failed; storing the page without it");
                    None
                }
            },
        )
        .collect()
}

fn compress_one(coding: Coding, level: u32, identity: &[u8]) -> io::Result<Vec<u8>> {
    match coding {
        Coding::Br => {
            let mut writer = brotli::CompressorWriter::new(
                Vec::with_capacity(identity.len() / 4),
                4096,
                level,
                brotli_window_bits(identity.len()),
            );
            writer.write_all(identity)?;
            writer.flush()?;
            Ok(writer.into_inner())
        }
        Coding::Zstd => {
            let level = i32::try_from(level).map_err(io::Error::other)?;
            zstd::bulk::compress(identity, level)
        }
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(identity.len() / 4),
                flate2::Compression::new(level),
            );
            encoder.write_all(identity)?;
            encoder.finish()
        }
        Coding::Deflate => Err(io::Error::other("isr does not make deflate")),
    }
}

/// The smallest brotli window that holds the whole page (`lgwin`, 10 to 22 bits here; the
/// window is `2^lgwin - 16` bytes). A larger one compresses no better, and makes the
/// encoder allocate buffers for the whole window (4 MiB at 22 bits) for every page.
fn brotli_window_bits(len: usize) -> u32 {
    len.saturating_add(16)
        .checked_next_power_of_two()
        .map_or(22, |window| window.trailing_zeros().clamp(10, 22))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Vec<u8> {
        "<li>an item of a list that repeats, as pages do</li>\n"
            .repeat(400)
            .into_bytes()
    }

    #[test]
    fn every_made_coding_decodes_back_to_the_page() {
        let page = page();
        let plan = [
            Compression {
                coding: Coding::Br,
                level: 6,
            },
            Compression {
                coding: Coding::Zstd,
                level: 9,
            },
            Compression {
                coding: Coding::Gzip,
                level: 6,
            },
        ];
        let made = compress(&page, &plan, "/p");
        assert_eq!(made.len(), 3);
        for (coding, body) in made {
            assert!(body.len() < page.len() / 10, "{coding:?}: {}", body.len());
            let decoded = decode(&[coding], body, 1 << 20).unwrap();
            assert_eq!(decoded.as_ref(), page.as_slice(), "{coding:?}");
        }
    }

    #[test]
    fn stacked_and_deflate_codings_decode_in_reverse() {
        let page = page();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(&page).unwrap();
        let zlib = zlib.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(&page).unwrap();
        let raw = raw.finish().unwrap();
        for deflated in [zlib, raw] {
            let decoded = decode(&[Coding::Deflate], Bytes::from(deflated), 1 << 20).unwrap();
            assert_eq!(decoded.as_ref(), page.as_slice());
        }
        let gzipped = compress(
            &page,
            &[Compression {
                coding: Coding::Gzip,
                level: 1,
            }],
            "/p",
        );
        let twice = compress(
            &gzipped[0].1,
            &[Compression {
                coding: Coding::Br,
                level: 1,
            }],
            "/p",
        );
        let decoded = decode(&[Coding::Gzip, Coding::Br], twice[0].1.clone(), 1 << 20).unwrap();
        assert_eq!(decoded.as_ref(), page.as_slice());
    }

    #[test]
    fn a_compressor_that_fails_costs_its_representation_only() {
        let page = page();
        let plan = [
            Compression {
                coding: Coding::Deflate,
                level: 6,
            },
            Compression {
                coding: Coding::Gzip,
                level: 6,
            },
        ];
        let made: Vec<Coding> = compress(&page, &plan, "/p")
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(made, [Coding::Gzip]);
    }

    #[test]
    fn the_brotli_window_is_the_smallest_that_holds_the_page() {
        assert_eq!(brotli_window_bits(0), 10);
        assert_eq!(brotli_window_bits(1_000), 10);
        assert_eq!(brotli_window_bits(1_009), 11);
        assert_eq!(brotli_window_bits(20_000), 15);
        assert_eq!(brotli_window_bits(32_752), 15);
        assert_eq!(brotli_window_bits(32_753), 16);
        assert_eq!(brotli_window_bits(100 << 20), 22);
        assert_eq!(brotli_window_bits(usize::MAX), 22);
        for len in [1_000, 20_000, 300_000] {
            let page: Vec<u8> = page().into_iter().cycle().take(len).collect();
            let plan = [Compression {
                coding: Coding::Br,
                level: 5,
            }];
            let made = compress(&page, &plan, "/p");
            let decoded = decode(&[Coding::Br], made[0].1.clone(), u64::MAX).unwrap();
            assert_eq!(&decoded[..], &page[..], "{len} bytes");
        }
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 8 << 20];
        for coding in [Coding::Br, Coding::Zstd, Coding::Gzip] {
            let made = compress(&zeros, &[Compression { coding, level: 1 }], "/p");
            let bomb = made[0].1.clone();
            assert!(bomb.len() < 64 << 10);
            assert!(matches!(
                decode(&[coding], bomb.clone(), 1 << 20),
                Err(DecodeError::TooLarge { limit: 1_048_576 })
            ));
            assert_eq!(decode(&[coding], bomb, 8 << 20).unwrap().len(), 8 << 20);
        }
    }

    #[test]
    fn a_body_that_is_not_its_coding_is_corrupt() {
        for coding in [Coding::Br, Coding::Zstd, Coding::Gzip, Coding::Deflate] {
            let result = decode(
                &[coding],
                Bytes::from_static(b"<html>not compressed</html>"),
                1 << 20,
            );
            assert!(
                matches!(result, Err(DecodeError::Corrupt { .. })),
                "{coding:?}: {result:?}"
            );
        }
    }
}
